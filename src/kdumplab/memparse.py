"""The kernel's ``memparse()`` (lib/cmdline.c) on top of ``simple_strtoull(.., 0)`` (lib/vsprintf.c,
lib/kstrtox.c), per generation.

A memory value is an integer in C auto radix (``0x``/``0X`` + at least one hex digit = hex, a leading
``0`` = octal, otherwise decimal; digits are consumed while valid for the radix, so ``08`` stops at ``8``
and in ``0x1E`` the ``E`` is a digit) followed by one optional suffix ``K M G T P E`` (case-insensitive,
2^10 .. 2^60). Nothing else is consumed: ``MB`` leaves the ``B`` for the caller.

Two flavours:

* ``WRAP`` (5.10, 6.1, 6.12): digits and the suffix shift wrap modulo 2^64, and a suffix with no digits
  before it is still consumed (value 0, the pointer moved, so callers see a value).
* ``SATURATE`` (7.2): digit overflow and shift overflow give 2^64-1, and a suffix is consumed only after
  at least one digit, so a bare suffix is "no value" (nothing consumed).

The functions work on bytes, as the kernel does; every byte they consume is ASCII.
"""

from __future__ import annotations

import enum

__all__ = ["MemparseFlavour", "U64_MAX", "memparse", "memparse_bytes", "format_memvalue"]

U64_MAX = (1 << 64) - 1

_SUFFIX_SHIFT = {ord(c): s for cs, s in (("kK", 10), ("mM", 20), ("gG", 30), ("tT", 40), ("pP", 50), ("eE", 60))
                 for c in cs}
_HEX = frozenset(b"0123456789abcdefABCDEF")


class MemparseFlavour(enum.Enum):
    """How memparse treats overflow and a suffix without digits."""

    #: lib/cmdline.c memparse in 5.10.223, 6.1.176, 6.12.107: ``ret <<= 10`` per suffix step (wraps),
    #: suffix consumed unconditionally; lib/kstrtox.c _parse_integer_limit wraps ``res * base + val``.
    WRAP = "wrap"
    #: 7.2.8: memparse counts the shift and applies it with check_shl_overflow (saturating to ULLONG_MAX)
    #: only when ``ptr != endptr``; _parse_integer_limit sets ULLONG_MAX on overflow. [upstream commit id
    #: unverified: present in Debian 7.2.8-1, absent in 6.12.107-1]
    SATURATE = "saturate"


def _digit(c: int) -> int:
    """kstrtox's digit value: 0-9, and a-f/A-F via ``c | 0x20``; 99 for anything else."""
    if 0x30 <= c <= 0x39:
        return c - 0x30
    lc = c | 0x20
    if 0x61 <= lc <= 0x66:
        return lc - 0x61 + 10
    return 99


def memparse_bytes(buf: bytes, pos: int, flavour: MemparseFlavour) -> tuple[int, int]:
    """Parse a memory value in ``buf`` at ``pos``; return ``(value, end)``. ``end == pos`` means "no value".

    Past the end of ``buf`` reads as NUL, like the C string's terminator.
    """
    n = len(buf)
    start = pos
    # _parse_integer_fixup_radix with base 0
    if pos < n and buf[pos] == 0x30:
        if pos + 2 < n and (buf[pos + 1] | 0x20) == 0x78 and buf[pos + 2] in _HEX:
            base = 16
            pos += 2
        else:
            base = 8
    else:
        base = 10
    value = 0
    saturate = flavour is MemparseFlavour.SATURATE
    while pos < n:
        d = _digit(buf[pos])
        if d >= base:
            break
        value = value * base + d
        if value > U64_MAX:
            value = U64_MAX if saturate else value & U64_MAX
        pos += 1
    shift = _SUFFIX_SHIFT.get(buf[pos], 0) if pos < n else 0
    if shift:
        if saturate:
            if pos != start:
                value = min(value << shift, U64_MAX) if value >> (64 - shift) == 0 else U64_MAX
                pos += 1
        else:
            value = (value << shift) & U64_MAX
            pos += 1
    return value, pos


def memparse(text: str | bytes, flavour: MemparseFlavour, start: int = 0) -> tuple[int, int]:
    """The kernel's memparse on ``text[start:]``: ``(value, characters consumed)``; 0 consumed = no value.

    A ``str`` is encoded as UTF-8 first; only ASCII is ever consumed, so the count is the same in both.
    """
    buf = text[start:].encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text[start:])
    value, end = memparse_bytes(buf, 0, flavour)
    return value, end


def format_memvalue(value: int, radix: int = 10, suffix: str = "") -> str:
    """Write ``value`` so memparse reads it back exactly: ``value`` must divide by the suffix's unit.

    ``radix`` 16 gives ``0x..``, 8 gives a leading ``0``, 10 plain decimal.
    """
    shift = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}[suffix.upper()]
    if value < 0 or value > U64_MAX or value % (1 << shift):
        raise ValueError(f"{value} cannot be written with suffix {suffix!r}")
    n = value >> shift
    if radix == 16:
        digits = f"0x{n:x}"
    elif radix == 8:
        digits = f"0{n:o}"
    else:
        digits = str(n)
    return digits + suffix
