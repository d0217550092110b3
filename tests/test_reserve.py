"""The reservation stage on the worked examples of ../shared/spec/test-vectors.md.

Those vectors give the memblock state at reservation time as an input (layouts M1-M9), so they test
``reserve_crashkernel`` alone: windows, fallbacks, low regions, fixed bases and log lines per generation.
The requests are written out (size, base, high, low) so that parsing is not under test here.
"""

from __future__ import annotations

import pytest

from kdumplab.memblock import Memblock, Region
from kdumplab.outcome import Role
from kdumplab.policy import for_kernel
from kdumplab.reserve import reserve_crashkernel

M, G = 1 << 20, 1 << 30
OLD, NEW = ("5.10", "6.1"), ("6.12", "7.2")
ALL = OLD + NEW


def layout(memory, reserved):
    m = Memblock.from_memory([Region(b, e - b) for b, e in memory])
    for b, e in reserved:
        m = m.reserve(b, e - b)
    return m


# The layouts of test-vectors.md ("Memory layouts"): memory, reserved at reservation time, DMA limit.
M1 = (layout([(0x4000_0000, 0x2_4000_0000)], [(0x4020_0000, 0x4260_0000), (0x4800_0000, 0x4A00_0000),
                                             (0xFC00_0000, 0x1_0000_0000), (0x2_3F00_0000, 0x2_4000_0000)]),
      0x1_0000_0000)
M2 = (layout([(0, 0x3C00_0000), (0x4000_0000, 0x2_0000_0000)],
             [(0x20_0000, 0x260_0000), (0x3800_0000, 0x3C00_0000), (0x1_FF00_0000, 0x2_0000_0000)]), 0x4000_0000)
M4 = (layout([(0x4000_0000, 0x8000_0000)], [(0x4020_0000, 0x4260_0000), (0x7B00_0000, 0x7F00_0000),
                                           (0x7F00_0000, 0x8000_0000)]), 0x8000_0000)
M5 = (layout([(0x4000_0000, 0x1_1000_0000)], [(0x4020_0000, 0x4260_0000), (0x1_0F00_0000, 0x1_1000_0000)]),
      0x1_0000_0000)


def run(gen, lay, size, base=None, high=False, low=None):
    mb, low_max = lay
    return reserve_crashkernel(for_kernel(gen), mb, size, base, high, low, low_max, 4096)


def spans(p):
    return [(r.role.value, r.start, r.end) for r in p.regions]


@pytest.mark.parametrize("gen", ALL)
def test_v01_512m_lands_below_cma(gen):
    p = run(gen, M1, 512 * M)
    assert spans(p) == [("main", 0xDC00_0000, 0xFC00_0000)]
    assert p.log == ("crashkernel reserved: 0x00000000dc000000 - 0x00000000fc000000 (512 MB)",)


@pytest.mark.parametrize("gen", ALL)
def test_v02_257m_leaves_a_gap(gen):
    assert spans(run(gen, M1, 257 * M)) == [("main", 0xEBE0_0000, 0xFBF0_0000)]


@pytest.mark.parametrize("gen,end,line_end", [("5.10", 0xFBE1_9000, "fbe19000"), ("6.1", 0xFBE1_9000, "fbe19000"),
                                              ("6.12", 0xFBE1_86A0, "fbe186a0"), ("7.2", 0xFBE1_86A0, "fbe186a0")])
def test_v03_size_not_page_aligned(gen, end, line_end):
    p = run(gen, M1, 100000)
    assert spans(p) == [("main", 0xFBE0_0000, end)]
    assert p.log == (f"crashkernel reserved: 0x00000000fbe00000 - 0x00000000{line_end} (0 MB)",)


@pytest.mark.parametrize("gen,size,shown", [("6.1", 4096, True), ("6.12", 1, False), ("7.2", 1, False)])
def test_v04_one_byte(gen, size, shown):
    (r,) = run(gen, M1, 1).regions
    assert (r.start, r.size, r.in_iomem) == (0xFBE0_0000, size, shown)


@pytest.mark.parametrize("gen", ALL)
def test_v05_rpi4_low_limit(gen):
    assert spans(run(gen, M2, 256 * M)) == [("main", 0x2800_0000, 0x3800_0000)]


@pytest.mark.parametrize("gen", OLD)
def test_v08_3g_fails_on_old_kernels(gen):
    p = run(gen, M1, 3 * G)
    assert p.regions == () and p.log == ("cannot allocate crashkernel (size:0xc0000000)",)


@pytest.mark.parametrize("gen", NEW)
def test_v08_3g_falls_back_high_with_default_low(gen):
    p = run(gen, M1, 3 * G)
    assert spans(p) == [("low", 0xF400_0000, 0xFC00_0000), ("main", 0x1_7F00_0000, 0x2_3F00_0000)]
    assert p.log == ("crashkernel low memory reserved: 0xf4000000 - 0xfc000000 (128 MB)",
                     "crashkernel reserved: 0x000000017f000000 - 0x000000023f000000 (3072 MB)")


@pytest.mark.parametrize("gen", NEW)
def test_v09_rpi4_1g_falls_back(gen):
    p = run(gen, M2, G)
    assert spans(p) == [("low", 0x3000_0000, 0x3800_0000), ("main", 0x1_BF00_0000, 0x1_FF00_0000)]


@pytest.mark.parametrize("gen", ALL)
def test_v10_1000m_on_1g_fails(gen):
    assert run(gen, M4, 1000 * M).log == ("cannot allocate crashkernel (size:0x3e800000)",)


@pytest.mark.parametrize("gen", ALL)
def test_v12_900m_fits(gen):
    assert spans(run(gen, M4, 900 * M)) == [("main", 0x42C0_0000, 0x7B00_0000)]


def test_v13_high_on_6_1_has_no_low():
    assert spans(run("6.1", M1, 512 * M, high=True)) == [("main", 0x2_1F00_0000, 0x2_3F00_0000)]


@pytest.mark.parametrize("gen", NEW)
def test_v13_high_on_new_adds_default_low(gen):
    p = run(gen, M1, 512 * M, high=True)
    assert spans(p) == [("low", 0xF400_0000, 0xFC00_0000), ("main", 0x2_1F00_0000, 0x2_3F00_0000)]
    assert p.log[0].startswith("crashkernel low memory reserved")


@pytest.mark.parametrize("gen", NEW)
def test_v14_low_zero_means_no_low(gen):
    assert spans(run(gen, M1, 512 * M, high=True, low=0)) == [("main", 0x2_1F00_0000, 0x2_3F00_0000)]


@pytest.mark.parametrize("gen", ("6.1",) + NEW)
def test_v15_explicit_low(gen):
    p = run(gen, M1, 512 * M, high=True, low=256 * M)
    assert spans(p) == [("low", 0xEC00_0000, 0xFC00_0000), ("main", 0x2_1F00_0000, 0x2_3F00_0000)]
    assert p.log == ("crashkernel low memory reserved: 0xec000000 - 0xfc000000 (256 MB)",
                     "crashkernel reserved: 0x000000021f000000 - 0x000000023f000000 (512 MB)")


@pytest.mark.parametrize("gen", ("6.1",) + NEW)
def test_v19_low_that_does_not_fit_releases_everything(gen):
    mb, _ = M2
    p = run(gen, M2, 512 * M, high=True, low=G)
    assert p.regions == ()
    assert p.log == ("cannot allocate crashkernel low memory (size:0x40000000).",)
    assert p.memblock.reserved == mb.reserved  # the high region was given back


def test_v20_6_1_high_search_straddles_4g_and_drops_low():
    p = run("6.1", M5, 512 * M, high=True, low=128 * M)
    assert spans(p) == [("main", 0xEF00_0000, 0x1_0F00_0000)]


@pytest.mark.parametrize("gen", NEW)
def test_v20_new_high_falls_back_low_without_low_region(gen):
    assert spans(run(gen, M5, 512 * M, high=True, low=128 * M)) == [("main", 0xE000_0000, 0x1_0000_0000)]


@pytest.mark.parametrize("gen", ALL)
def test_v30_fixed_base(gen):
    assert spans(run(gen, M1, 256 * M, base=0x8000_0000)) == [("main", 0x8000_0000, 0x9000_0000)]


@pytest.mark.parametrize("gen,msg", [
    ("5.10", "cannot reserve crashkernel: base address is not 2MB aligned"),
    ("6.1", "cannot allocate crashkernel (size:0x10000000)"),
    ("6.12", "crashkernel reservation failed - memory is in use."),
    ("7.2", "crashkernel reservation failed - memory is in use."),
])
def test_v31_misaligned_base(gen, msg):
    assert run(gen, M1, 256 * M, base=0x8010_0000).log == (msg,)


@pytest.mark.parametrize("gen,msg", [
    ("5.10", "cannot reserve crashkernel: region overlaps reserved memory"),
    ("6.1", "cannot allocate crashkernel (size:0x4000000)"),
    ("6.12", "crashkernel reservation failed - memory is in use."),
])
def test_v32_base_over_the_kernel(gen, msg):
    assert run(gen, M1, 64 * M, base=0x4000_0000).log == (msg,)


@pytest.mark.parametrize("gen,msg", [
    ("5.10", "cannot reserve crashkernel: region is not memory"),
    ("6.1", "cannot allocate crashkernel (size:0x10000000)"),
    ("7.2", "crashkernel reservation failed - memory is in use."),
])
def test_v33_v34_base_outside_memory(gen, msg):
    assert run(gen, M1, 256 * M, base=0x2000_0000).log == (msg,)
    assert run(gen, M2, 256 * M, base=0x3000_0000).log == (msg,)


@pytest.mark.parametrize("gen", ALL)
def test_v35_fixed_base_above_4g_gets_no_low(gen):
    assert spans(run(gen, M1, 512 * M, base=0x2_0000_0000)) == [("main", 0x2_0000_0000, 0x2_2000_0000)]


# -- the two 2019 proposals (seed-2019-review.md) -----------------------------------------------------

def test_proposal_v5_falls_back_high_with_256m_low_both_named_crash_kernel():
    p = run("proposal-2019-v5", M1, 3 * G)
    assert spans(p) == [("low", 0xEC00_0000, 0xFC00_0000), ("main", 0x1_7F00_0000, 0x2_3F00_0000)]
    assert {r.name for r in p.regions} == {"Crash kernel"}
    assert not any(r.nomap for r in p.regions)


def test_proposal_review_x_alone_only_low_and_fails():
    p = run("proposal-2019-review", M1, 3 * G)
    assert p.regions == () and p.log == ("cannot allocate crashkernel (size:0xc0000000)",)


def test_proposal_review_low_first_nomap_named_low():
    p = run("proposal-2019-review", M1, 3 * G, low=256 * M)
    low, main = p.regions
    assert (low.role, low.start, low.end, low.name, low.nomap) == (
        Role.LOW, 0xEC00_0000, 0xFC00_0000, "Crash kernel (low)", True)
    assert (main.start, main.end) == (0x1_7F00_0000, 0x2_3F00_0000)
    assert any(r.base == 0xEC00_0000 and r.size == 256 * M for r in p.memblock.memory)  # split off as NOMAP


# -- x86_64 (arch/x86/kernel/setup.c reserve_crashkernel of 5.10/6.1; the generic code in 6.12+) ------------
# A hand-made 8 GiB PC: RAM [1 MiB, 3 GiB) and [4 GiB, 9 GiB); the first MiB and a kernel at 16 MiB reserved.
X86 = (layout([(0x10_0000, 0xC000_0000), (0x1_0000_0000, 0x2_4000_0000)],
              [(0x100_0000, 0x400_0000)]), 1 << 32)


def run_x86(gen, size, base=None, high=False, low=None):
    mb, low_max = X86
    return reserve_crashkernel(for_kernel(gen, "x86_64"), mb, size, base, high, low, low_max, 4096)


def test_x86_legacy_low_first():
    p = run_x86("5.10", 512 * M)
    # highest 16 MiB-aligned fit below 4 GiB: round_down(0xc0000000 - 512M, 16M) = 0xa0000000
    assert spans(p) == [("main", 0xA000_0000, 0xC000_0000)]
    assert p.log == ("Reserving 512MB of memory at 2560MB for crashkernel (System RAM: 8191MB)",)


def test_x86_legacy_too_big_for_low_goes_high_with_256m_low():
    p = run_x86("6.1", 4 * G)
    assert spans(p) == [("low", 0xB000_0000, 0xC000_0000), ("main", 0x1_4000_0000, 0x2_4000_0000)]
    assert p.log == ("Reserving 256MB of low memory at 2816MB for crashkernel (low RAM limit: 4096MB)",
                     "Reserving 4096MB of memory at 5120MB for crashkernel (System RAM: 8191MB)")


def test_x86_legacy_low_zero_and_failures():
    assert spans(run_x86("5.10", 512 * M, high=True, low=0)) == [("main", 0x2_2000_0000, 0x2_4000_0000)]
    assert run_x86("5.10", 64 * G).log == ("crashkernel reservation failed - No suitable area found.",)
    assert run_x86("5.10", 64 * M, base=0x10_0000 + 0x8_0000).log == (
        "crashkernel reservation failed - memory is in use.",)


def test_x86_generic_uses_256m_default_low_and_16m_alignment():
    p = run_x86("6.12", 4 * G)
    assert spans(p) == [("low", 0xB000_0000, 0xC000_0000), ("main", 0x1_4000_0000, 0x2_4000_0000)]
    assert p.log[0] == "crashkernel low memory reserved: 0xb0000000 - 0xc0000000 (256 MB)"
