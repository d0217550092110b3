"""kdumplab: an executable, verified model of the arm64 crash-kernel reservation path."""

__version__ = "0.1.0"
