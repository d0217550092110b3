"""The whole chain on layouts the lab cannot boot (test-vectors V06, V07, V11, V16, V18, V21, V44), with
the expected values derived in the comments from the rules of kernel-spec.md B.1-B.5."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kdumplab import model
from kdumplab.machine import Bank, KernelBuild, Machine
from kdumplab.presets import DEBIAN_IMAGES, qemu_virt

G, M = 1 << 30, 1 << 20


def run(machine, cmdline, kernel):
    return model.run(model.Scenario(machine, cmdline, kernel))


def m3(kernel):
    """V06/V21: 32 GiB, all above 4 GiB, no dma-ranges: the DMA limit is the end of RAM."""
    image = replace(DEBIAN_IMAGES[kernel][1], load_address=0x80_0020_0000)
    return Machine("M3", (Bank(0x80_0000_0000, 32 * G),), kernel=image)


@pytest.mark.parametrize("kernel", ["5.10", "6.1", "6.12", "7.2"])
def test_v06_all_ram_above_4g_is_all_low(kernel):
    r = run(m3(kernel), "crashkernel=512M", kernel)
    assert r.outcome.low_max == 0x88_0000_0000
    (main,) = r.outcome.regions
    assert not main.high
    cma = next(a for a in r.outcome.early if a.what == "CMA")
    if kernel == "5.10":  # CMA top-down below the limit, so just under the top allocations; crash below it
        assert main.end == cma.start
    else:  # 6.1+: CMA bottom-up above 4 GiB = at the bottom of RAM, out of the crash region's way
        assert cma.start < 0x80_1000_0000 and main.end > cma.start + 16 * G


def test_v07_5_10_without_dma_zones_reserves_early_at_the_top():
    machine = replace(qemu_virt(8 * G, kernel="5.10"), build=KernelBuild(zone_dma=False, zone_dma32=False))
    r = run(machine, "crashkernel=512M", "5.10")
    # before page tables, memmap and CMA: the very top of RAM
    assert [(x.start, x.end) for x in r.outcome.regions] == [(0x2_2000_0000, 0x2_4000_0000)]
    assert not r.deferred and r.linear_map.crash_mapped_with_pages


@pytest.mark.parametrize("kernel,log", [("5.10", ["cannot allocate crashkernel (size:0x40000000)"]),
                                        ("6.1", ["cannot allocate crashkernel (size:0x40000000)"]),
                                        ("6.12", []), ("7.2", [])])
def test_v11_size_equal_to_ram(kernel, log):
    r = run(qemu_virt(1 * G, kernel=kernel), "crashkernel=1G", kernel)
    assert list(r.outcome.log) == log and not r.outcome.regions  # 6.12+: size >= RAM is a silent -EINVAL


@pytest.mark.parametrize("kernel", ["5.10", "6.1", "6.12", "7.2"])
def test_v16_low_alone_reserves_nothing_silently(kernel):
    r = run(qemu_virt(8 * G, kernel=kernel), "crashkernel=256M,low", kernel)
    assert r.outcome.verdict.value == "none" and r.outcome.log == ()


def test_v18_rpi4_like_high_and_low():
    """1 GiB DMA limit from DT dma-ranges: the low region must come from below 1 GiB."""
    machine = Machine("rpi4-like", (Bank(0, 0x3C00_0000), Bank(0x4000_0000, 0x1_C000_0000)),
                      kernel=replace(DEBIAN_IMAGES["6.12"][1], load_address=0x20_0000), dma_address_limit=0x3FFF_FFFF)
    r = run(machine, "crashkernel=512M,high crashkernel=256M,low", "6.12")
    low, main = r.outcome.regions
    assert r.outcome.low_max == 0x4000_0000
    assert low.end <= 0x4000_0000 and low.size == 256 * M and main.start >= 0x4000_0000


def test_v21_high_with_all_ram_low_falls_back_without_low_region():
    r = run(m3("6.12"), "crashkernel=512M,high", "6.12")
    (main,) = r.outcome.regions
    assert main.end <= 0x88_0000_0000 and r.outcome.low is None


def test_v44_cma_suffix():
    assert run(qemu_virt(8 * G, kernel="6.12"), "crashkernel=512M crashkernel=256M,cma", "6.12").outcome.log == (
        "crashkernel: unrecognized char: ,",)
    r = run(qemu_virt(8 * G, kernel="7.2"), "crashkernel=512M crashkernel=256M,cma", "7.2")
    assert [(x.start, x.end) for x in r.outcome.regions] == [(0xDC00_0000, 0xFC00_0000)]
