"""Debian's 16K-page 6.12 (policy ``6.12-16k``): what the page size changes before the crash reservation.

Expected values are hand derivations from the kernel source (cited) checked against the memblock=debug
boots in tests/data/memblock/6.12-16k-*.log.gz (tests/test_early.py compares those page for page).
"""

from __future__ import annotations

from click.testing import CliRunner

from kdumplab import early, model, presets
from kdumplab.cli import main
from kdumplab.policy import for_kernel
from kdumplab.ranges import SZ_1G

M = 1 << 20


def test_release_strings_pick_the_flavour():
    assert for_kernel("6.12-16k").page_size == 16 << 10
    assert for_kernel("6.12.117+deb13-arm64-16k").name == "6.12-16k"
    assert for_kernel("6.12.117+deb13-arm64").name == "6.12"


def test_table_spans():
    """A table page holds PAGE_SIZE / 8 entries: 4K -> 2 MiB / 1 GiB, 16K -> 32 MiB / 64 GiB."""
    assert early.table_spans(4096) == (2 * M, SZ_1G)
    assert early.table_spans(16384) == (32 * M, 64 * SZ_1G)


def test_linear_map_page_tables_8g():
    """rodata_full maps all RAM with pages: 8 GiB / 32 MiB = 256 PTE pages + 1 PMD page (the boot log
    6.12-16k-8G-512M shows 257 early_pgtable_alloc calls of 16384 bytes)."""
    policy = for_kernel("6.12-16k")
    machine = presets.qemu_virt(8 * SZ_1G, kernel="6.12-16k")
    assert early.page_table_pages(policy, early.boot_memblock(policy, machine), True, 16384) == 257


def test_memmap_buffer_is_released_but_its_start_stays():
    """4 GiB: 32 sections x 32 MiB = 1 GiB buffer, 32 MiB aligned, below the page tables at the top of RAM:
    [0xfe000000, 0x13e000000); 32 x 512 KiB = 16 MiB of memmap stays at its start, the rest is freed. So
    the memmap sits just below 4 GiB, CMA (32 MiB aligned) goes below it at 0xfa000000 and a 512M crash
    region at 0xda000000 (boot log 6.12-16k-4G-512M), 32 MiB lower than with 4K pages."""
    r = model.run(model.Scenario(presets.qemu_virt(4 * SZ_1G, kernel="6.12-16k"), "crashkernel=512M", "6.12-16k"))
    memmap = next(a for a in r.outcome.early if a.what.startswith("memmap"))
    assert (memmap.start, memmap.size) == (0xFE00_0000, 16 * M)
    cma = next(a for a in r.outcome.early if a.what == "CMA")
    assert cma.start == 0xFA00_0000
    assert r.outcome.regions[0].start == 0xDA00_0000
    four_k = model.run(model.Scenario(presets.qemu_virt(4 * SZ_1G, kernel="6.12"), "crashkernel=512M", "6.12"))
    assert four_k.outcome.regions[0].start == 0xDC00_0000


def test_plan_without_cpu():
    r = CliRunner().invoke(main, ["plan", "--kernel", "6.12-16k", "--mem", "4G", "--cmdline", "crashkernel=512M",
                                  "--json"])
    assert r.exit_code == 0, r.output
    assert "0xda000000" in r.output or "3657433088" in r.output


def test_crash_kernel_swiotlb_slab_count_is_a_power_of_two():
    """kernel/dma/swiotlb.c (6.12) swiotlb_adjust_size then round_up_default_nslabs with one area: RAM/1024
    in 2 KiB slabs, segments of 128, rounded up to a power of two (768 MiB -> 384 slabs -> 512 = 1 MiB;
    recorded 6.12-16k-kt2.0.32-holdout-4G-768M "roundup to 1MB")."""
    from kdumplab.late import _bounce_nslabs

    sizes = [_bounce_nslabs(mib << 20) * 2 for mib in (1, 256, 512, 768, 1024, 1536)]
    assert sizes == [256, 256, 512, 1024, 1024, 2048]  # KiB of 2 KiB slabs


def test_16k_crash_kernel_vmcore_rounds_header_and_notes_to_16k():
    from kdumplab.crashview import CRASH_KERNELS

    assert CRASH_KERNELS["6.12-16k"].page_size == 16384


def test_recommend_takes_the_kernels_page_size():
    ok = CliRunner().invoke(main, ["recommend", "--machine", "qemu-virt", "--kernel", "6.12-16k", "--json"])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(main, ["recommend", "--machine", "qemu-virt", "--kernel", "6.12-16k", "--page-size", "4K"])
    assert bad.exit_code == 2 and "uses 16K pages" in bad.output
