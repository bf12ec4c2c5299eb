"""peelqa's benchmark: `make bench`, or `python -m bench --help` (docs/performance.md)."""
