"""Build time only: the development corpus, fitting the answer model, and measuring it.

Nothing here runs in a server: `peelqa train` and `peelqa eval` use it, and it imports
scikit-learn (for fitting) and matplotlib (for plots) only when asked.
"""
