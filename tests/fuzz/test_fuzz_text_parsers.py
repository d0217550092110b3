"""Fuzz the text parsers: crashkernel= command lines, memparse, /proc/iomem, the kernel log, calibrate.conf."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab import cmdline, iomem, klog, memparse, recommend
from kdumplab.errors import KdumplabError
from tests.fuzz.util import result_or_one_line

_CK_TOKENS = ["crashkernel=", "crashkernel", "crahskernel=", "0x", "0", "1", "9", "512", "18446744073709551615",
              "K", "M", "G", "T", "P", "E", "k", "m", "B", ",", ",high", ",low", ",cma", "@", ":", "-", "--", " ",
              "  ", "\t", '"', "=", "\x00", "²", "١", "é", "\n", "x" * 40, "crashkernel=" * 3]
_CMDLINE = st.lists(st.sampled_from(_CK_TOKENS), max_size=40).map("".join) | st.text(max_size=200)
_GRAMMARS = st.sampled_from(sorted(cmdline.GRAMMARS.items(), key=lambda kv: str(kv[0])))


@settings(settings.get_profile("fuzz"))
@given(text=_CMDLINE, grammar=_GRAMMARS, ram=st.integers(0, (1 << 64) - 1))
def test_crashkernel_cmdline(text: str, grammar: tuple, ram: int) -> None:
    result_or_one_line(cmdline.parse_crashkernel, text, grammar[1], ram)


@settings(settings.get_profile("fuzz"))
@given(data=st.binary(max_size=80) | _CMDLINE.map(lambda s: s.encode("utf-8", "surrogatepass")),
       flavour=st.sampled_from(list(memparse.MemparseFlavour)))
def test_memparse_consumes_only_ascii_and_stays_u64(data: bytes, flavour: memparse.MemparseFlavour) -> None:
    value, end = memparse.memparse_bytes(data, 0, flavour)
    assert 0 <= value <= memparse.U64_MAX and 0 <= end <= len(data)
    assert all(b < 0x80 for b in data[:end])


def _iomem_line(depth: int, start: int, end: int, name: str) -> str:
    return f"{'  ' * depth}{start:08x}-{end:08x} : {name}"


_IOMEM_LINES = st.builds(_iomem_line, st.integers(0, 7), st.integers(0, 1 << 66), st.integers(0, 1 << 66),
                         st.text(max_size=20)) | st.text(max_size=60)


@settings(settings.get_profile("fuzz"))
@given(lines=st.lists(_IOMEM_LINES, max_size=30))
def test_iomem(lines: list[str]) -> None:
    text = "\n".join(lines)
    tree = result_or_one_line(iomem.parse, text, "iomem")
    if not isinstance(tree, KdumplabError):  # what parses renders back to a text that parses to the same tree
        assert iomem.parse(iomem.render(tree)) == tree


_LOG_LINES = st.sampled_from(["[    0.000000] crashkernel reserved: 0x00000000dc000000 - 0x00000000fc000000 (512 MB)",
                              "<6>[ 1.0] Kernel command line: crashkernel=512M", "Memory value expected",
                              "x" + " " * 3000 + "y", "crashkernel" * 300, "[" + " " * 2000, "\x00\xff"]) \
    | st.text(max_size=120)


@settings(settings.get_profile("fuzz"))
@given(lines=st.lists(_LOG_LINES, max_size=30))
def test_klog(lines: list[str]) -> None:
    out = klog.crash_lines("\n".join(lines))
    assert all("\n" not in x for x in out)


_CONF_KEYS = ["KERNEL_BASE", "KERNEL_INIT", "INIT_CACHED_SIZE", "SIZEOFPAGE", "PAGESIZE", "PERCPU", "USER_BASE",
              "USER_NET", "GENERATED_ON", "PERCPU_64kb", "BOGUS", ""]
_CONF_VALUES = st.sampled_from(["0", "1", "87350", "4096", "65536", "²", "9" * 5000, "-1", '"12"', "", "12k",
                                "١٢"]) | st.text(max_size=10)


@settings(settings.get_profile("fuzz"))
@given(pairs=st.lists(st.tuples(st.sampled_from(_CONF_KEYS), _CONF_VALUES, st.sampled_from(["=", " = ", ":", ""])),
                      max_size=14), flavour=st.sampled_from(["", "64kb"]))
def test_calibrate_conf(pairs: list[tuple[str, str, str]], flavour: str) -> None:
    text = "".join(f"{k}{sep}{v}\n" for k, v, sep in pairs)
    result_or_one_line(recommend.parse_calibrate_conf, text, "calibrate.conf", flavour)
