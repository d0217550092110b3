"""The ``crashkernel=`` command-line grammar (kernel/crash_core.c, later kernel/crash_reserve.c), per generation.

What the kernel does, in every generation read (Debian 5.10.223, 6.1.176, 6.12.107, 7.2.8):

* ``boot_command_line`` is searched for the **substring** ``crashkernel=`` (``xcrashkernel=`` matches too;
  matches may overlap). Each match's token runs to the next space byte (only ``' '``, not tabs) or the end.
* A token is put in a class by its last bytes: ends in ``,high``, ``,low`` (7.2: ``,cma``) or "plain".
  Each lookup takes the **last** token of its class; earlier ones are ignored even when valid.
* The plain class uses the range-list grammar when a ``:`` comes before the first space after
  ``crashkernel=``, else the simple grammar ``SIZE[@OFFSET]``; suffixed classes use ``SIZE<suffix>``.
* How plain / ``,high`` / ``,low`` / ``,cma`` combine, the range-list RAM rounding, a few message texts and the
  memparse flavour differ per generation: they are the data in :class:`Grammar`.

Range lists match ``START <= RAM < END`` (start inclusive, end exclusive; an omitted END is 2^64-1).
Sizes are returned as parsed (not page-rounded). Everything here is pure: no I/O.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from typing import Final

from kdumplab.memparse import U64_MAX, MemparseFlavour, memparse_bytes
from kdumplab.ranges import SZ_128M

__all__ = [
    "Combine", "Grammar", "LogLine", "CrashRequest", "ParseResult", "GRAMMARS",
    "ARM64_5_10", "ARM64_6_1", "ARM64_6_12", "ARM64_7_2",
    "X86_64_5_10", "X86_64_6_1", "X86_64_6_12", "X86_64_7_2",
    "ARM64_PROPOSAL_2019_V5", "ARM64_PROPOSAL_2019_REVIEW",
    "parse_crashkernel", "crashkernel_tokens", "has_crashkernel_early_param", "kernel_command_line",
]

SZ_256M = 256 << 20
_NAME = b"crashkernel="
_ENOENT = "ENOENT"
_EINVAL = "EINVAL"


class Combine(enum.Enum):
    """How an arch's reserve_crashkernel combines the plain, ``,high`` and ``,low`` lookups."""

    #: arm64 5.10 (arch/arm64/mm/init.c reserve_crashkernel): plain only; failure or size 0 -> nothing.
    PLAIN_ONLY = "plain-only"
    #: arm64 6.1: ``,high`` only when the plain class is absent (-ENOENT); then ``,low`` (absent -> none,
    #: malformed -> nothing at all). Plain malformed or 0 -> nothing.
    HIGH_IF_PLAIN_ABSENT = "high-if-plain-absent"
    #: x86 5.10/6.1 (arch/x86/kernel/setup.c reserve_crashkernel): plain; if it fails *or* gives 0, ``,high``.
    #: ``,low`` is parsed later by reserve_crashkernel_low, only when the region ended up >= 4 GiB.
    HIGH_IF_PLAIN_FAILS = "high-if-plain-fails"
    #: 6.12+ generic parse_crashkernel (kernel/crash_reserve.c): ``,high`` only when plain is absent;
    #: ``,low`` absent -> arch default; then (7.2, if the arch asks) ``,cma``; then size 0 or
    #: size >= unrounded RAM -> -EINVAL, silently.
    GENERIC = "generic"
    #: proposal-2019-review (never shipped): plain only, no ``,high``; ``,low`` read next to it
    #: (absent -> no low region). [L: the design as described in shared/spec/seed-2019-review.md]
    PLAIN_WITH_LOW = "plain-with-low"


@dataclass(frozen=True, slots=True)
class Grammar:
    """One generation's ``crashkernel=`` parsing behaviour, as data."""

    arch: str
    generation: str
    memparse: MemparseFlavour
    #: suffixes that put a token in its own class (everything else is "plain")
    suffixes: tuple[str, ...]
    combine: Combine
    #: low size the reservation uses when ``,low`` is not given in high mode (None: no low region then)
    default_low_size: int | None
    #: the range-list parser rounds RAM up to this multiple before matching (0 = exact)
    range_ram_round: int
    #: warning when a range entry has no size after ':'
    msg_range_no_size: str
    #: warning when the range list's '@' has no value after it
    msg_range_at_no_value: str
    #: the arch passes a CMA pointer to parse_crashkernel (7.2 x86)
    asks_cma: bool
    #: an early_param named ``crashkernel`` sets crash_mem_map (arm64 mmu.c, 5.10/6.1)
    early_param_sets_crash_mem_map: bool
    #: COMMAND_LINE_SIZE (arch/*/include/.../asm/setup.h); the kernel keeps at most this minus 1 bytes
    command_line_size: int = 2048

    @property
    def key(self) -> tuple[str, str]:
        return (self.arch, self.generation)


# --- arm64 -------------------------------------------------------------------------------------------
ARM64_5_10 = Grammar(
    arch="arm64", generation="5.10",
    memparse=MemparseFlavour.WRAP,              # lib/cmdline.c memparse, 5.10.223
    suffixes=(",high", ",low"),                 # kernel/crash_core.c suffix_tbl
    combine=Combine.PLAIN_ONLY,                 # arch/arm64/mm/init.c reserve_crashkernel calls parse_crashkernel only
    default_low_size=None,
    range_ram_round=0,                          # parse_crashkernel_mem compares system_ram unrounded
    msg_range_no_size="Memory value expected",  # no "crashkernel: " prefix in 5.10.223
    msg_range_at_no_value="Memory value expected after '@'",
    asks_cma=False,
    early_param_sets_crash_mem_map=True,        # arch/arm64/mm/mmu.c early_param("crashkernel", enable_crash_mem_map)
)

ARM64_6_1 = Grammar(
    arch="arm64", generation="6.1",
    memparse=MemparseFlavour.WRAP,
    suffixes=(",high", ",low"),
    # upstream 5.19 "arm64: kdump: Reimplement crashkernel=X" series (with "kdump: return -ENOENT if required
    # cmdline option does not exist"); read in 6.1.176 arch/arm64/mm/init.c. [commit ids unverified]
    combine=Combine.HIGH_IF_PLAIN_ABSENT,
    default_low_size=None,                      # 6.1.176: crash_low_size stays 0 unless ,low is given
    # crash_core.c parse_crashkernel_mem: total_mem = roundup(system_ram, SZ_128M); present in 6.1.176,
    # absent in 5.10.223 [upstream commit unverified]
    range_ram_round=SZ_128M,
    msg_range_no_size="Memory value expected",
    msg_range_at_no_value="Memory value expected after '@'",
    asks_cma=False,
    early_param_sets_crash_mem_map=True,        # still in 6.1.176 arch/arm64/mm/mmu.c
)

ARM64_6_12 = Grammar(
    arch="arm64", generation="6.12",
    memparse=MemparseFlavour.WRAP,
    suffixes=(",high", ",low"),
    # upstream 6.7 "arm64: kdump: use generic interface to simplify crashkernel reservation"; read in 6.12.107
    # kernel/crash_reserve.c parse_crashkernel [commit id unverified]
    combine=Combine.GENERIC,
    default_low_size=SZ_128M,                   # include/linux/crash_reserve.h DEFAULT_CRASH_KERNEL_LOW_SIZE
    range_ram_round=SZ_128M,
    # 6.12.107 crash_reserve.c: the prefix was added and the '@' text carries the typo [commit unverified]
    msg_range_no_size="crashkernel: Memory value expected",
    msg_range_at_no_value="crahskernel: Memory value expected after '@'",
    asks_cma=False,
    # crash_mem_map gone from arch/arm64/mm/mmu.c (6.4 series "arm64: kdump: take off the protection on
    # crashkernel memory region" [unverified]); only the generic dummy early_param remains
    early_param_sets_crash_mem_map=False,
)

ARM64_7_2 = Grammar(
    arch="arm64", generation="7.2",
    memparse=MemparseFlavour.SATURATE,          # 7.2.8 lib/cmdline.c memparse [commit unverified]
    # ",cma" joins suffix_tbl with "crash: add crashkernel=size,cma" (upstream 6.17 [unverified]); 7.2.8
    suffixes=(",high", ",low", ",cma"),
    combine=Combine.GENERIC,
    default_low_size=SZ_128M,
    range_ram_round=SZ_128M,
    msg_range_no_size="crashkernel: Memory value expected",
    msg_range_at_no_value="crashkernel: Memory value expected after '@'",  # typo fixed by 7.2.8 [unverified]
    asks_cma=False,                             # 7.2.8 arch/arm64/mm/init.c passes NULL for cma_size
    early_param_sets_crash_mem_map=False,
)

# --- x86_64 ------------------------------------------------------------------------------------------
# x86 default low: max(swiotlb size + 8 MiB, 256 MiB) = 256 MiB with the default 64 MiB swiotlb
# (5.10/6.1 arch/x86/kernel/setup.c reserve_crashkernel_low; 6.12+ asm/crash_reserve.h crash_low_size_default).
# A larger swiotlb= would raise it; not modelled here.
X86_64_5_10 = Grammar(
    arch="x86_64", generation="5.10",
    memparse=MemparseFlavour.WRAP,
    suffixes=(",high", ",low"),
    combine=Combine.HIGH_IF_PLAIN_FAILS,        # 5.10.223 arch/x86/kernel/setup.c reserve_crashkernel
    default_low_size=SZ_256M,
    range_ram_round=0,
    msg_range_no_size="Memory value expected",
    msg_range_at_no_value="Memory value expected after '@'",
    asks_cma=False,
    early_param_sets_crash_mem_map=False,
)

X86_64_6_1 = Grammar(
    arch="x86_64", generation="6.1",
    memparse=MemparseFlavour.WRAP,
    suffixes=(",high", ",low"),
    combine=Combine.HIGH_IF_PLAIN_FAILS,        # unchanged in 6.1.176 arch/x86/kernel/setup.c
    default_low_size=SZ_256M,
    range_ram_round=SZ_128M,                    # shared crash_core.c, as ARM64_6_1
    msg_range_no_size="Memory value expected",
    msg_range_at_no_value="Memory value expected after '@'",
    asks_cma=False,
    early_param_sets_crash_mem_map=False,
)

X86_64_6_12 = Grammar(
    arch="x86_64", generation="6.12",
    memparse=MemparseFlavour.WRAP,
    suffixes=(",high", ",low"),
    # x86 moved to the generic reservation in 6.7 ("x86: kdump: use generic interface to simplify crashkernel
    # reservation code" [unverified]); 6.12.107 setup.c arch_reserve_crashkernel
    combine=Combine.GENERIC,
    default_low_size=SZ_256M,
    range_ram_round=SZ_128M,
    msg_range_no_size="crashkernel: Memory value expected",
    msg_range_at_no_value="crahskernel: Memory value expected after '@'",
    asks_cma=False,
    early_param_sets_crash_mem_map=False,
)

X86_64_7_2 = Grammar(
    arch="x86_64", generation="7.2",
    memparse=MemparseFlavour.SATURATE,
    suffixes=(",high", ",low", ",cma"),
    combine=Combine.GENERIC,
    default_low_size=SZ_256M,
    range_ram_round=SZ_128M,
    msg_range_no_size="crashkernel: Memory value expected",
    msg_range_at_no_value="crashkernel: Memory value expected after '@'",
    asks_cma=True,                              # 7.2.8 arch/x86/kernel/setup.c passes &cma_size
    early_param_sets_crash_mem_map=False,
)

# --- the two 2019 designs (never shipped; kdumplab.policy.proposals), written over the 5.10 parser -----
#: "arm64: kdump: support reserving crashkernel above 4G" v5: reused x86's flow (plain, then ,high when the
#: plain parse fails or gives 0; ,low or a 256 MiB default when the region lands high). [M: series not read]
ARM64_PROPOSAL_2019_V5 = replace(
    ARM64_5_10, generation="proposal-2019-v5", combine=Combine.HIGH_IF_PLAIN_FAILS, default_low_size=SZ_256M)
#: the reviewer's design: no ,high; crashkernel=Y,low next to crashkernel=X. [L]
ARM64_PROPOSAL_2019_REVIEW = replace(
    ARM64_5_10, generation="proposal-2019-review", combine=Combine.PLAIN_WITH_LOW, default_low_size=None)

GRAMMARS: dict[tuple[str, str], Grammar] = {
    g.key: g for g in (ARM64_5_10, ARM64_6_1, ARM64_6_12, ARM64_7_2,
                       X86_64_5_10, X86_64_6_1, X86_64_6_12, X86_64_7_2,
                       ARM64_PROPOSAL_2019_V5, ARM64_PROPOSAL_2019_REVIEW)
}


@dataclass(frozen=True, slots=True)
class LogLine:
    """One message as printed (no timestamp). ``level`` is "warn", "info" or "err"."""

    level: str
    text: str


@dataclass(frozen=True, slots=True)
class CrashRequest:
    """What the parse asks the reservation stage for. Sizes as parsed, not page-rounded.

    ``base`` None = automatic placement (the kernel treats ``@0`` and no ``@`` alike). ``low_size`` None =
    ``,low`` not given: the reservation applies its default (``Grammar.default_low_size``), 0 = no low region.
    ``cma_size`` is what the ``,cma`` lookup produced (only when the arch asks for it; 0 otherwise).
    """

    size: int
    base: int | None
    high: bool
    low_size: int | None
    cma_size: int = 0

    def __post_init__(self) -> None:
        for v in (self.size, self.base or 0, self.low_size or 0, self.cma_size):
            if not 0 <= v <= U64_MAX:
                raise ValueError(f"crash request value out of range: {v}")


@dataclass(frozen=True, slots=True)
class ParseResult:
    """The outcome of parsing. ``request`` None = nothing is reserved.

    ``log``: what the parser prints, in order. ``low_log``: (x86 5.10/6.1 only) what the later ``,low``
    parse prints; the kernel prints it only if the reservation reaches its low step (region >= 4 GiB).
    ``early_param``: a parameter named exactly ``crashkernel`` is on the line (kernel-spec A.9).
    ``truncated``: the line was longer than COMMAND_LINE_SIZE - 1 bytes and the kernel cut it.
    """

    request: CrashRequest | None
    log: tuple[LogLine, ...]
    reason: str
    early_param: bool
    low_log: tuple[LogLine, ...] = ()
    truncated: bool = False


# --- the command line as the kernel holds it --------------------------------------------------------

def kernel_command_line(cmdline: str, command_line_size: int = 2048) -> tuple[bytes, bool]:
    """``boot_command_line`` bytes: UTF-8, cut at a NUL (C string) and at ``command_line_size - 1`` bytes
    (drivers/of/fdt.c early_init_dt_scan_chosen and x86 setup copy with strscpy/strlcpy). Returns
    ``(bytes, truncated)``."""
    buf = cmdline.encode("utf-8", "surrogatepass")
    nul = buf.find(b"\0")
    if nul >= 0:
        buf = buf[:nul]
    limit = command_line_size - 1
    if len(buf) > limit:
        return buf[:limit], True
    return buf, False


def _show(b: bytes) -> str:
    return b.decode("utf-8", "backslashreplace")


def _char(buf: bytes, pos: int) -> str:
    """The ``%c`` of ``*cur``: one byte; non-ASCII bytes are shown as ``\\xNN``; NUL as an empty string."""
    if pos >= len(buf):
        return ""
    return _show(buf[pos:pos + 1])


def _matches(buf: bytes) -> list[tuple[int, int]]:
    """(start, end) of every token: each strstr match of ``crashkernel=`` (overlapping allowed) to the
    next space."""
    out = []
    p = buf.find(_NAME)
    while p >= 0:
        e = buf.find(b" ", p)
        out.append((p, len(buf) if e < 0 else e))
        p = buf.find(_NAME, p + 1)
    return out


def crashkernel_tokens(cmdline: str) -> tuple[str, ...]:
    """Every ``crashkernel=`` token the kernel's substring search sees, in order (after truncation to 2047
    bytes), each from ``crashkernel=`` to the next space."""
    buf, _ = kernel_command_line(cmdline)
    return tuple(_show(buf[s:e]) for s, e in _matches(buf))


def _last_token(buf: bytes, suffixes: tuple[bytes, ...], suffix: bytes | None) -> int | None:
    """get_last_crashkernel: start of the last token of the class (``suffix`` None = plain)."""
    found = _class_tokens(buf, suffixes, suffix)
    return found[-1] if found else None


def _class_tokens(buf: bytes, suffixes: tuple[bytes, ...], suffix: bytes | None) -> list[int]:
    out = []
    for s, e in _matches(buf):
        tok = buf[s:e]
        if suffix is None:
            if not any(tok.endswith(x) for x in suffixes):
                out.append(s)
        elif tok.endswith(suffix):
            out.append(s)
    return out


_SPACE = frozenset(b" \t\n\v\f\r\xa0")  # the kernel's isspace (lib/ctype.c marks 0xA0 as space)
_SPLIT = re.compile(rb"[ \t\n\v\f\r\xa0]+")


def has_crashkernel_early_param(buf: bytes) -> bool:
    """Whether parse_early_param sees a parameter named exactly ``crashkernel`` (with or without a value).

    Walks the line as lib/cmdline.c next_arg does (isspace separators, double quotes group, the name ends at
    the first ``=``) and stops at a bare ``--`` (kernel/params.c parse_args).
    """
    if b"crashkernel" not in buf:
        return False
    if b'"' not in buf:
        # no quotes: next_arg is a plain split on isspace
        for tok in _SPLIT.split(buf):
            k = tok.find(b"=", 1)
            name = tok if k < 0 else tok[:k]
            if k < 0 and tok == b"--":
                return False
            if name == b"crashkernel":
                return True
        return False
    return _early_param_walk(buf)


def _early_param_walk(buf: bytes) -> bool:
    """The general next_arg walk (quotes included) behind has_crashkernel_early_param."""
    i, n = 0, len(buf)
    while i < n and buf[i] in _SPACE:
        i += 1
    while i < n:
        quoted = buf[i] == 0x22
        if quoted:
            i += 1
        in_quote = quoted
        j, equals = i, 0
        while j < n:
            c = buf[j]
            if c in _SPACE and not in_quote:
                break
            if equals == 0 and c == 0x3D:
                equals = j - i
            if c == 0x22:
                in_quote = not in_quote
            j += 1
        if equals:
            name = buf[i:i + equals]
            has_val = True
        else:
            name = buf[i:j]
            if quoted and j > i and buf[j - 1] == 0x22:
                name = name[:-1]
            has_val = False
        if not has_val and name == b"--":
            return False
        if name == b"crashkernel":
            return True
        i = j + 1 if j < n else j
        while i < n and buf[i] in _SPACE:
            i += 1
    return False


# --- the three grammars -----------------------------------------------------------------------------

@dataclass(slots=True)
class _Sub:
    """One __parse_crashkernel call: errno-like ``ret`` ("" = 0), the size and base it wrote, its log."""

    ret: str
    size: int
    base: int
    log: list[LogLine]
    token: str
    why: str
    earlier: int = 0
    #: the line keeps this object and hands it out for every RAM (its reading does not depend on RAM), so a
    #: result made from it can be kept too (``_Line.parsed``); a reading made for one RAM only is not kept
    kept: bool = False


def _parse_simple(buf: bytes, cur: int, g: Grammar, sub: _Sub) -> None:
    size, end = memparse_bytes(buf, cur, g.memparse)
    sub.size = size
    if end == cur:
        sub.log.append(LogLine("warn", "crashkernel: memory value expected"))
        sub.ret, sub.why = _EINVAL, "has no number where the size should be"
        return
    if end < len(buf) and buf[end] == 0x40:  # '@'
        # a missing offset is not an error: memparse gives 0 = automatic; text after it is ignored
        sub.base, _ = memparse_bytes(buf, end + 1, g.memparse)
    elif end < len(buf) and buf[end] != 0x20:
        ch = _char(buf, end)
        sub.log.append(LogLine("warn", f"crashkernel: unrecognized char: {ch}"))
        sub.ret, sub.why = _EINVAL, f"has an unrecognized char {ch!r} after the size"


@dataclass(frozen=True, slots=True)
class _RangeEntry:
    """One ``START-[END]:SIZE`` of a range list (``end`` U64_MAX when omitted), and what the kernel reads after
    it when it is the entry that matches: the offset after the token's ``@`` (0: no ``@``), or
    ``offset_missing`` when that ``@`` has no value."""

    start: int
    end: int
    size: int
    offset: int
    offset_missing: bool


@dataclass(frozen=True, slots=True)
class _RangeList:
    """The last plain token in the range-list grammar, parsed as far as the kernel could read it for any RAM:
    its entries in order, and the warning and reason of the syntax error met after the last of them (None:
    the list ends there). Which entry is read, and so which error is seen, depends on RAM: :func:`_select_range`.
    """

    token: str
    earlier: int
    entries: tuple[_RangeEntry, ...]
    error: tuple[str, str] | None
    #: per entry, the reading when that entry is the one RAM matches and it gives a size and its offset: the same
    #: for every RAM that matches it, so made once (None: a size of 0, or '@' without a value)
    hits: tuple[_Sub | None, ...] = ()


def _range_offset(buf: bytes, cur: int, g: Grammar) -> tuple[int, bool]:
    """After a matching entry the kernel skips to the token's end or its ``@`` and memparses the offset there."""
    n = len(buf)
    while cur < n and buf[cur] not in (0x20, 0x40):
        cur += 1
    if cur < n and buf[cur] == 0x40:
        cur += 1
        base, tmp = memparse_bytes(buf, cur, g.memparse)
        return (0, True) if tmp == cur else (base, False)
    return 0, False


def _parse_range_list(buf: bytes, cur: int, g: Grammar, token: str, earlier: int) -> _RangeList:
    """parse_crashkernel_mem's reading of the list, entry by entry, up to its end or its first syntax error.
    The kernel stops early at the entry that matches RAM (or at a size not below RAM); everything it reads up
    to there is the same for every RAM, which is why a sweep parses the list once (:func:`_select_range`)."""
    n = len(buf)

    def at(i: int) -> int:
        return buf[i] if i < n else 0

    entries: list[_RangeEntry] = []
    error = None
    while True:
        start, tmp = memparse_bytes(buf, cur, g.memparse)
        if tmp == cur:
            error = ("crashkernel: Memory value expected", "has a range with no start value")
            break
        cur = tmp
        if at(cur) != 0x2D:  # '-'
            error = ("crashkernel: '-' expected", "has a range start not followed by '-'")
            break
        cur += 1
        end = U64_MAX
        if at(cur) != 0x3A:  # ':'
            end, tmp = memparse_bytes(buf, cur, g.memparse)
            if tmp == cur:
                error = ("crashkernel: Memory value expected", "has a range with no end value")
                break
            cur = tmp
            if end <= start:
                error = ("crashkernel: end <= start", "has a range whose end is not above its start")
                break
        if at(cur) != 0x3A:
            error = ("crashkernel: ':' expected", "has a range not followed by ':'")
            break
        cur += 1
        size, tmp = memparse_bytes(buf, cur, g.memparse)
        if tmp == cur:
            error = (g.msg_range_no_size, "has a range with no size after ':'")
            break
        cur = tmp
        entries.append(_RangeEntry(start, end, size, *_range_offset(buf, cur, g)))
        more = at(cur) == 0x2C  # ','
        cur += 1
        if not more:
            break
    hits = tuple(_Sub(ret="", size=e.size, base=e.offset, log=[], token=token, why="", earlier=earlier, kept=True)
                 if e.size > 0 and not e.offset_missing else None for e in entries)
    return _RangeList(token, earlier, tuple(entries), error, hits)


def _select_range(rl: _RangeList, ram: int, g: Grammar) -> _Sub:
    """parse_crashkernel_mem for one RAM size over a parsed list: the entries in order, each refused when its
    size is not below RAM (rounded where the generation rounds) and taken when ``START <= RAM < END``; past the
    last entry, the list's syntax error if it has one. A matching entry with a size and its offset gives the
    reading the list keeps for it (``_RangeList.hits``); every other outcome names the RAM and is made afresh.
    Equal to reading the token afresh for this RAM (tests/test_cmdline_split.py,
    test_split_parse_equals_reading_afresh)."""
    rnd = g.range_ram_round
    total = (-(-ram // rnd) * rnd if rnd else ram) & U64_MAX
    for i, e in enumerate(rl.entries):
        if e.size >= total:
            return _range_fail(rl, 0, "crashkernel: invalid size",
                               f"has a range size {e.size:#x} >= the RAM used for matching ({total:#x})")
        if e.start <= total < e.end:
            if e.size > 0:
                hit = rl.hits[i]
                if hit is not None:
                    return hit
                return _range_fail(rl, e.size, g.msg_range_at_no_value,
                                   "has '@' with no offset after the matching range")
            break
    else:
        if rl.error is not None:
            return _range_fail(rl, 0, rl.error[0], rl.error[1])
    return _Sub(ret="", size=0, base=0, log=[LogLine("info", "crashkernel size resulted in zero bytes")],
                token=rl.token, earlier=rl.earlier, why=f"has no range matching RAM {total:#x}" + (
                    f" (RAM {ram:#x} rounded up to {rnd >> 20} MiB)" if total != ram else ""))


def _range_fail(rl: _RangeList, size: int, text: str, why: str) -> _Sub:
    """A range list's -EINVAL at one RAM: the warning the kernel prints and why."""
    return _Sub(ret=_EINVAL, size=size, base=0, log=[LogLine("warn", text)], token=rl.token, why=why,
                earlier=rl.earlier)


def _parse_suffix(buf: bytes, cur: int, suffix: bytes, g: Grammar, sub: _Sub) -> None:
    size, end = memparse_bytes(buf, cur, g.memparse)
    sub.size = size
    if end == cur:
        sub.log.append(LogLine("warn", "crashkernel: memory value expected"))
        sub.ret, sub.why = _EINVAL, "has no number where the size should be"
        return
    if buf[end:end + len(suffix)] != suffix:
        ch = _char(buf, end)
        sub.log.append(LogLine("warn", f"crashkernel: unrecognized char: {ch}"))
        sub.ret, sub.why = _EINVAL, f"has an unrecognized char {ch!r} after the size"
        return
    end += len(suffix)
    if end < len(buf) and buf[end] != 0x20:
        ch = _char(buf, end)
        sub.log.append(LogLine("warn", f"crashkernel: unrecognized char: {ch}"))
        sub.ret, sub.why = _EINVAL, f"has an unrecognized char {ch!r} after {_show(suffix)}"


def _find(buf: bytes, g: Grammar, suffix: str | None) -> _Sub | _RangeList:
    """__parse_crashkernel as far as RAM does not matter: find the last token of the class and parse it (a
    plain token in the range-list grammar as a :class:`_RangeList`, which :func:`_select_range` reads)."""
    sfx = tuple(s.encode() for s in g.suffixes)
    sub = _Sub(ret="", size=0, base=0, log=[], token="", why="", kept=True)  # _Line.found keeps it
    found = _class_tokens(buf, sfx, None if suffix is None else suffix.encode())
    if not found:
        sub.ret, sub.why = _ENOENT, "is absent"
        return sub
    p = found[-1]
    sub.earlier = len(found) - 1
    e = buf.find(b" ", p)
    sub.token = _show(buf[p + len(_NAME): len(buf) if e < 0 else e])
    cur = p + len(_NAME)
    if suffix is not None:
        _parse_suffix(buf, cur, suffix.encode(), g, sub)
        return sub
    colon = buf.find(b":", cur)
    space = buf.find(b" ", cur)
    if colon >= 0 and (space < 0 or colon < space):
        return _parse_range_list(buf, cur, g, sub.token, sub.earlier)
    _parse_simple(buf, cur, g, sub)
    return sub


@dataclass(frozen=True, slots=True)
class _Line:
    """A command line as one grammar reads it, whatever the RAM: the kernel's bytes of it, whether it was cut
    (and the reason's note when that changed the tokens), whether ``crashkernel`` is an early parameter, and
    each class's last token parsed on first use (:meth:`lookup`; never changed once made)."""

    grammar: Grammar
    buf: bytes
    truncated: bool
    early: bool
    note: str
    found: dict[str | None, _Sub | _RangeList] = field(default_factory=dict)
    #: parse results by the id of the plain reading they were made from, for the readings the line keeps
    #: (``_Sub.kept``; the line holds them, so an id stays theirs): see :func:`parse_crashkernel`
    parsed: dict[int, tuple[ParseResult, _Sub | None, str]] = field(default_factory=dict)

    def lookup(self, suffix: str | None, ram: int) -> _Sub:
        """__parse_crashkernel of the class (``suffix`` None: plain) at this RAM."""
        try:
            found = self.found[suffix]
        except KeyError:
            found = self.found[suffix] = _find(self.buf, self.grammar, suffix)
        return _select_range(found, ram, self.grammar) if type(found) is _RangeList else found  # type: ignore[return-value]


def _read_line(cmdline: str, g: Grammar) -> _Line:
    buf, truncated = kernel_command_line(cmdline, g.command_line_size)
    note = ""
    if truncated:
        full = cmdline.encode("utf-8", "surrogatepass").split(b"\0", 1)[0]
        if [full[s:e] for s, e in _matches(full)] != [buf[s:e] for s, e in _matches(buf)]:
            note = f" (the command line was cut to {g.command_line_size - 1} bytes, which changed the " \
                   f"crashkernel= tokens the kernel sees)"
    return _Line(g, buf, truncated, has_crashkernel_early_param(buf), note)


#: the lines read so far, by (command line, id of the grammar); an entry holds its grammar, so the id stays its
_LINES: dict[tuple[str, int], _Line] = {}
_LINES_MAX = 1024


def _line(cmdline: str, g: Grammar) -> _Line:
    """:func:`_read_line`, remembered: a sweep asks for one line at every RAM size (keyed by the grammar's
    identity, which costs no hashing of its fields)."""
    line = _LINES.get((cmdline, id(g)))
    if line is None or line.grammar is not g:
        if len(_LINES) >= _LINES_MAX:
            _LINES.clear()
        line = _LINES[(cmdline, id(g))] = _read_line(cmdline, g)
    return line


# --- combination per generation ---------------------------------------------------------------------

#: the combinations as constants (a compiled module reads these without a look-up in the enum class)
_PLAIN_ONLY: Final = Combine.PLAIN_ONLY
_PLAIN_WITH_LOW: Final = Combine.PLAIN_WITH_LOW
_HIGH_IF_PLAIN_ABSENT: Final = Combine.HIGH_IF_PLAIN_ABSENT
_HIGH_IF_PLAIN_FAILS: Final = Combine.HIGH_IF_PLAIN_FAILS


def _desc(cls: str, sub: _Sub) -> str:
    return f"the last {cls} crashkernel= token '{sub.token}'"


def _fail_reason(cls: str, sub: _Sub) -> str:
    if sub.ret == _ENOENT:
        return f"no {cls} crashkernel= token"
    if sub.ret:
        extra = "; the earlier tokens of that class are ignored" if sub.earlier else ""
        return f"{_desc(cls, sub)} {sub.why}{extra}"
    if sub.why:
        return f"{_desc(cls, sub)} {sub.why}, so the size is 0"
    return f"{_desc(cls, sub)} gives size 0"


def _ok_reason(req: CrashRequest, cls: str, sub: _Sub, g: Grammar) -> str:
    where = "automatic placement" if req.base is None else f"fixed base {req.base:#x}"
    text = f"{_desc(cls, sub)} asks for {req.size:#x} bytes, {where}"
    if req.high:
        if req.low_size is not None:
            low = f"low size {req.low_size:#x}"
        elif g.default_low_size is None:
            low = "no low region (,low not given and this generation has no default)"
        else:
            low = f"the default low size {g.default_low_size:#x}"
        text += f", high mode with {low}"
    return text


def parse_crashkernel(cmdline: str, grammar: Grammar, system_ram: int) -> ParseResult:
    """Model of the arch's ``reserve_crashkernel`` parse step for ``grammar`` (never raises).

    ``system_ram`` is memblock_phys_mem_size() at reservation time (unrounded; range lists round it where
    the generation does). The line's syntax is read once per (line, grammar) (:class:`_Line`); only the choice
    of a range-list entry and the size checks against RAM run for each RAM.

    What depends on RAM is the plain class's reading (the entry a range list matches) and, in the generic
    parse, the chosen size against RAM; the suffix classes never read it. So the result is made once per plain
    reading the line keeps (:func:`_combine`, kept in ``_Line.parsed``) and only the size check runs per RAM;
    tests/test_cmdline_split.py compares it with a fresh reading at random RAM sizes in a row.
    """
    g = grammar
    ram = int(system_ram)
    if ram < 0:
        ram = 0
    elif ram > U64_MAX:
        ram = U64_MAX
    line = _line(cmdline, g)
    plain = line.lookup(None, ram)
    if plain.kept:
        made = line.parsed.get(id(plain))
        if made is None:
            made = line.parsed[id(plain)] = _combine(line, plain)
    else:
        made = _combine(line, plain)
    res, sized, cls = made
    if sized is not None and sized.size >= ram:  # generic parse_crashkernel: the size must be below RAM
        return ParseResult(None, res.log, f"{_desc(cls, sized)} asks for {sized.size:#x} bytes, not below the "
                           f"system RAM {ram:#x}: parse_crashkernel returns -EINVAL without a message" + line.note,
                           line.early, (), line.truncated)
    return res


def _result(line: _Line, req: CrashRequest | None, log: list[LogLine], reason: str,
            low_log: tuple[LogLine, ...] = ()) -> ParseResult:
    return ParseResult(req, tuple(log), reason + line.note, line.early, low_log, line.truncated)


def _combine(line: _Line, plain: _Sub) -> tuple[ParseResult, _Sub | None, str]:
    """How the generation combines the plain reading with the suffix classes (which never read RAM):
    (the result, the reading whose size must still be below RAM (generic parse) or None, its class)."""
    g = line.grammar
    log: list[LogLine] = list(plain.log)
    plain_ok = plain.ret == "" and plain.size > 0
    combine = g.combine

    if combine is _PLAIN_ONLY:
        if plain_ok:
            req = CrashRequest(plain.size, plain.base or None, False, None)
            return _result(line, req, log, _ok_reason(req, "plain", plain, g)), None, ""
        reason = _fail_reason("plain", plain)
        if plain.ret == _ENOENT and (_last_token(line.buf, (), b",high") is not None
                                     or _last_token(line.buf, (), b",low") is not None):
            reason = f"{g.generation} on {g.arch} does not understand ,high or ,low; {reason}"
        return _result(line, None, log, reason), None, ""

    if combine is _PLAIN_WITH_LOW:
        if not plain_ok:
            return _result(line, None, log, _fail_reason("plain", plain)), None, ""
        low = line.lookup(",low", 0)
        log += low.log
        req = CrashRequest(plain.size, plain.base or None, False, None if low.ret else low.size)
        return _result(line, req, log, _ok_reason(req, "plain", plain, g)), None, ""

    if combine is _HIGH_IF_PLAIN_ABSENT:
        if plain.ret != _ENOENT:
            if plain_ok:
                req = CrashRequest(plain.size, plain.base or None, False, None)
                return _result(line, req, log, _ok_reason(req, "plain", plain, g)), None, ""
            return _result(line, None, log, _fail_reason("plain", plain)
                           + "; a present plain token suppresses ,high"), None, ""
        high = line.lookup(",high", 0)
        log += high.log
        if high.ret or high.size == 0:
            return _result(line, None, log, f"{_fail_reason('plain', plain)} and "
                                            f"{_fail_reason(',high', high)}"), None, ""
        low = line.lookup(",low", 0)
        log += low.log
        if low.ret == _EINVAL:
            return _result(line, None, log, f"{_fail_reason(',low', low)}, which cancels the whole "
                                            f"reservation"), None, ""
        req = CrashRequest(high.size, None, True, None if low.ret == _ENOENT else low.size)
        return _result(line, req, log, _ok_reason(req, ",high", high, g)), None, ""

    if combine is _HIGH_IF_PLAIN_FAILS:
        if plain_ok:
            sub, cls, is_high = plain, "plain", False
        else:
            high = line.lookup(",high", 0)
            log += high.log
            if high.ret or high.size == 0:
                return _result(line, None, log, f"{_fail_reason('plain', plain)} and "
                                                f"{_fail_reason(',high', high)}"), None, ""
            sub, cls, is_high = high, ",high", True
        # reserve_crashkernel_low parses ,low later (with low_mem_limit as RAM; the suffix grammar ignores it)
        low = line.lookup(",low", 0)
        req = CrashRequest(sub.size, sub.base or None, is_high, None if low.ret else low.size)
        return _result(line, req, log, _ok_reason(req, cls, sub, g), tuple(low.log)), None, ""

    # Combine.GENERIC
    sub, cls, is_high, low_size = plain, "plain", False, None
    if plain.ret == _ENOENT:
        high = line.lookup(",high", 0)
        log += high.log
        if high.ret or high.size == 0:
            return _result(line, None, log, f"{_fail_reason('plain', plain)} and "
                                            f"{_fail_reason(',high', high)}"), None, ""
        low = line.lookup(",low", 0)
        log += low.log
        if low.ret == _EINVAL:
            return _result(line, None, log, f"{_fail_reason(',low', low)}, which cancels the whole "
                                            f"reservation"), None, ""
        sub, cls, is_high = high, ",high", True
        low_size = None if low.ret == _ENOENT else low.size
    cma_size = 0
    if g.asks_cma:
        cma = line.lookup(",cma", 0)
        log += cma.log
        cma_size = cma.size  # the kernel ignores this lookup's return value and keeps what memparse wrote
    if sub.ret or sub.size == 0:
        return _result(line, None, log, _fail_reason(cls, sub) + ("; a present plain token suppresses ,high"
                                                                  if cls == "plain" else "")), None, ""
    req = CrashRequest(sub.size, sub.base or None, is_high, low_size, cma_size)
    return _result(line, req, log, _ok_reason(req, cls, sub, g)), sub, cls  # the size against RAM: the caller
