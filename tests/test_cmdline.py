"""crashkernel= parsing per generation.

Sources read (Debian source packages): kernel/crash_core.c (5.10.223, 6.1.176: parse_crashkernel_mem,
parse_crashkernel_simple, parse_crashkernel_suffix, get_last_crashkernel, __parse_crashkernel),
kernel/crash_reserve.c (6.12.107, 7.2.8: the same plus the generic parse_crashkernel), arch/arm64/mm/init.c
reserve_crashkernel (all four), arch/x86/kernel/setup.c reserve_crashkernel / reserve_crashkernel_low (5.10, 6.1)
and arch_reserve_crashkernel (6.12, 7.2), lib/cmdline.c next_arg, kernel/params.c parse_args.
Vectors Vnn are the worked examples in shared/spec/test-vectors.md; only their parse part is checked here.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab.cmdline import (
    ARM64_5_10,
    ARM64_6_1,
    ARM64_6_12,
    ARM64_7_2,
    GRAMMARS,
    X86_64_5_10,
    X86_64_6_1,
    X86_64_6_12,
    X86_64_7_2,
    CrashRequest,
    Grammar,
    LogLine,
    _early_param_walk,
    crashkernel_tokens,
    has_crashkernel_early_param,
    parse_crashkernel,
)
from kdumplab.memparse import U64_MAX

K, M, G = 1 << 10, 1 << 20, 1 << 30
ARM64 = [ARM64_5_10, ARM64_6_1, ARM64_6_12, ARM64_7_2]
ALL = list(GRAMMARS.values())  # includes the two 2019 proposals
RAM_8G = 8 * G  # layout M1


def warn(text: str) -> tuple[LogLine, ...]:
    return (LogLine("warn", text),)


ZERO = (LogLine("info", "crashkernel size resulted in zero bytes"),)


def req(size: int, base: int | None = None, high: bool = False, low: int | None = None, cma: int = 0) -> CrashRequest:
    return CrashRequest(size, base, high, low, cma)


def by_gen(g: Grammar, **values: object) -> object:
    return values["v" + g.generation.replace(".", "_")]


# --- Part 4: range lists and the RAM size (V22-V29) -------------------------------------------------

@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v22_exactly_2g_matches_second_entry(g: Grammar) -> None:
    # V22: RAM 2048 MiB is not < 2G (end exclusive) and is >= 2G (start inclusive)
    r = parse_crashkernel("crashkernel=1G-2G:128M,2G-:256M", g, 2048 * M)
    assert r.request == req(256 * M) and r.log == ()


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v23_2046m_rounding(g: Grammar) -> None:
    # V23: 5.10 compares 2046 MiB as is; 6.1+ parse_crashkernel_mem rounds it up to 2048 MiB (SZ_128M)
    r = parse_crashkernel("crashkernel=1G-2G:128M,2G-:256M", g, 2046 * M)
    assert r.request == req(128 * M if g is ARM64_5_10 else 256 * M)


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v24_400m_doc_example(g: Grammar) -> None:
    # V24: 400 MiB matches nothing in 5.10 (info line, nothing reserved); 6.1+ round to 512 MiB -> 64M
    r = parse_crashkernel("crashkernel=512M-2G:64M,2G-:128M", g, 400 * M)
    if g is ARM64_5_10:
        assert r.request is None and r.log == ZERO
    else:
        assert r.request == req(64 * M) and r.log == ()


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v25_invalid_size_before_the_match(g: Grammar) -> None:
    # V25: the first entry's 2G >= RAM is checked although the second entry would match
    r = parse_crashkernel("crashkernel=0-1G:2G,1G-:256M", g, 1 * G)
    assert r.request is None and r.log == warn("crashkernel: invalid size")


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v26_size_equal_to_ram(g: Grammar) -> None:
    # V26: 5.10 size >= RAM -> invalid size; 6.1 rounds RAM to 1024 MiB and accepts (the allocation fails
    # later); 6.12+ accept the range but the final unrounded check in parse_crashkernel returns -EINVAL silently
    r = parse_crashkernel("crashkernel=0-:1000M", g, 1000 * M)
    if g is ARM64_5_10:
        assert r.request is None and r.log == warn("crashkernel: invalid size")
    elif g is ARM64_6_1:
        assert r.request == req(1000 * M) and r.log == ()
    else:
        assert r.request is None and r.log == ()
        assert "-EINVAL" in r.reason


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v27_offset_after_later_entry(g: Grammar) -> None:
    # V27: the match is the second entry; '@2G' after it applies
    r = parse_crashkernel("crashkernel=0-4G:128M,4G-:256M@2G", g, RAM_8G)
    assert r.request == req(256 * M, base=2 * G)


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v27b_offset_written_after_a_later_entry_applies(g: Grammar) -> None:
    # parse_crashkernel_mem skips to the first ' ' or '@' after the match, so '@' after a later entry counts
    r = parse_crashkernel("crashkernel=4G-:256M,0-4G:128M@2G", g, RAM_8G)
    assert r.request == req(256 * M, base=2 * G)


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v28_garbage_after_match(g: Grammar) -> None:
    r = parse_crashkernel("crashkernel=0-:256M,garbage", g, RAM_8G)
    assert r.request == req(256 * M) and r.log == ()


@pytest.mark.parametrize("g", ALL, ids=lambda g: g.arch + g.generation)
def test_v29_empty_offset_is_automatic(g: Grammar) -> None:
    # parse_crashkernel_simple: memparse after '@' gives 0 without complaint; 0 = automatic
    r = parse_crashkernel("crashkernel=256M@", g, RAM_8G)
    assert r.request == req(256 * M, base=None) and r.log == ()


# --- Part 5: fixed base (parse part of V30-V35) -----------------------------------------------------

@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
@pytest.mark.parametrize(
    ("cmdline", "size", "base"),
    [
        ("crashkernel=256M@0x80000000", 256 * M, 0x8000_0000),      # V30
        ("crashkernel=256M@0x80100000", 256 * M, 0x8010_0000),      # V31: alignment is checked at reservation
        ("crashkernel=64M@0x40000000", 64 * M, 0x4000_0000),        # V32
        ("crashkernel=256M@0x20000000", 256 * M, 0x2000_0000),      # V33
        ("crashkernel=256M@0x30000000", 256 * M, 0x3000_0000),      # V34
        ("crashkernel=512M@0x200000000", 512 * M, 0x2_0000_0000),   # V35
        ("crashkernel=256M@0", 256 * M, None),                      # @0 = automatic (callers test crash_base)
        ("crashkernel=256M@1Gxyz", 256 * M, G),                     # A.4: text after OFFSET is ignored
    ],
)
def test_v30_v35_fixed_base(g: Grammar, cmdline: str, size: int, base: int | None) -> None:
    r = parse_crashkernel(cmdline, g, RAM_8G)
    assert r.request == req(size, base=base) and r.log == ()


# --- Part 6: repeated and garbage parameters (V36-V45) ----------------------------------------------

@pytest.mark.parametrize("g", ALL, ids=lambda g: g.arch + g.generation)
def test_v36_last_plain_wins(g: Grammar) -> None:
    assert parse_crashkernel("crashkernel=128M crashkernel=256M", g, RAM_8G).request == req(256 * M)


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v37_plain_beats_high(g: Grammar) -> None:
    # V37 (stated for 6.12+; also 5.10, which ignores ,high, and 6.1, which reads ,high only on -ENOENT)
    r = parse_crashkernel("crashkernel=1G,high crashkernel=256M", g, RAM_8G)
    assert r.request == req(256 * M)


@pytest.mark.parametrize("g", [ARM64_6_12, ARM64_7_2], ids=lambda g: g.generation)
def test_v38_last_high_wins_default_low(g: Grammar) -> None:
    # V38: last ,high wins; ,low absent -> the reservation uses DEFAULT_CRASH_KERNEL_LOW_SIZE (128 MiB)
    r = parse_crashkernel("crashkernel=1G,high crashkernel=2G,high", g, RAM_8G)
    assert r.request == req(2 * G, high=True, low=None)
    assert g.default_low_size == 128 * M


@pytest.mark.parametrize("g", ALL, ids=lambda g: g.arch + g.generation)
def test_v39_malformed_last_token_hides_valid_one(g: Grammar) -> None:
    r = parse_crashkernel("crashkernel=256M crashkernel=bogus", g, RAM_8G)
    # (x86 5.10/6.1 setup.c then tries ,high, which is absent: the same outcome)
    assert r.request is None
    assert r.log == warn("crashkernel: memory value expected")
    assert "earlier" in r.reason


@pytest.mark.parametrize("g", ALL, ids=lambda g: g.arch + g.generation)
@pytest.mark.parametrize(
    ("cmdline", "expected_log", "expected_size"),
    [
        ("crashkernel=256MB", warn("crashkernel: unrecognized char: B"), None),   # V40
        ("crashkernel=1.5G", warn("crashkernel: unrecognized char: ."), None),
        ("crashkernel=auto", warn("crashkernel: memory value expected"), None),
        ("crashkernel=0800M", warn("crashkernel: unrecognized char: 8"), None),
        ("crashkernel=0x10000000", (), 256 * M),
    ],
)
def test_v40_number_syntax(g: Grammar, cmdline: str, expected_log: tuple, expected_size: int | None) -> None:
    r = parse_crashkernel(cmdline, g, RAM_8G)
    assert r.log == expected_log
    assert (r.request.size if r.request else None) == expected_size


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v41_bare_suffix(g: Grammar) -> None:
    r = parse_crashkernel("crashkernel=M", g, RAM_8G)
    assert r.request is None
    assert r.log == (warn("crashkernel: memory value expected") if g is ARM64_7_2 else ())


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v42_17e(g: Grammar) -> None:
    # 5.10/6.1: wraps to 2^60 and the parse accepts it (the allocation fails later);
    # 6.12: 2^60 >= RAM, silent -EINVAL; 7.2: saturates to 2^64-1, silent -EINVAL
    r = parse_crashkernel("crashkernel=17E", g, RAM_8G)
    assert r.log == ()
    if g in (ARM64_5_10, ARM64_6_1):
        assert r.request == req(1 << 60)
    else:
        assert r.request is None
    assert parse_crashkernel("crashkernel=16E", g, RAM_8G).request is None


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
@pytest.mark.parametrize(
    ("cmdline", "texts"),
    [
        ("crashkernel=2G-1G:128M", {"all": "crashkernel: end <= start"}),
        ("crashkernel=1G:128M", {"all": "crashkernel: '-' expected"}),
        ("crashkernel=1G-2G;128M", {"all": "crashkernel: unrecognized char: -"}),  # no ':' -> simple grammar
        ("crashkernel=1G-2Gx:128M", {"all": "crashkernel: ':' expected"}),
        ("crashkernel=-1G:128M", {"all": "crashkernel: Memory value expected"}),
        ("crashkernel=1G-x:128M", {"all": "crashkernel: Memory value expected"}),
        ("crashkernel=1G-:", {"5.10": "Memory value expected", "6.1": "Memory value expected",
                              "6.12": "crashkernel: Memory value expected",
                              "7.2": "crashkernel: Memory value expected"}),
        ("crashkernel=0-:256M@", {"5.10": "Memory value expected after '@'",
                                  "6.1": "Memory value expected after '@'",
                                  "6.12": "crahskernel: Memory value expected after '@'",  # typo as printed
                                  "7.2": "crashkernel: Memory value expected after '@'"}),
    ],
)
def test_v43_range_errors(g: Grammar, cmdline: str, texts: dict[str, str]) -> None:
    r = parse_crashkernel(cmdline, g, RAM_8G)
    assert r.request is None
    assert r.log == warn(texts.get("all") or texts[g.generation])


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v43_space_splits_the_list(g: Grammar) -> None:
    r = parse_crashkernel("crashkernel=512M-2G:64M 2G-:128M", g, RAM_8G)
    assert r.request is None and r.log == ZERO


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v44_cma_token_on_arm64(g: Grammar) -> None:
    r = parse_crashkernel("crashkernel=512M crashkernel=256M,cma", g, RAM_8G)
    if g is ARM64_7_2:
        # ,cma is in suffix_tbl, so the plain token is 512M; arm64 passes no cma pointer
        assert r.request == req(512 * M, cma=0) and r.log == ()
    else:
        assert r.request is None and r.log == warn("crashkernel: unrecognized char: ,")
    alone = parse_crashkernel("crashkernel=256M,cma", g, RAM_8G)
    assert alone.request is None
    assert alone.log == (() if g is ARM64_7_2 else warn("crashkernel: unrecognized char: ,"))


@pytest.mark.parametrize("g", ARM64, ids=lambda g: g.generation)
def test_v45_substring_match(g: Grammar) -> None:
    r = parse_crashkernel("acrashkernel=256M", g, RAM_8G)
    assert r.request == req(256 * M)
    assert r.early_param is False
    assert parse_crashkernel("crashkernel=256M", g, RAM_8G).early_param is True


# --- ,high / ,low combination per generation (A.7) --------------------------------------------------

def test_arm64_5_10_ignores_high() -> None:
    r = parse_crashkernel("crashkernel=1G,high crashkernel=128M,low", ARM64_5_10, RAM_8G)
    assert r.request is None and r.log == ()
    assert "does not understand ,high" in r.reason


def test_arm64_6_1_high_has_no_default_low() -> None:
    r = parse_crashkernel("crashkernel=1G,high", ARM64_6_1, RAM_8G)
    assert r.request == req(G, high=True, low=None)
    assert ARM64_6_1.default_low_size is None
    r = parse_crashkernel("crashkernel=1G,high crashkernel=64M,low", ARM64_6_1, RAM_8G)
    assert r.request == req(G, high=True, low=64 * M)


@pytest.mark.parametrize("g", [ARM64_6_1, ARM64_6_12, ARM64_7_2], ids=lambda g: g.generation)
def test_malformed_low_cancels_everything(g: Grammar) -> None:
    r = parse_crashkernel("crashkernel=1G,high crashkernel=lots,low", g, RAM_8G)
    assert r.request is None and r.log == warn("crashkernel: memory value expected")


@pytest.mark.parametrize("g", [ARM64_6_1, ARM64_6_12, ARM64_7_2], ids=lambda g: g.generation)
def test_zero_low_is_distinct_from_absent(g: Grammar) -> None:
    assert parse_crashkernel("crashkernel=1G,high crashkernel=0,low", g, RAM_8G).request == req(
        G, high=True, low=0)


@pytest.mark.parametrize("g", [ARM64_6_1, ARM64_6_12, ARM64_7_2], ids=lambda g: g.generation)
def test_present_bad_plain_suppresses_high(g: Grammar) -> None:
    r = parse_crashkernel("crashkernel=1G,high crashkernel=0", g, RAM_8G)
    assert r.request is None and r.log == ()


@pytest.mark.parametrize("g", [ARM64_6_1, ARM64_6_12, ARM64_7_2], ids=lambda g: g.generation)
def test_high_size_vs_ram(g: Grammar) -> None:
    # 6.1 has no size check on ,high; 6.12+ compare with the unrounded RAM and fail silently
    r = parse_crashkernel("crashkernel=9G,high", g, RAM_8G)
    assert (r.request is not None) == (g is ARM64_6_1)
    assert r.log == ()


@pytest.mark.parametrize("g", [ARM64_6_1, ARM64_6_12], ids=lambda g: g.generation)
def test_repeated_suffix(g: Grammar) -> None:
    # A.6 step 3: the token ends in ,high but the text after the first ,high is not a space
    r = parse_crashkernel("crashkernel=512M,high,high", g, RAM_8G)
    assert r.request is None and r.log == warn("crashkernel: unrecognized char: ,")


@pytest.mark.parametrize("g", [X86_64_5_10, X86_64_6_1], ids=lambda g: g.generation)
def test_x86_old_high_after_failed_plain(g: Grammar) -> None:
    # arch/x86/kernel/setup.c reserve_crashkernel: plain failed or 0 -> try ,high (arm64 6.1 would stop)
    r = parse_crashkernel("crashkernel=bogus crashkernel=1G,high", g, RAM_8G)
    assert r.request == req(G, high=True, low=None)
    assert r.log == warn("crashkernel: memory value expected")
    assert parse_crashkernel("crashkernel=0 crashkernel=1G,high", g, RAM_8G).request == req(G, high=True)
    assert parse_crashkernel("crashkernel=bogus crashkernel=1G,high", ARM64_6_1, RAM_8G).request is None


@pytest.mark.parametrize("g", [X86_64_5_10, X86_64_6_1], ids=lambda g: g.generation)
def test_x86_old_low_parsed_at_reservation(g: Grammar) -> None:
    # reserve_crashkernel_low: parse error or absence -> default (None here); 0,low -> no low region
    r = parse_crashkernel("crashkernel=1G,high crashkernel=xx,low", g, RAM_8G)
    assert r.request == req(G, high=True, low=None)
    assert r.log == () and r.low_log == warn("crashkernel: memory value expected")
    assert parse_crashkernel("crashkernel=1G,high crashkernel=0,low", g, RAM_8G).request.low_size == 0
    assert parse_crashkernel("crashkernel=2G crashkernel=96M,low", g, RAM_8G).request == req(2 * G, low=96 * M)


def test_x86_7_2_cma() -> None:
    # 7.2 x86 passes &cma_size; the ,cma lookup's return value is ignored, so a malformed ,cma token keeps
    # whatever memparse wrote (crash_reserve.c parse_crashkernel)
    r = parse_crashkernel("crashkernel=512M crashkernel=64M,cma", X86_64_7_2, RAM_8G)
    assert r.request == req(512 * M, cma=64 * M) and r.log == ()
    r = parse_crashkernel("crashkernel=512M crashkernel=64Mx,cma", X86_64_7_2, RAM_8G)
    assert r.request == req(512 * M, cma=64 * M)
    assert r.log == warn("crashkernel: unrecognized char: x")
    r = parse_crashkernel("crashkernel=256M,cma", X86_64_7_2, RAM_8G)
    assert r.request is None
    # 6.12 x86 does not know ,cma: the token is plain and malformed
    assert parse_crashkernel("crashkernel=256M,cma", X86_64_6_12, RAM_8G).log == warn(
        "crashkernel: unrecognized char: ,")


# --- occurrence rules and the command line itself (own reading of get_last_crashkernel / next_arg) ---

@pytest.mark.parametrize("g", ALL, ids=lambda g: g.arch + g.generation)
def test_overlapping_matches(g: Grammar) -> None:
    # strstr restarts at p+1: the second match inside the first token is the last plain one
    r = parse_crashkernel("crashkernel=crashkernel=256M", g, RAM_8G)
    assert r.request == req(256 * M)
    assert crashkernel_tokens("crashkernel=crashkernel=256M") == ("crashkernel=crashkernel=256M", "crashkernel=256M")


def test_only_space_ends_a_token() -> None:
    r = parse_crashkernel("crashkernel=256M\tquiet", ARM64_6_12, RAM_8G)
    assert r.request is None and r.log == warn("crashkernel: unrecognized char: \t")


def test_non_ascii_char_is_one_byte() -> None:
    r = parse_crashkernel("crashkernel=256Mé", ARM64_6_12, RAM_8G)
    assert r.log == warn("crashkernel: unrecognized char: \\xc3")


def test_early_param_rules() -> None:
    g = ARM64_5_10
    assert parse_crashkernel("crashkernel", g, RAM_8G).early_param is True        # no '=' needed
    assert parse_crashkernel("crashkernel=0", g, RAM_8G).early_param is True
    assert parse_crashkernel("crashkernel=,low", g, RAM_8G).early_param is True
    # parse_args stops at a bare "--"; the substring parser does not
    r = parse_crashkernel("quiet -- crashkernel=256M", g, RAM_8G)
    assert r.early_param is False and r.request == req(256 * M)
    # a quoted parameter: next_arg drops the opening quote; the substring token keeps the closing one
    r = parse_crashkernel('"crashkernel=256M"', g, RAM_8G)
    assert r.early_param is True and r.log == warn('crashkernel: unrecognized char: "')
    # inside another parameter's quoted value: no early param, but the substring still matches
    r = parse_crashkernel('foo="a crashkernel=256M"', g, RAM_8G)
    assert r.early_param is False


def test_truncation_to_command_line_size() -> None:
    pad = "x" * 2040 + " "
    r = parse_crashkernel(pad + "crashkernel=256M", ARM64_6_12, RAM_8G)
    # 2041 bytes of padding leave 6 bytes: "crashk", no token at all
    assert r.truncated and r.request is None and "cut to 2047 bytes" in r.reason
    pad = "x" * 2020 + " "
    r = parse_crashkernel(pad + "crashkernel=256M" + " quiet" * 5, ARM64_6_12, RAM_8G)
    # the token ends at byte 2037; only the trailing "quiet"s are cut, which changes nothing
    assert r.request == req(256 * M) and r.truncated and "cut" not in r.reason
    pad = "x" * 2031 + " "
    r = parse_crashkernel(pad + "crashkernel=256M", ARM64_6_12, RAM_8G)
    # 2047 - 2032 = 15 bytes kept: "crashkernel=256" -> 256 bytes
    assert r.request == req(256) and "cut" in r.reason


def test_nul_ends_the_line() -> None:
    assert parse_crashkernel("quiet\0crashkernel=256M", ARM64_6_12, RAM_8G).request is None


# --- properties -------------------------------------------------------------------------------------

_pieces = st.sampled_from(["crashkernel=", "0x", "0", "1", "256", "K", "M", "G", "E", "e", ",", "-", ":", "@",
                           ",high", ",low", ",cma", " ", "\t", "\"", "--", "x", "é", "\0", "\ud800",
                           "18446744073709551616"])
_cmdlines = st.one_of(st.text(), st.lists(_pieces, max_size=40).map("".join))


@settings(max_examples=300)
@given(_cmdlines, st.sampled_from(ALL), st.integers(min_value=-1, max_value=2 * U64_MAX))
def test_never_raises_and_sizes_in_range(cmdline: str, g: Grammar, ram: int) -> None:
    r = parse_crashkernel(cmdline, g, ram)
    if r.request is not None:
        q = r.request
        assert 0 < q.size <= U64_MAX
        assert q.base is None or 0 < q.base <= U64_MAX
        assert q.low_size is None or 0 <= q.low_size <= U64_MAX
        assert 0 <= q.cma_size <= U64_MAX
    assert all(line.level in ("warn", "info", "err") for line in r.log)
    assert isinstance(r.reason, str) and r.reason


@given(st.lists(st.sampled_from(["crashkernel", "crashkernel=", "=crashkernel", "crashkernel==1", "--", "-- x",
                                  "a", "=", " ", "\t", "\xa0", "xcrashkernel=1"]), max_size=12).map("".join))
def test_early_param_fast_path_matches_walk(cmdline: str) -> None:
    buf = cmdline.encode()
    assert has_crashkernel_early_param(buf) == _early_param_walk(buf)


@given(st.lists(st.integers(min_value=1, max_value=1 << 20), min_size=1, max_size=8), st.sampled_from(ALL))
def test_last_plain_token_wins(sizes_m: list[int], g: Grammar) -> None:
    cmdline = " ".join(f"crashkernel={s}M" for s in sizes_m)
    r = parse_crashkernel(cmdline, g, (1 << 20) * M + 1)
    assert r.request == req(sizes_m[-1] * M)


@st.composite
def _range_lists(draw: st.DrawFn) -> tuple[list[tuple[int, int | None, int]], int]:
    ram = draw(st.integers(min_value=1, max_value=64)) * 128 * M  # a 128 MiB multiple: rounding is a no-op
    n = draw(st.integers(min_value=1, max_value=5))
    entries = []
    for _ in range(n):
        start = draw(st.integers(min_value=0, max_value=80)) * 128 * M
        end = draw(st.one_of(st.none(), st.integers(min_value=start // (128 * M) + 1, max_value=96)
                             .map(lambda e: e * 128 * M)))
        size = draw(st.integers(min_value=0, max_value=ram // M - 1)) * M
        entries.append((start, end, size))
    return entries, ram


@given(_range_lists(), st.sampled_from(ALL))
def test_range_semantics(case: tuple[list[tuple[int, int | None, int]], int], g: Grammar) -> None:
    entries, ram = case
    text = ",".join(f"{s >> 20}M-{'' if e is None else str(e >> 20) + 'M'}:{z >> 20}M" for s, e, z in entries)
    r = parse_crashkernel("crashkernel=" + text, g, ram)
    # independent expectation: the first entry with start <= RAM < end (end None = unbounded) gives the size
    match = next((z for s, e, z in entries if s <= ram and (e is None or ram < e)), 0)
    if match:
        assert r.request == req(match) and r.log == ()
    else:
        assert r.request is None and r.log == ZERO


# --- the 2019 proposals (design, not source: see shared/spec/seed-2019-review.md) ---------------------

def test_proposal_grammars_exist_for_the_policies() -> None:
    assert ("arm64", "proposal-2019-v5") in GRAMMARS and ("arm64", "proposal-2019-review") in GRAMMARS


def test_proposal_v5_high_and_default_low() -> None:
    g = GRAMMARS[("arm64", "proposal-2019-v5")]
    assert parse_crashkernel("crashkernel=1G,high", g, RAM_8G).request == req(G, high=True, low=None)
    assert g.default_low_size == 256 * M


def test_proposal_review_no_high_low_beside_plain() -> None:
    g = GRAMMARS[("arm64", "proposal-2019-review")]
    assert parse_crashkernel("crashkernel=1G,high", g, RAM_8G).request is None
    assert parse_crashkernel("crashkernel=1G crashkernel=64M,low", g, RAM_8G).request == req(G, low=64 * M)
    assert parse_crashkernel("crashkernel=1G", g, RAM_8G).request == req(G, low=None)
