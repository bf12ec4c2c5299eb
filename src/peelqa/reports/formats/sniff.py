"""What a file is, judged by its bytes rather than its name (an upload's name can say anything).

`sniff` needs the file's first bytes: SNIFF_BYTES of them tell every format apart in practice
(a Word file's `word/document.xml` entry stands near the start of its ZIP); the whole file,
when the caller has it, settles any ZIP by its central directory.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from typing import Literal

Sniffed = Literal["pdf", "html", "docx", "text"]

SNIFF_BYTES = 64 * 1024

# The WHATWG MIME-sniffing rule's HTML openers, after leading whitespace.
_HTML_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*"
    rb"<(?:!doctype\s+html|html|head|body|script|iframe|h1|div|font|table|a|style|title|b|br|p|"
    rb"meta|link|main|article|section|nav|header)(?=[\s>/])",
    re.IGNORECASE | re.DOTALL,
)
# Control characters that plain text does not hold (tab, LF, FF, CR and ESC excepted).
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")


def sniff(head: bytes) -> Sniffed | None:
    """pdf, docx, html or text; None for anything else (an image, a spreadsheet, a binary)."""
    if not head:
        return None
    # Readers accept junk before the header within the first KiB, as Acrobat does.
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "docx" if _is_docx(head) else None
    body = head.removeprefix(b"\xef\xbb\xbf")
    if _CONTROL.search(body) or not _utf8(body):
        return None
    if _HTML_START.match(body[:2048]):
        return "html"
    return "text"


def _is_docx(head: bytes) -> bool:
    """A Word document is a ZIP with a word/document.xml part. Each local entry header names
    its part in the clear, so the head of the file shows it; a whole file is opened instead."""
    try:
        with zipfile.ZipFile(io.BytesIO(head)) as z:
            return "word/document.xml" in z.namelist()
    except zipfile.BadZipFile:
        pass
    return b"word/document.xml" in head and b"[Content_Types].xml" in head


def _utf8(data: bytes) -> bool:
    """UTF-8 throughout; a head cut mid-character at its end still counts."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True
