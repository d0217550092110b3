"""crashkernel= read once per (line, grammar), the range choice per RAM (cmdline._Line, cmdline._select_range):
equal to reading the line afresh at each RAM, as parse_crashkernel did before the split.

The oracle below is the one-pass reading of a plain range-list token at one RAM (parse_crashkernel_mem of
kernel/crash_core.c 5.10.223/6.1.176 and kernel/crash_reserve.c 6.12.107/7.2.8: each entry parsed, its size
checked against RAM, the first entry with START <= RAM < END taken, then the '@' after it), kept here exactly as
src/kdumplab/cmdline.py had it before the split, as the reference the split form is checked against.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab import cmdline as cm
from kdumplab.cmdline import GRAMMARS, Grammar, LogLine, parse_crashkernel
from kdumplab.memparse import U64_MAX, memparse_bytes

M, G = 1 << 20, 1 << 30
ALL = list(GRAMMARS.values())


def _ranges_one_pass(buf: bytes, cur: int, ram: int, g: Grammar, sub: cm._Sub) -> None:
    """The pre-split reading: parse and match interleaved, stopping at the first matching entry."""
    total = -(-ram // g.range_ram_round) * g.range_ram_round if g.range_ram_round else ram
    total &= U64_MAX
    n = len(buf)

    def at(i: int) -> int:
        return buf[i] if i < n else 0

    def fail(text: str, why: str) -> None:
        sub.log.append(LogLine("warn", text))
        sub.ret, sub.why = "EINVAL", why

    while True:
        start, tmp = memparse_bytes(buf, cur, g.memparse)
        if tmp == cur:
            return fail("crashkernel: Memory value expected", "has a range with no start value")
        cur = tmp
        if at(cur) != 0x2D:
            return fail("crashkernel: '-' expected", "has a range start not followed by '-'")
        cur += 1
        end = U64_MAX
        if at(cur) != 0x3A:
            end, tmp = memparse_bytes(buf, cur, g.memparse)
            if tmp == cur:
                return fail("crashkernel: Memory value expected", "has a range with no end value")
            cur = tmp
            if end <= start:
                return fail("crashkernel: end <= start", "has a range whose end is not above its start")
        if at(cur) != 0x3A:
            return fail("crashkernel: ':' expected", "has a range not followed by ':'")
        cur += 1
        size, tmp = memparse_bytes(buf, cur, g.memparse)
        if tmp == cur:
            return fail(g.msg_range_no_size, "has a range with no size after ':'")
        cur = tmp
        if size >= total:
            return fail("crashkernel: invalid size",
                        f"has a range size {size:#x} >= the RAM used for matching ({total:#x})")
        if start <= total < end:
            sub.size = size
            break
        more = at(cur) == 0x2C
        cur += 1
        if not more:
            break
    if sub.size > 0:
        while cur < n and buf[cur] not in (0x20, 0x40):
            cur += 1
        if at(cur) == 0x40:
            cur += 1
            base, tmp = memparse_bytes(buf, cur, g.memparse)
            if tmp == cur:
                return fail(g.msg_range_at_no_value, "has '@' with no offset after the matching range")
            sub.base = base
    else:
        sub.log.append(LogLine("info", "crashkernel size resulted in zero bytes"))
        sub.why = f"has no range matching RAM {total:#x}" + (
            f" (RAM {ram:#x} rounded up to {g.range_ram_round >> 20} MiB)" if total != ram else "")


def _plain_one_pass(cmdline: str, g: Grammar, ram: int) -> cm._Sub | None:
    """The plain class's last token read at one RAM, when it is a range list (None otherwise)."""
    buf, _ = cm.kernel_command_line(cmdline, g.command_line_size)
    found = cm._class_tokens(buf, tuple(s.encode() for s in g.suffixes), None)
    if not found:
        return None
    p = found[-1]
    cur = p + len(b"crashkernel=")
    colon, space = buf.find(b":", cur), buf.find(b" ", cur)
    if not (colon >= 0 and (space < 0 or colon < space)):
        return None
    e = buf.find(b" ", p)
    sub = cm._Sub(ret="", size=0, base=0, log=[], token=cm._show(buf[cur: len(buf) if e < 0 else e]), why="",
                  earlier=len(found) - 1)
    _ranges_one_pass(buf, cur, ram, g, sub)
    return sub


_SIZES = ["0", "1", "1G", "2G", "4G", "64G", "128M", "192M", "256M", "512M", "0x40000000", "17E", "3T", ""]
_piece = st.one_of(st.sampled_from(_SIZES), st.sampled_from(["-", ":", ",", "@", " ", "x", ",high", ",low", "\t"]))
_BOUNDS = ["0", "1G", "2G", "4G", "64G", "0x40000000", "3T", ""]
#: mostly well-formed entries (so that RAM picks among them), now and then a broken separator or a missing value
_entry = st.tuples(st.sampled_from(_BOUNDS), st.sampled_from(["-"] * 8 + ["", "x"]), st.sampled_from(_BOUNDS),
                   st.sampled_from([":"] * 8 + ["", ";"]), st.sampled_from(_SIZES)).map("".join)
_token = st.tuples(st.lists(_entry, min_size=1, max_size=5).map(",".join),
                   st.one_of(st.sampled_from(["", "@", "@1G", "x@", "@x", " @1G", "@0"]),
                             st.lists(_piece, max_size=4).map("".join))).map(lambda t: "crashkernel=" + t[0] + t[1])
_lines = st.lists(st.one_of(_token, st.sampled_from(["crashkernel=512M", "crashkernel=2G,high", "crashkernel=1G,low",
                                                     "crashkernel=64M,cma", "quiet", "crashkernel"])),
                  min_size=1, max_size=3).map(" ".join)
#: RAM sizes at and around the bounds the lines use (the 128 MiB rounding of 6.1+ moves the ones just above)
_AROUND = sorted({max(0, b + d) for b in (0, G, 2 * G, 4 * G, 64 * G, 3 << 40) for d in (-1, 0, 1)} | {U64_MAX})
_rams = st.one_of(st.sampled_from(_AROUND), st.sampled_from(_AROUND), st.integers(min_value=0, max_value=1 << 42),
                  st.integers(min_value=-1, max_value=2 * U64_MAX))


@settings(max_examples=400)
@given(_lines, st.sampled_from(ALL), st.lists(_rams, min_size=1, max_size=4))
def test_split_parse_equals_reading_afresh(line: str, g: Grammar, rams: list[int]) -> None:
    """The plain token's reading at each RAM (from the line's syntax, read once and kept) equals the one-pass
    reading at that RAM; and parse_crashkernel gives the same result whether the line was read for an earlier
    RAM or is read now."""
    for ram in rams:
        clamped = min(max(ram, 0), U64_MAX)
        ref = _plain_one_pass(line, g, clamped)
        if ref is not None:
            got = cm._line(line, g).lookup(None, clamped)
            assert (got.ret, got.size, got.base, got.log, got.token, got.why, got.earlier) == (
                ref.ret, ref.size, ref.base, ref.log, ref.token, ref.why, ref.earlier)
        warm = parse_crashkernel(line, g, ram)
        cm._LINES.clear()
        assert parse_crashkernel(line, g, ram) == warm


def test_a_line_is_read_once_per_grammar() -> None:
    """One _Line per (line, grammar); a grammar equal in value but another object gets its own."""
    cm._LINES.clear()
    g = GRAMMARS[("arm64", "6.12")]
    line = "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M"
    first = parse_crashkernel(line, g, 8 * G)
    assert len(cm._LINES) == 1 and cm._line(line, g) is cm._line(line, g)
    assert parse_crashkernel(line, g, 2 * G).request.size == 192 * M  # type: ignore[union-attr]
    assert parse_crashkernel(line, g, 8 * G) == first
    import dataclasses  # noqa: PLC0415

    twin = dataclasses.replace(g)
    parse_crashkernel(line, twin, 8 * G)
    assert len(cm._LINES) == 2 and cm._line(line, twin).grammar is twin


@settings(max_examples=300)
@given(st.one_of(_lines, st.sampled_from(["crashkernel=512M", "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M",
                                           "crashkernel=2G,high crashkernel=64M,low", "crashkernel=1G,high",
                                           "crashkernel=256M@1G", "crashkernel=0-2G:1G,2G-:3G@1G"])),
       st.sampled_from(ALL),
       st.lists(st.one_of(st.integers(min_value=0, max_value=8 * G), st.sampled_from(_AROUND),
                          st.sampled_from([256 * M, 512 * M, 512 * M + 1, G, 3 * G, 3 * G + 1])),
                min_size=2, max_size=12))
def test_results_kept_per_plain_reading_equal_fresh_ones(line: str, g: Grammar, rams: list[int]) -> None:
    """parse_crashkernel keeps one result per plain reading the line keeps (``_Line.parsed``) and checks only the
    size against each RAM: over many RAM sizes in a row it gives, size by size, what a freshly read line gives."""
    cm._LINES.clear()
    warm = [parse_crashkernel(line, g, ram) for ram in rams]
    for ram, got in zip(rams, warm, strict=True):
        cm._LINES.clear()
        assert parse_crashkernel(line, g, ram) == got
