"""Crash kernel view against test-vectors.md Part 8 (E1, E2); derivations from kernel-spec.md E.1-E.3."""

from __future__ import annotations

from kdumplab.crashview import CRASH_KERNELS, crash_view
from kdumplab.kexec import KERNEL_KEXEC, kexec_tools, load_crash_kernel
from tests.test_kexec import HIGH, INITRD, V08


def _k3():
    return load_crash_kernel(kexec_tools("2.0.25"), KERNEL_KEXEC["6.12"], V08, HIGH, INITRD)


def test_e1_612_uses_both_pairs():
    v = crash_view(CRASH_KERNELS["6.12"], _k3())
    assert v.usable == ((0xF4000000, 0xFBFFFFFF), (0x17F000000, 0x23EFFFFFF))
    assert v.iomem_lines[0] == "f4000000-fbffffff : System RAM"
    assert v.elfcorehdr_log == "OF: fdt: Reserving 1 KiB of memory at 0x23efff000 for elfcorehdr"
    assert v.swiotlb_low_mem


def test_e2_510_first_pair_only():
    v = crash_view(CRASH_KERNELS["5.10"], _k3())
    assert v.usable == ((0x17F000000, 0x23EFFFFFF),)
    assert v.elfcorehdr_log == "Reserving 1KB of memory at 0x23efff000 for elfcorehdr"
    assert not v.swiotlb_low_mem


def _load(ranges, gen="6.12"):
    """A successful load handing the crash kernel ``ranges`` (DT order), as kexec-tools would."""
    from dataclasses import replace

    return replace(_k3(), usable_memory_ranges=tuple(ranges))


def test_swiotlb_rules_seen_in_the_recorded_cycles():
    # tests/data/cycles: 6.12-kt2.0.32-high-1G (high + default low: 64 MiB at f4000000-f8000000),
    # 6.12-kt2.0.32-plain-512M (low only: "adjusted to 0MB", 512 KiB = 512 MiB / 1024),
    # 6.1-kt2.0.32-plain-512M (low only: no swiotlb line), 6.1-kt2.0.32-high-1G (high only: no swiotlb at all)
    high_low = [(0x1FEE00000, 0x23EDFFFFF), (0xF4000000, 0xFBFFFFFF)]
    assert crash_view(CRASH_KERNELS["6.12"], _load(high_low)).swiotlb_kib == 65536
    assert crash_view(CRASH_KERNELS["6.12"], _load([(0xDC000000, 0xFBFFFFFF)])).swiotlb_kib == 512
    assert crash_view(CRASH_KERNELS["6.1"], _load([(0xDC000000, 0xFBFFFFFF)])).swiotlb_kib == 0
    only_high = crash_view(CRASH_KERNELS["6.1"], _load([(0x1F6E00000, 0x236DFFFFF)]))
    assert only_high.swiotlb_kib == 0 and not only_high.swiotlb_low_mem


def test_memtotal_estimate_by_hand():
    # 6.12, dc000000-fbffffff (512 MiB = 524288 KiB): image 34492 KiB; memmap: the range touches the 128 MiB
    # sections 0xd8000000.. 0xf8000000 = 5 sections x 2048 KiB = 10240 KiB; swiotlb 512 KiB; hashes: free
    # pages (524288 - 10240) / 4 = 128512 -> dentry 128512 >> 1 -> 65536 x 8 B = 512 KiB, inode >> 2 ->
    # 32768 x 8 B = 256 KiB; per GiB 2418 x 0.5 = 1209 KiB; fixed 627 KiB
    # -> 524288 - 34492 - 10240 - 512 - 768 - 1209 - 627 = 476440 KiB.
    # The real crash kernel (tests/data/cycles/6.12-kt2.0.32-plain-512M) had MemTotal 476680 kB and printed
    # "Dentry cache hash table entries: 65536 (order: 7, 524288 bytes" / "Inode-cache ... 32768 ... 262144".
    v = crash_view(CRASH_KERNELS["6.12"], _load([(0xDC000000, 0xFBFFFFFF)]))
    assert v.memtotal_kb_max == 524288
    assert v.hashes_kib == 768
    assert v.memtotal_kb == 476440
    assert v.cma_kib == 65536


def test_memtotal_of_510_counts_whole_gib_sections():
    # 5.10's 1 GiB sections: a 512 MiB range inside one section costs a whole 16 MiB memmap
    # (524288 - 21853 - 16384 - 0 - 768 hashes - 2052 // 2 - 362 = 483895; recorded
    # 5.10-kt2.0.32-plain-512M: 483896 kB)
    v = crash_view(CRASH_KERNELS["5.10"], _load([(0xDC000000, 0xFBFFFFFF)]))
    assert v.memtotal_kb == 483895


def test_swiotlb_halves_beside_cma_in_a_small_low_region() -> None:
    """kernel/dma/swiotlb.c swiotlb_init_remap (6.1+): the 64 MiB buffer that does not fit below the DMA limit
    is halved until it does. 96 MiB low at 0xf6000000 with CMA's 64 MiB on top leaves 32 MiB (recorded
    tests/data/cycles/7.2-kt2.0.32-high-768M-low-96M: "adjusted 32768 -> 16384 slabs"); 5.10 tries once."""
    from kdumplab import crashview, profiles

    usable = ((0xF6000000, 0xFBFFFFFF), (0x20EE00000, 0x23EDFFFFF))
    segments = ((0x20EE00000, 0x211D00000), (0x23EDFF000, 0x23EE00000))
    k72 = profiles.get("7.2").crash
    assert crashview._swiotlb_placed_kib(k72, usable, 1 << 32, 65536, 65536, segments) == 32768
    assert crashview._swiotlb_placed_kib(k72, usable, 1 << 32, 65536, 0, segments) == 65536
    k510 = profiles.get("5.10").crash
    assert crashview._swiotlb_placed_kib(k510, usable, 1 << 32, 65536, 65536, segments) == 0
