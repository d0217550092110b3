"""The crash kernel under UEFI (crashview: efi_nomap_ranges, numa_nodes_seen, the no-map regions in
crash_view) and the DTB segment's size (artifacts.crash_dtb_size), by hand and against every recorded cycle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdumplab.artifacts import crash_dtb_size
from kdumplab.crashview import efi_nomap_ranges, numa_nodes_seen
from kdumplab.kexec import KexecLoad
from kdumplab.lab.cycle import load_cycle
from kdumplab.tools.verify_cycle import real_chosen
from tests.test_crashview import view

SWIOTLB_KIB = 64 << 10  # kernel/dma/swiotlb.c IO_TLB_DEFAULT_SIZE

DATA = Path(__file__).parent / "data"

# the first kernel's /proc/iomem of tests/data/cycles-uefi/6.12-kt2.0.32-uefi-plain-512M (System RAM children
# and devices cut): top-level "reserved" lines are no-map memblock regions
IOMEM = """\
04000000-07ffffff : reserved
09000000-09000fff : ARMH0011:00
40000000-13c43ffff : System RAM
  dc000000-fbffffff : Crash kernel
  139ab0000-139abffff : reserved
13c440000-13c72ffff : reserved
13c730000-13fbfffff : System RAM
13fc00000-13ffdffff : reserved
13ffe0000-13fffffff : System RAM
  13ffe0000-13fffffff : reserved
"""
NOMAP = ((0x4000000, 0x7FFFFFF), (0x13C440000, 0x13C72FFFF), (0x13FC00000, 0x13FFDFFFF))


def test_nomap_ranges_are_the_top_level_reserved_lines() -> None:
    assert efi_nomap_ranges(IOMEM) == NOMAP
    assert efi_nomap_ranges("40000000-23fffffff : System RAM\n  dc000000-fbffffff : Crash kernel\n") == ()


def test_numa_is_faked_when_the_nodes_miss_memory() -> None:
    nodes = ((0x40000000, 0x140000000, 0), (0x140000000, 0x240000000, 1))
    # 64 MiB at 0x04000000 in no node: NUMA off, one node
    assert {nid for _, _, nid in numa_nodes_seen(nodes, NOMAP)} == {0}
    # no-map memory inside the nodes (or none): the firmware's nodes stand
    assert numa_nodes_seen(nodes, ((0x13C440000, 0x13C72FFFF),)) == nodes
    assert numa_nodes_seen(nodes, ()) == nodes
    # less than 1 MiB uncovered is tolerated (numa_meminfo_cover_memory)
    assert numa_nodes_seen(nodes, ((0x3F000000, 0x3F0FEFFF),)) == nodes


def _load(usable: tuple[tuple[int, int], ...]) -> KexecLoad:
    return KexecLoad("2.0.32", True, None, (), (), 0, usable, (usable[0][1] - 0xFFF, 0x400), (), (), (), "kexec_load")


def test_nomap_memory_changes_swiotlb_memmap_and_cma_not_system_ram() -> None:
    low = _load(((0xDC000000, 0xFBFFFFFF),))
    dt, efi = view("6.12", low), view("6.12", low, nomap=NOMAP)
    # DT: low memory only, 6.12's RAM/1024 buffer; UEFI: memblock ends at 0x13ffdffff > 4 GiB: the full buffer
    assert dt.swiotlb_kib == 512 and efi.swiotlb_kib == SWIOTLB_KIB
    assert efi.iomem_lines == dt.iomem_lines == ("dc000000-fbffffff : System RAM",)
    assert efi.memtotal_kb_max == dt.memtotal_kb_max == 512 << 10
    # two more 128 MiB sections get a memmap (0x0 and 0x138000000): 2 x 2 MiB; and the bigger buffer's slot
    # array (swiotlb_init_remap, 24 bytes per 2 KiB slab, page-rounded): 768 KiB for 64 MiB, 8 KiB for 512 KiB
    assert dt.memtotal_kb - efi.memtotal_kb == (SWIOTLB_KIB - 512) + 2 * 2048 + (768 - 8)
    # 6.1 with only a high range: DT places CMA above 4 GiB; under UEFI the DMA limit is 4 GiB (memory starts
    # at 0x04000000) and nothing usable lies below it
    high = _load(((0x1EB800000, 0x22B7FFFFF),))
    assert view("6.1", high).cma_kib == 64 << 10
    assert view("6.1", high, nomap=NOMAP).cma_kib == 0


def test_hashes_count_nomap_up_to_6_8() -> None:
    # free_area_init_core's present pages (5.10, 6.1) hold no-map memory; calc_nr_kernel_pages (6.9+) does not
    big = ((0x40000000, 0x7FFFFFFF),)  # 1 GiB of no-map memory
    usable = _load(((0xDC000000, 0xFBFFFFFF),))
    assert view("5.10", usable, nomap=big).hashes_kib > view("5.10", usable).hashes_kib
    assert view("6.12", usable, nomap=big).hashes_kib == view("6.12", usable).hashes_kib


def _booted_crash_kernel(path: Path) -> bool:
    """A refused load has no crash kernel, hence no DTB segment to measure."""
    return json.loads(path.read_text()).get("capture") is not None


CYCLES = sorted(p.parent for d in ("cycles", "designs-cycles", "cycles-uefi") for p in (DATA / d).glob("*/cycle.json")
                if _booted_crash_kernel(p))


@pytest.mark.parametrize("case", CYCLES, ids=[f"{p.parent.name}/{p.name}" for p in CYCLES])
def test_dtb_size_is_the_real_segment(case: Path) -> None:
    # the crash kernel's /sys/firmware/fdt is the DTB segment kexec-tools loaded: its size, from the first
    # kernel's tree (QEMU's 1 MiB buffer, a -dtb file, or the EFI stub's), without building it
    cyc = load_cycle(case)
    chosen = real_chosen(cyc)
    ranges = len(chosen["linux,usable-memory-range"]) // 32
    size = crash_dtb_size(cyc.first_fdt, ranges, "linux,initrd-start" in chosen, cyc.kexec.append,
                          "linux,low-memory-range" in chosen)
    assert size == len(cyc.capture.fdt)
    assert any(s.bufsz == size for s in cyc.kexec.segments)


# booted through ACPI (no DMA window): the stub builds its tree from nothing; with acpi=off it amends QEMU's
UEFI = sorted(p.parent for p in (DATA / "cycles-uefi").glob("*/cycle.json") if "-dma" not in p.parent.name)


@pytest.mark.parametrize("case", UEFI, ids=[p.name for p in UEFI])
def test_efi_stub_fdt_is_the_stubs_tree_byte_for_byte(case: Path) -> None:
    # the first kernel's /sys/firmware/fdt under EDK2 ("EFI stub: Generating empty DTB"), rebuilt from its
    # command line, the firmware's values and the kernel's stub facts (5.10: initrd in the tree, libfdt 2)
    import fdt

    from kdumplab.artifacts import efi_stub_fdt, without_nops
    from kdumplab.kexec import KERNEL_KEXEC
    from kdumplab.policy import for_kernel

    cyc = load_cycle(case)
    chosen = {p.name: list(p.data) for p in fdt.parse_dtb(without_nops(cyc.first_fdt)).get_node("chosen").props
              if isinstance(p, fdt.PropWords)}

    def value(name: str) -> int:
        words = chosen[name]
        return words[0] << 32 | words[1] if len(words) == 2 else words[0]

    facts = KERNEL_KEXEC[for_kernel(cyc.first.generation, "arm64").kexec_generation]
    assert facts.efi_stub_initrd_in_dt == ("linux,initrd-start" in chosen)
    initrd = (value("linux,initrd-start"), value("linux,initrd-end")) if facts.efi_stub_initrd_in_dt else None
    ours = efi_stub_fdt(cyc.first.cmdline, system_table=value("linux,uefi-system-table"),
                        mmap_start=value("linux,uefi-mmap-start"), mmap_size=value("linux,uefi-mmap-size"),
                        desc_size=value("linux,uefi-mmap-desc-size"), desc_ver=value("linux,uefi-mmap-desc-ver"),
                        secure_boot=value("linux,uefi-secure-boot"), initrd=initrd,
                        last_comp_version=facts.efi_stub_fdt_last_comp)
    assert ours == cyc.first_fdt


def test_plan_under_uefi_runs_kexec_from_the_stub_tree_and_keeps_the_nomap_memory() -> None:
    # the model's own UEFI first kernel drives kexec and the crash kernel the same way a recorded one does
    import dataclasses

    from kdumplab import model
    from kdumplab.artifacts import efi_stub_fdt
    from kdumplab.kexec import CRASH_APPEND, KERNEL_KEXEC
    from kdumplab.lab.cycle import CRASH_APPEND as LAB_APPEND
    from kdumplab.tools.verify import scenario_for

    assert CRASH_APPEND == LAB_APPEND
    sc = dataclasses.replace(scenario_for("6.12", "4G", (), "console=ttyAMA0 panic=-1 crashkernel=512M initrd=initrd",
                                          987623, firmware="uefi"), kexec_tools="2.0.32", crash_initrd_size=987675)
    res = model.run(sc)
    assert res.kexec.loaded
    dtb = next(s for s in res.kexec.segments if s.what == "dtb")
    stub = efi_stub_fdt(sc.cmdline, last_comp_version=KERNEL_KEXEC["6.12"].efi_stub_fdt_last_comp)
    assert dtb.bufsz == crash_dtb_size(stub, 1, True, CRASH_APPEND) == 640  # as in every 4 GiB 512M UEFI cycle
    policy = res.policy
    main = res.outcome.main
    load, view = model.crash_side(policy, sc.machine, res.iomem_text, main.range, "2.0.32", 987675, base_fdt=stub,
                                  bootargs=CRASH_APPEND, efi=True)
    assert load.segments == res.kexec.segments and view == res.crash_view
    assert view.swiotlb_kib == SWIOTLB_KIB  # runtime memory above 4 GiB
    # a DT boot of the same machine: no stub tree, no no-map memory kept
    dt = model.run(dataclasses.replace(sc, machine=dataclasses.replace(scenario_for(
        "6.12", "4G", (), sc.cmdline, 987623).machine)))
    assert dt.crash_view.swiotlb_kib < SWIOTLB_KIB


@pytest.mark.parametrize("generation", ["5.10", "6.1", "6.12", "7.2"])
def test_the_stub_tree_size_in_efi_py_is_the_tree(generation: str) -> None:
    # efi.StubFacts.fdt_base (what the first kernel reserves for the stub's DT) against the tree itself
    from kdumplab.artifacts import efi_stub_fdt
    from kdumplab.efi import STUB_FACTS
    from kdumplab.kexec import KERNEL_KEXEC

    facts = KERNEL_KEXEC[generation if generation != "7.2" else "7.x"]
    for cmdline in ("x" * 55, "x" * 105, "x" * 108):  # the lab always gives one (EDK2 adds initrd=initrd)
        tree = efi_stub_fdt(cmdline, initrd=(0, 0) if facts.efi_stub_initrd_in_dt else None)
        assert len(tree) == STUB_FACTS[generation].fdt_base + (len(cmdline) + 4 & ~3)
