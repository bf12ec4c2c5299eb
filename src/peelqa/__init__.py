"""peelqa: cited answers about police inspection reports."""

__version__ = "0.1.0"
