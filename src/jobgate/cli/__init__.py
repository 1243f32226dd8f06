"""The ``jobgate`` console script."""
