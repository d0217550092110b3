"""kdumplab: an executable, verified model of the arm64 crash-kernel reservation path."""

__version__ = "0.1.0"


def compiled() -> bool:
    """Whether the hot modules run compiled: the opt-in mypyc build (docs/fleet.md, "Compiled build") puts an
    extension module beside each one it compiles, and Python imports an extension before the ``.py`` file."""
    import os  # noqa: PLC0415 - kept out of the package's import
    from importlib.machinery import EXTENSION_SUFFIXES  # noqa: PLC0415

    return any(name.endswith(tuple(EXTENSION_SUFFIXES)) for name in os.listdir(os.path.dirname(__file__)))
