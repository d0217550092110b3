"""Physical address ranges and sizes. Knows nothing of kernels.

Ranges are half-open ``[start, end)`` everywhere inside the model; inclusive ends appear only where the
kernel prints them (iomem text, log lines, JSON ``end``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Final

from kdumplab.errors import KdumplabError
from kdumplab.frozen import maker

__all__ = [
    "SZ_4K", "SZ_64K", "SZ_1M", "SZ_2M", "SZ_16M", "SZ_128M", "SZ_1G", "SZ_4G",
    "U64_MAX", "PhysRange", "align_up", "align_down", "joined", "parse_size", "parse_memory", "parse_count",
    "format_size", "iec", "iec_hex", "with_sizes",
]

SZ_4K: Final = 1 << 12
SZ_64K: Final = 1 << 16
SZ_1M: Final = 1 << 20
SZ_2M: Final = 1 << 21
SZ_16M: Final = 1 << 24
SZ_128M: Final = 1 << 27
SZ_1G: Final = 1 << 30
SZ_4G: Final = 1 << 32
U64_MAX: Final = (1 << 64) - 1


def align_up(value: int, align: int) -> int:
    return -(-value // align) * align


def align_down(value: int, align: int) -> int:
    return value // align * align


def joined(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Half-open ``[start, end)`` spans, sorted and joined where they overlap or touch (as memblock_add merges
    the same memory added twice or side by side); empty ones dropped."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(sp for sp in spans if sp[1] > sp[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


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


def _native_range(start: int, end: int) -> PhysRange:
    """``PhysRange(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = PhysRange.__new__(PhysRange)
    o.start = start  # type: ignore[misc]
    o.end = end  # type: ignore[misc]
    return o


#: ``PhysRange(start, end)`` for bounds the model made itself, known to hold ``0 <= start <= end``: the check in
#: ``__post_init__`` is not run again (kdumplab.frozen)
make_range: Final = maker(PhysRange, tuple(f.name for f in fields(PhysRange)), _native_range)


def checked_range(start: int, end: int) -> PhysRange:
    """``PhysRange(start, end)``, its check included (the class's own ``__post_init__``), by the faster road of
    :data:`make_range`: for bounds read from input (tests/test_frozen.py)."""
    r = make_range(start, end)
    r.__post_init__()
    return r


_SIZE_RE = re.compile(r"^\s*(0x[0-9a-fA-F_]{1,20}|[0-9_]{1,24})\s*([KMGTPE]?)(i?B)?\s*$", re.IGNORECASE)
_SHIFT = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}
_UNIT_HINT = "write it with a unit, e.g. 8G, 512M or 8GiB"


def _number(digits: str) -> int:
    """Hex after ``0x``, else decimal: ``08`` is eight, as a person means it (``int(x, 0)`` refuses it)."""
    d = digits.replace("_", "").lower()
    return int(d[2:], 16) if d.startswith("0x") else int(d, 10)


def parse_size(text: str, where: str = "size") -> int:
    """A size typed by a user (``8G``, ``512M``, ``0x1000``, ``4096``). Not the kernel's memparse.

    At most 20 hex or 24 decimal digits are read, so a pasted 5000-digit number is one clear error."""
    m = _SIZE_RE.match(text)
    if not m or not m.group(1).replace("_", "").lower().removeprefix("0x"):
        raise KdumplabError(where, f"not a size: {_short(text)!r}", "use a number with an optional K/M/G/T suffix")
    value = _number(m.group(1)) << _SHIFT[m.group(2).upper()]
    if value > U64_MAX:
        raise KdumplabError(where, f"size {_short(text)!r} is larger than 2^64")
    return value


def parse_memory(text: str, where: str) -> int:
    """A memory size (``--mem``, ``--numa``, a TOML size string): a unit is required, because a bare ``8``
    is 8 MiB to QEMU's ``-m`` and 8 bytes to a byte count; hex and plain numbers are refused with a hint."""
    value = parse_size(text, where)
    m = _SIZE_RE.match(text)
    if m and not m.group(2) and not m.group(3):
        raise KdumplabError(where, f"{_short(text)!r} has no unit", _UNIT_HINT)
    return value


def parse_count(text: str, where: str) -> int:
    """A plain byte count or address (``--initrd-size``): a non-negative integer, decimal or 0x hex."""
    t = text.strip().replace("_", "")
    if not re.fullmatch(r"0x[0-9a-fA-F]{1,16}|[0-9]{1,20}", t):
        raise KdumplabError(where, f"not a byte count: {_short(text)!r}", "a non-negative integer, e.g. 987889")
    value = _number(t)
    if value > U64_MAX:
        raise KdumplabError(where, f"{_short(text)!r} is larger than 2^64")
    return value


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:20] + "..." + text[-8:]


def format_size(value: int) -> str:
    """Bytes in the largest binary unit that divides them exactly (``512M``, ``1G``, ``100000``)."""
    for suffix, shift in (("E", 60), ("P", 50), ("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if value and value % (1 << shift) == 0:
            return f"{value >> shift}{suffix}"
    return str(value)


_IEC = (("EiB", 60), ("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10))


def iec(value: int) -> str:
    """Bytes for people, in IEC units: ``512 MiB``, ``8 GiB``, ``510.75 GiB``, ``4095 bytes``."""
    for unit, shift in _IEC:
        if value >= 1 << shift:
            whole, rest = divmod(value, 1 << shift)
            if not rest:
                return f"{whole} {unit}"
            text = f"{value / (1 << shift):.2f}".rstrip("0").rstrip(".")
            exact = Decimal(text) * (1 << shift) == value
            return f"{'' if exact else '~'}{text} {unit}"
    return f"{value} bytes"


def iec_hex(value: int) -> str:
    """``512 MiB (0x20000000)``: the unit for people, the hex for the kernel's own numbers."""
    return f"{iec(value)} ({value:#x})"


_SIZED = re.compile(r"(there: |size:)?\b(0x[0-9a-fA-F]{1,16})( bytes\b)?")


def with_sizes(text: str) -> str:
    """A model's reason with IEC sizes beside the hex numbers that are sizes (``0x24000000 bytes (576 MiB)``,
    ``size:0x40000000 (1 GiB)``); addresses and the hex itself stay as the kernel prints them."""
    def one(m: re.Match[str]) -> str:
        if not (m.group(1) or m.group(3)):
            return m.group(0)
        return f"{m.group(0)} ({iec(int(m.group(2), 16))})"

    return _SIZED.sub(one, text)
