"""Errors for bad input, and the exit codes the CLI maps them to.

A failed reservation is not an error: it is an outcome the model returns. Exceptions are only for input
that cannot be understood (a malformed TOML file, a garbage /proc/iomem line, an unknown kernel version).
"""

from __future__ import annotations

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_BROKEN", "KdumplabError"]

#: The exit status of every command (README "Exit status"): reserved / ok
EXIT_OK = 0
#: nothing reserved (failed, or nothing asked for), or warnings only
EXIT_FAILED = 1
#: bad input: one line on stderr naming the file, line or option
EXIT_BAD_INPUT = 2
#: a region is reserved but kdump will not work (the load is refused, /proc/vmcore is unreadable, an error finding)
EXIT_BROKEN = 3


class KdumplabError(Exception):
    """Input we cannot use. ``where`` names the place ("iomem:12", "crashkernel= column 9", a file)."""

    def __init__(self, where: str, what: str, hint: str | None = None) -> None:
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what
        self.hint = hint

    def __reduce__(self) -> tuple[type[KdumplabError], tuple[str, str, str | None]]:
        """Pickle by the three arguments (Exception's own reduce passes only the message, which ``__init__``
        cannot take back): an error raised in a pool or Dask worker reaches the parent as this error."""
        return (type(self), (self.where, self.what, self.hint))

    def one_line(self) -> str:
        """The message as one line: embedded line breaks (a library's multi-line error) become spaces."""
        text = f"{self.where}: {self.what}"
        text = f"{text} ({self.hint})" if self.hint else text
        return " ".join(text.split()) if "\n" in text or "\r" in text else text
