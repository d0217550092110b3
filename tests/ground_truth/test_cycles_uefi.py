"""Every recorded full kdump cycle under UEFI (tests/data/cycles-uefi/*/) against the model.

EDK2 starts the first kernel through its EFI stub with ACPI; kexec-tools copies the stub's device tree
(/sys/firmware/fdt: bootargs and the linux,uefi-* properties only) into the crash kernel's, which boots through
ACPI, reads the same EFI memory map and keeps its no-map regions besides linux,usable-memory-range. The model
is driven from the recorded first kernel (its /proc/iomem, crash region and /sys/firmware/fdt:
``verify_cycle.uefi_crash_side``); the real side is read here from the raw evidence: the segment listing
kexec-tools printed, the crash kernel's device tree (its /chosen, with the ``fdt`` library: under ACPI there is
no /proc/device-tree), its /proc/iomem and dmesg, and /proc/vmcore's program headers (pyelftools).

Recorded with `kdumplab lab suite tests/data/suites/cycles-uefi.toml --jobs 1 --record tests/data/cycles-uefi`.
"""

from __future__ import annotations

import io
import re
from functools import cache
from pathlib import Path

import fdt
import pytest
from elftools.elf.elffile import ELFFile

from kdumplab.artifacts import crash_dtb, crash_dtb_size, elfcorehdr_bytes, without_nops
from kdumplab.lab.cycle import load_cycle
from kdumplab.tools.verify_cycle import uefi_crash_side

DATA = Path(__file__).parent.parent / "data" / "cycles-uefi"
CASES = sorted(p for p in DATA.glob("*") if (p / "cycle.json").is_file())
LOADED = [p for p in CASES if load_cycle(p).capture is not None]
IDS = [p.name for p in LOADED]


@cache
def _run(case: Path):  # noqa: ANN202
    cyc = load_cycle(case)
    return cyc, *uefi_crash_side(cyc)


def _chosen(blob: bytes) -> dict[str, list[int]]:
    tree = fdt.parse_dtb(without_nops(blob))
    return {p.name: list(p.data) for p in tree.get_node("chosen").props if isinstance(p, fdt.PropWords)}


def _pairs(words: list[int]) -> list[tuple[int, int]]:
    vals = [words[i] << 32 | words[i + 1] for i in range(0, len(words), 2)]
    return [(vals[i], vals[i] + vals[i + 1] - 1) for i in range(0, len(vals), 2)]


def test_the_shapes_are_covered() -> None:
    names = {p.name for p in CASES}
    for kernel in ("5.10", "6.1", "6.12", "7.2"):
        assert f"{kernel}-kt2.0.32-uefi-plain-512M" in names
    assert any(n.startswith("6.12-16k-") for n in names) and any("numa" in n for n in names)
    assert len(CASES) >= 16


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_segments_where_kexec_tools_put_them(case: Path) -> None:
    cyc, load, _ = _run(case)
    assert load.loaded == cyc.kexec.loaded
    real = [(s.mem, s.memsz) for s in cyc.kexec.segments]
    assert [(s.start, s.size) for s in load.segments] == real
    if not cyc.kexec.loaded:  # 2.0.20 with two Crash kernel entries, as on the DT boot
        assert load.error[0] in cyc.kexec.output


@pytest.mark.parametrize("case", LOADED, ids=IDS)
def test_the_dtb_is_the_stub_tree_as_kexec_tools_rewrites_it(case: Path) -> None:
    cyc, load, _ = _run(case)
    # the EFI stub's tree: no memory node, the EFI system table and memory map in /chosen
    first = _chosen(cyc.first_fdt)
    assert {"linux,uefi-system-table", "linux,uefi-mmap-start", "linux,uefi-mmap-size"} <= set(first)
    assert not fdt.parse_dtb(without_nops(cyc.first_fdt)).exist_node("memory")
    real = _chosen(cyc.capture.fdt)
    assert _pairs(real["linux,usable-memory-range"]) == list(load.usable_memory_ranges)
    addr, size = load.elfcorehdr
    assert _pairs(real["linux,elfcorehdr"]) == [(addr, addr + size - 1)]
    for name in ("linux,uefi-system-table", "linux,uefi-mmap-start", "linux,uefi-mmap-size"):
        assert real[name] == first[name]  # handed on unchanged: the crash kernel reads the same EFI memory map
    ours = crash_dtb(cyc.first_fdt, load, cyc.kexec.append)
    assert sorted(_chosen(ours).items()) == sorted(real.items())
    # the DTB segment's bytes: the packed tree, counted without building it
    dtb = next(s for s in cyc.kexec.segments if s.bufsz == len(cyc.capture.fdt))
    assert crash_dtb_size(cyc.first_fdt, len(load.usable_memory_ranges), True, cyc.kexec.append) == dtb.bufsz


def _node_ranges(dmesg: str) -> list[tuple[int, int]]:
    return [(int(a, 16), int(b, 16)) for a, b in
            re.findall(r"node +\d+: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]", dmesg)]


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


@pytest.mark.parametrize("case", LOADED, ids=IDS)
def test_the_crash_kernel_keeps_the_efi_nomap_regions(case: Path) -> None:
    cyc, _, view = _run(case)
    nomap = [(int(a, 16), int(b, 16)) for a, b in re.findall(r"^([0-9a-f]+)-([0-9a-f]+) : reserved$", cyc.first.iomem,
                                                             re.M)]
    assert nomap, "the first kernel under UEFI has top-level reserved (no-map) memory"
    # its memblock: what it may use plus every no-map region (its own "Early memory node ranges")
    assert _merged(_node_ranges(cyc.capture.dmesg)) == _merged([*view.usable, *nomap])
    # shown again as top-level reserved lines; System RAM is exactly the usable ranges
    again = re.findall(r"^([0-9a-f]+)-([0-9a-f]+) : reserved$", cyc.capture.iomem, re.M)
    assert [(int(a, 16), int(b, 16)) for a, b in again] == nomap
    ram = [x for x in cyc.capture.iomem.splitlines() if x.endswith(": System RAM") and not x.startswith(" ")]
    assert ram == list(view.iomem_lines)


@pytest.mark.parametrize("case", LOADED, ids=IDS)
def test_crash_kernel_memory(case: Path) -> None:
    cyc, _, view = _run(case)
    assert cyc.capture.memtotal_kb <= view.memtotal_kb_max
    # its own boot (crashboot.py): the 4K kernels within a page, the 16K one within two (32 KiB)
    assert abs(cyc.capture.memtotal_kb - view.memtotal_kb) <= 2 * view.boot.machine.page_size // 1024
    m = re.search(r"software IO TLB: mapped \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]", cyc.capture.dmesg)
    assert view.swiotlb_kib == ((int(m.group(2), 16) - int(m.group(1), 16)) // 1024 if m else 0)
    # (memblock ones, "linear"; with memory on two NUMA nodes they are vmalloc'd after mm_init: hashdist)
    hashes = re.findall(r"(?:Dentry cache|Inode-cache) hash table entries: \d+ \(order: \d+, (\d+) bytes, (\w+)",
                        cyc.capture.dmesg)
    assert len(hashes) == 2 and sum(int(b) for b, how in hashes if how == "linear") // 1024 == view.hashes_kib
    areas = re.findall(r"cma: Reserved (\d+) MiB at 0x([0-9a-f]+)", cyc.capture.dmesg)
    assert sum(int(mib) << 10 for mib, _ in areas) == view.cma_kib
    assert re.search(rf"\] {re.escape(view.elfcorehdr_log)}\r?$", cyc.capture.dmesg, re.M)


def _loads(blob: bytes) -> list[tuple[int, int]]:
    elf = ELFFile(io.BytesIO(blob))
    return [(p["p_paddr"], p["p_memsz"]) for p in elf.iter_segments() if p["p_type"] == "PT_LOAD"]


@pytest.mark.parametrize("case", LOADED, ids=IDS)
def test_vmcore(case: Path) -> None:
    cyc, load, view = _run(case)
    real, ours = _loads(cyc.capture.vmcore_head), _loads(elfcorehdr_bytes(load))
    if ours[0][1] > 1 << 60:  # Debian 6.1 without _text, kexec-tools >= 2.0.25: the kernel-text header wraps
        assert ours[1:] == real[1:] and cyc.capture.vmcore_size > 1 << 60
        return
    assert ours == real
    assert view.vmcore_size == cyc.capture.vmcore_size


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_end_to_end_from_the_uefi_boot_model(case: Path) -> None:
    # the model's own first kernel under EDK2 (kdumplab.efi: memory map, stub placement, the cycle's big
    # initrd) instead of the recorded one, then kexec and the crash kernel: the same recorded result
    import dataclasses

    from kdumplab.tools.verify import qemu_cpus, run_pinned, scenario_for
    from kdumplab.tools.verify_cycle import compare_cycle

    cyc = load_cycle(case)
    f = cyc.first
    sc = scenario_for(f.generation, f.mem, tuple(f.numa), f.cmdline, f.provenance.initrd_size, f.dma_window,
                      f.provenance.dtb_size, f.firmware, cpus=qemu_cpus(f.provenance.qemu_cmdline))
    sc = dataclasses.replace(sc, kexec_tools=cyc.kexec.version, crash_initrd_size=cyc.kexec.crash_initrd_size)
    result = run_pinned(sc, f.iomem)
    bad = [(c.field, c.model, c.real) for c in compare_cycle(result, cyc) if not c.ok]
    assert not bad
