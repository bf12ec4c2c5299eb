"""Reading reports: every format becomes the same document model (see `elements` and `model`)."""
