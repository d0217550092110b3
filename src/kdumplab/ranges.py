"""Physical address ranges and sizes. Knows nothing of kernels.

Ranges are half-open ``[start, end)`` everywhere inside the model; inclusive ends appear only where the
kernel prints them (iomem text, log lines, JSON ``end``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kdumplab.errors import KdumplabError

__all__ = [
    "SZ_4K", "SZ_64K", "SZ_1M", "SZ_2M", "SZ_16M", "SZ_128M", "SZ_1G", "SZ_4G",
    "U64_MAX", "PhysRange", "align_up", "align_down", "parse_size", "format_size",
]

SZ_4K = 1 << 12
SZ_64K = 1 << 16
SZ_1M = 1 << 20
SZ_2M = 1 << 21
SZ_16M = 1 << 24
SZ_128M = 1 << 27
SZ_1G = 1 << 30
SZ_4G = 1 << 32
U64_MAX = (1 << 64) - 1


def align_up(value: int, align: int) -> int:
    return -(-value // align) * align


def align_down(value: int, align: int) -> int:
    return value // align * align


@dataclass(frozen=True, slots=True, order=True)
class PhysRange:
    """A physical address range ``[start, end)``."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"bad range [{self.start:#x}, {self.end:#x})")

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def last(self) -> int:
        """The inclusive end, as the kernel prints it."""
        return self.end - 1

    def contains(self, other: PhysRange) -> bool:
        return self.start <= other.start and other.end <= self.end

    def overlaps(self, other: PhysRange) -> bool:
        return self.start < other.end and other.start < self.end

    def clip(self, start: int, end: int) -> PhysRange | None:
        lo, hi = max(self.start, start), min(self.end, end)
        return PhysRange(lo, hi) if lo < hi else None

    def __str__(self) -> str:
        return f"[{self.start:#x}, {self.end:#x})"


_SIZE_RE = re.compile(r"^\s*(0x[0-9a-fA-F]+|\d+)\s*([KMGTPE]?)(i?B)?\s*$", re.IGNORECASE)
_SHIFT = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}


def parse_size(text: str, where: str = "size") -> int:
    """A size typed by a user (``8G``, ``512M``, ``0x1000``, ``4096``). Not the kernel's memparse."""
    m = _SIZE_RE.match(text)
    if not m:
        raise KdumplabError(where, f"not a size: {text!r}", "use a number with an optional K/M/G/T suffix")
    value = int(m.group(1), 0) << _SHIFT[m.group(2).upper()]
    if value > U64_MAX:
        raise KdumplabError(where, f"size {text!r} is larger than 2^64")
    return value


def format_size(value: int) -> str:
    """Bytes in the largest binary unit that divides them exactly (``512M``, ``1G``, ``100000``)."""
    for suffix, shift in (("E", 60), ("P", 50), ("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if value and value % (1 << shift) == 0:
            return f"{value >> shift}{suffix}"
    return str(value)
