"""kdumplab.efi: EDK2's top-down page allocator, the EFI stub's rounding and placement rules (hand-derived
from libstub's mem.c/alignedmem.c/kaslr.c in Debian's linux-source-6.12 and arm64-stub.c in 5.10/6.1)."""

from __future__ import annotations

import pytest

from kdumplab import efi, presets
from kdumplab.errors import KdumplabError
from kdumplab.ranges import SZ_1G, SZ_2M, SZ_64K


def test_pages_take_the_highest_range_that_fits():
    p = efi._Pages(0x1000_0000, 0x2000_0000)
    p.take(efi.Kind.BOOT_DATA, 0x1F00_0000, 0x1F80_0000)  # leaves 8 MiB free at the top
    assert p.top_down(efi.Kind.LOADER_DATA, 0x80_0000, 0x2000_0000) == 0x1F80_0000
    assert p.top_down(efi.Kind.LOADER_DATA, 0x10_0000, 0x2000_0000) == 0x1EF0_0000  # below what is taken
    assert p.top_down(efi.Kind.LOADER_DATA, 0x10_0000, 0x1E00_0000, floor=0x1DF8_0000) is None


def test_stub_allocation_keeps_the_aligned_part_and_gives_the_slack_back():
    # efi_allocate_pages_aligned(0x2500000, 2 MiB): asks for 0x2500000 + 0x1ff000 below 0x10000000 ->
    # 0xd901000, aligned up to 0xda00000; the 0xff000 below and the 0x100000 above go back
    p = efi._Pages(0, 0x1000_0000)
    assert efi._stub_allocate(p, 0x250_0000, SZ_2M, 0x1000_0000, efi.Kind.LOADER_CODE) == 0xDA0_0000
    assert p.free == [(0, 0xDA0_0000), (0xFF0_0000, 0x1000_0000)]
    # an initrd of 987,623 bytes: 64 KiB-rounded to 1 MiB, plus 15 pages of slack: 0x10000000 - 0x10f000 =
    # 0xfef1000, aligned up to 0xff00000; the 0xf000 below goes back
    p = efi._Pages(0, 0x1000_0000)
    assert efi._stub_allocate(p, 987_623, SZ_64K, 0x1000_0000, efi.Kind.LOADER_DATA) == 0xFF0_0000
    assert p.free == [(0, 0xFF0_0000)]


@pytest.mark.parametrize(("gen", "nokaslr", "align"), [("5.10", False, SZ_64K), ("6.1", False, SZ_64K),
                                                        ("5.10", True, SZ_2M), ("6.12", False, SZ_2M),
                                                        ("7.2", False, SZ_2M)])
def test_the_alignment_the_stub_wants_without_an_rng(gen, nokaslr, align):
    got, in_place = efi.stub_nokaslr_choice(0x1_384B_0000, efi.STUB_FACTS[gen].align_after_rng, nokaslr)
    assert got == align
    assert in_place == (align == SZ_64K)


def test_random_slots_are_aligned_starts_inside_conventional_memory():
    regions = (efi.EfiRegion(efi.Kind.CONVENTIONAL, 0x4000_0000, 0x4060_0000),
               efi.EfiRegion(efi.Kind.BOOT_DATA, 0x4060_0000, 0x4080_0000),
               efi.EfiRegion(efi.Kind.CONVENTIONAL, 0x4080_0000, 0x40A1_0000))
    assert efi.stub_kernel_slots(regions, 0x20_0000, SZ_2M) == (0x4000_0000, 0x4020_0000, 0x4040_0000,
                                                               0x4080_0000)


def test_the_firmware_template_is_ordered_and_inside_its_60_mib():
    b = efi.EDK2_2022_11
    spans = sorted((hi, lo) for _, lo, hi in b.top)  # offsets below the top: (end, start)
    for (end1, start1), (end2, _) in zip(spans, spans[1:], strict=False):
        assert end1 < start1 <= end2
    assert max(lo for _, lo, _ in b.top) == b.default_top
    assert b.bin[1] < b.bin[0] <= b.default_top


def test_too_little_memory_in_the_first_node_is_one_line():
    with pytest.raises(KdumplabError, match="too little"):
        efi.edk2_boot(efi.EDK2_2022_11, (0x4000_0000, 0x4000_0000 + 0x400_0000), (), 37_730_816, 0x250_0000,
                      987_623, "6.12", "")


def test_the_map_covers_every_node_and_nothing_twice():
    m = efi.edk2_boot(efi.EDK2_2022_11, (0x4000_0000, 0x1_4000_0000), ((0x1_4000_0000, 0x2_4000_0000),),
                      37_730_816, 0x250_0000, 987_623, "6.12", "crashkernel=512M")
    ram = sorted((r.start, r.end) for r in m.regions if r.kind is not efi.Kind.MMIO)
    assert ram[0][0] == 0x4000_0000 and ram[-1][1] == 0x2_4000_0000
    assert all(a[1] == b[0] for a, b in zip(ram, ram[1:], strict=False))
    assert sum(hi - lo for lo, hi in ram) == 8 * SZ_1G


def test_compare_places_each_kernel_with_its_own_stub():
    """Under EDK2 every kernel row runs on its own machine: the stub places each Image differently (5.10/6.1
    in place at 64 KiB, 6.12/7.2 moved to 2 MiB, each below its own PE image). Expected: the crash regions the
    real 3 GiB boots reserved (tests/data/boots-uefi/<kernel>-uefi-3G-512M)."""
    import json
    from pathlib import Path

    from click.testing import CliRunner

    from kdumplab.cli import main

    r = CliRunner().invoke(main, ["compare", "--firmware", "uefi", "--mem", "3G", "--cmdline", "crashkernel=512M",
                                  "--json"])
    assert r.exit_code in (0, 1, 3), r.output
    doc = json.loads(r.output)
    assert doc["firmware"] == "uefi"
    boots = Path(__file__).parent / "data" / "boots-uefi"
    for row in doc["rows"]:
        case = boots / f"{row['policy']}-uefi-3G-512M" / "case.json"
        if not case.exists():
            continue
        real = json.loads(case.read_text())["crash_regions"][0]
        assert f"main {real['start']:#x}-{real['end'] - 1:#x}" in row["reserved"], row["policy"]


# EDK2's own page tables (ArmPkg ArmMmuLib through PEI and DXE) against where the memory attributes table really
# sat: two pages higher than the build's offsets (read on whole-GiB first nodes of 2 GiB or more) on first nodes of
# 1, 1.5 and 2.5 GiB (tests/data/boots-uefi/*-1G-128M, *-2560M-fixed, *-numa-1G1G1G-*), as measured on 3.5 GiB and
# NUMA 1.5+2.5 (held out, holdout2-*), one page higher with a 1 GiB first node beside a 1.5 GiB one (held out:
# the case that showed DXE's tables for the other nodes).
@pytest.mark.parametrize(("nodes", "pei_extra", "dxe_pages"), [
    (("4G",), False, 2),            # the calibration shape
    (("2G",), False, 2),
    (("1536M",), True, 0),           # 5.10/6.12 1G-128M (QEMU -m 1536M) and the efi=debug map 6.1-u-dbg-1536M-128M
    (("2560M",), True, 0),           # 6.1/6.12 2560M-fixed
    (("3584M",), True, 0),           # holdout2 3.5 GiB
    (("1G", "1G", "1G"), False, 0),  # numa-1G1G1G: the top GiB holds PEI's own tables
    (("1536M", "2560M"), True, 0),   # holdout2 NUMA: the second node's partial GiB is the first node's
    (("1G", "1536M"), False, 1),     # holdout2 NUMA: one more table for the second node's partial GiB
    (("2G", "2G"), False, 2),
])
def test_edk2_page_tables(nodes: tuple[str, ...], pei_extra: bool, dxe_pages: int):
    from kdumplab.ranges import parse_size

    banks, start = [], 0x4000_0000
    for n in nodes:
        banks.append((start, start + parse_size(n, "node")))
        start = banks[-1][1]
    assert efi.pei_table_gibs(*banks[0])[0] is pei_extra
    assert efi.dxe_table_pages(*banks[0], tuple(banks[1:])) == dxe_pages


# The tree the kernel unflattens under acpi=off, against its size in the memblock=debug boots' first
# early_init_dt_alloc_memory_arch line (tests/data/boots-uefi/*-u-cal-dma1G-*, 7.2-u-dbg-dma1G-*): the DT boot's
# tree plus this many struct property (5.10: 88 bytes, 6.12: 104, 7.2: 112), dma-ranges included.
@pytest.mark.parametrize(("kernel", "unflattened", "initrd_in_dt"), [
    ("5.10", 36_396, True), ("6.12", 43_004, False), ("7.2", 45_276, False)])
def test_acpi_off_tree_properties(kernel: str, unflattened: int, initrd_in_dt: bool):
    from kdumplab import policy

    early = policy.for_kernel(kernel).early
    extra = 1 + efi.handed_dt_extra_properties(efi.EDK2_2022_11_DT, True, True, initrd_in_dt)
    assert early.dt_unflatten + extra * early.dt_per_property == unflattened


@pytest.mark.parametrize("gen, table_below", [
    ("6.12", "Boot Data"),  # 4K: the bin has room; the hole above the table is filled by the next boot-data page
    ("6.12-16k", "Loader Data"),  # 16K: the bin is full; the stub's pool page (default memory) takes the hole
])
def test_a_rebuilt_memory_attributes_table_sits_below_whatever_filled_its_copys_hole(gen: str, table_below: str):
    """A long command line (105 characters, as the calibration boots) makes EDK2 rebuild the table into a fresh
    pool page: MdeModulePkg/Core/Dxe/Misc/MemoryAttributesTable.c InstallMemoryAttributesTable allocates a
    copy of the memory map first (on 16K over 2688 bytes with its pool head: whole pages, Pool.c), then the table,
    then frees the copy. Pages go top down, so the copy's page sits right above the table's and is the next
    page handed out: to a boot-data pool on 4K (the bin), to the stub's loader-data pool page on 16K, whose
    Image fills the bin (6.12-16k-u-cal-16k-4G: MEMATTR=0x13c410018 right below that page at 0x13c411000)."""
    cmdline = ("console=ttyAMA0 panic=-1 earlycon=pl011,0x9000000 memblock=debug efi=debug crashkernel=512M "
               "initrd=initrd")
    m = efi.edk2_boot(efi.EDK2_2022_11, (0x4000_0000, 0x1_4000_0000), (), presets.DEBIAN_IMAGE_FILE_SIZES[gen],
                      presets.DEBIAN_IMAGES[gen][1].image_size, 987_623, gen, cmdline)
    page = m.memattr[0] - efi.POOL_HEAD
    assert page % 4096 == 0
    (above,) = [r for r in m.regions if r.start <= page + 4096 < r.end]
    assert above.kind.value == table_below
    if gen.endswith("16k"):
        assert m.memreserve[0] - 0xF98 == page + 4096 == 0x1_3C41_1000


# EDK2's image protection (efi.image_protection_splits), derived by hand from 6.1's section table (.text at
# 0x10000, .data at 0x1740000, SizeOfImage 0x2010000) and where EDK2 put it on 4 GiB under acpi=off: the
# allocation [0x1384bd000, 0x13a4dd000), the image at 0x1384c0000, so .data starts at 0x139c00000, a 2 MiB
# boundary (tests/data/boots-uefi/6.1-uefi-dma1G-4G-512M, the table a page higher than with one split).
_IMAGE_61 = 0x201_0000


@pytest.mark.parametrize(("base", "splits"), [
    (0x1_384c_0000, 0),  # .data on a 2 MiB boundary: nothing to split (the 4 recordings that differed)
    (0x1_384b_0000, 1),  # 64 KiB lower: .data's block split
    (0x1_37cc_0000, 0),  # 6.1-u-split0-dma1G-4G-512M (an 8 MB initrd: .data at 0x139400000)
    (0x1_37de_0000, 1),  # 6.1-u-split1-dma1G-4G-512M
])
def test_image_protection_splits_61(base: int, splits: int):
    alloc = (base - 0x3000, base - 0x3000 + _IMAGE_61 + SZ_64K)
    assert efi.image_protection_splits(alloc, (base, base + _IMAGE_61), SZ_64K, 0x174_0000) == splits


def test_image_protection_splits_blocks_the_allocation_split_are_not_counted_again():
    # an allocation ending on 2 MiB boundaries splits nothing itself, so the image's first and last blocks are
    # split by the protection (headers XP below .text, .data XP up to SizeOfImage): 3 with .data unaligned
    base = 0x1_3800_0000
    alloc = (base, base + 0x220_0000)
    assert efi.image_protection_splits(alloc, (base, base + _IMAGE_61), SZ_64K, 0x174_0000) == 3
    # the section table not read: the one split every calibration boot had
    assert efi.image_protection_splits(alloc, (base, base + _IMAGE_61), SZ_64K, 0) == 1
