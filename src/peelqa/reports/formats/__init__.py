"""One reader per published format (PDF, web page, Word), each making `Extracted` elements."""
