"""The lenient /proc/iomem reader on what people paste."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab import iomem_lenient
from kdumplab.errors import KdumplabError


def test_grep_lines_without_parents() -> None:
    io = iomem_lenient.read("# cat /proc/iomem | grep -i cras\n   e2200000-f1bfffff : Crash kernel (low)\n"
                            "   8c0000000-93fffffff : Crash kernel\n")
    assert io.form == "grep"
    assert [(e.start, e.end, e.name) for e in io.crash()] == [(0xE2200000, 0xF1C00000, "Crash kernel (low)"),
                                                              (0x8C0000000, 0x940000000, "Crash kernel")]


def test_diff_plus_side_is_this_boot_minus_side_other() -> None:
    text = ("--- iomem.old\n+++ iomem.new\n@@ -1,3 +1,3 @@\n 40000000-23fffffff : System RAM\n"
            "-  dc000000-fbffffff : Crash kernel\n+  ec000000-fbffffff : Crash kernel\n")
    io = iomem_lenient.read(text)
    assert io.form == "diff"
    assert [e.start for e in io.crash("this")] == [0xEC000000]
    assert [e.start for e in io.crash("other")] == [0xDC000000]


@pytest.mark.parametrize(("line", "start", "end"), [
    ("0xdc000000 - 0xfbffffff Crash kernel", 0xDC000000, 0xFC000000),     # inclusive, as iomem prints
    ("Crash kernel: 0xdc000000-0xfc000000", 0xDC000000, 0xFC000000),      # page-aligned end: exclusive
    ("crash kernel [0xdc000000, 0xfc000000)", 0xDC000000, 0xFC000000),    # marked exclusive
    ("dc000000 .. fbffffff : Crash kernel", 0xDC000000, 0xFC000000),
])
def test_hand_typed(line: str, start: int, end: int) -> None:
    (e,) = iomem_lenient.read(line).crash()
    assert (e.start, e.end) == (start, end)


def test_excerpt_is_read_and_marked() -> None:
    io = iomem_lenient.read("40000000-23fffffff : System RAM\n...\n  dc000000-fbffffff : Crash kernel\n")
    assert io.elided == (2,) and len(io.crash()) == 1 and not io.whole


def test_nothing_usable_names_file_and_line() -> None:
    with pytest.raises(KdumplabError) as err:
        iomem_lenient.read("hello\nthere\n", "paste.txt")
    assert err.value.where == "paste.txt:1"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**40), st.integers(1, 2**30)), min_size=1, max_size=8))
def test_kernel_text_round_trips(ranges: list[tuple[int, int]]) -> None:
    text = "".join(f"{s:08x}-{s + n - 1:08x} : Crash kernel\n" for s, n in ranges)
    got = [(e.start, e.end) for e in iomem_lenient.read(text).entries]
    assert got == [(s, s + n) for s, n in ranges]
