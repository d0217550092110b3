"""Errors for bad input, and the exit codes the CLI maps them to.

A failed reservation is not an error: it is an outcome the model returns. Exceptions are only for input
that cannot be understood (a malformed TOML file, a garbage /proc/iomem line, an unknown kernel version).
"""

from __future__ import annotations

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT", "KdumplabError"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class KdumplabError(Exception):
    """Input we cannot use. ``where`` names the place ("iomem:12", "crashkernel= column 9", a file)."""

    def __init__(self, where: str, what: str, hint: str | None = None) -> None:
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what
        self.hint = hint

    def one_line(self) -> str:
        """The message as one line: embedded line breaks (a library's multi-line error) become spaces."""
        text = f"{self.where}: {self.what}"
        text = f"{text} ({self.hint})" if self.hint else text
        return " ".join(text.split()) if "\n" in text or "\r" in text else text
