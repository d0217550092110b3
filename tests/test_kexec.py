"""kexec-tools model (kdumplab.kexec) against the real thing.

Three kinds of expected values:
- every recorded ``kexec -p -d`` run under tests/data/cycles (four releases x four kernels), read back with
  the small extractor below (not kdumplab.lab): segments, entry, PT_LOAD headers, page_offset, phys_offset,
  memory map, exit status;
- test-vectors.md Part 7 (K1-K10), whose derivations were re-checked against the kexec-tools sources
  (2.0.20 git tag, Debian 2.0.25/2.0.29/2.0.32) and corrected where they were wrong (see docs/kexec.md);
- hand derivations from the named source function, written beside each test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdumplab.errors import KdumplabError
from kdumplab.firmware_fdt import qemu_cpu_bytes
from kdumplab.kexec import (
    KERNEL_KEXEC,
    KEXEC_TOOLS,
    KexecInputs,
    debug_segment_lines,
    kexec_tools,
    load_crash_kernel,
    parse_iomem_lines,
    verdict,
)
from kdumplab.ranges import PhysRange

MIB = 1 << 20
K612 = KERNEL_KEXEC["6.12"]
INITRD = KexecInputs(initrd_size=30 * MIB)


def iomem(*crash: tuple[int, int]) -> str:
    lines = [
        "40000000-23fffffff : System RAM",
        "  40210000-41a1ffff : Kernel code",
        "  41a20000-4234ffff : Kernel data",
    ]
    lines += [f"  {s:x}-{e:x} : Crash kernel" for s, e in crash]
    return "\n".join(lines) + "\n"


V01 = iomem((0xDC000000, 0xFBFFFFFF))
V08 = iomem((0xF4000000, 0xFBFFFFFF), (0x17F000000, 0x23EFFFFFF))
HIGH = PhysRange(0x17F000000, 0x23F000000)


def seg(load, what):
    return next(s.start for s in load.segments if s.what == what)


def test_k1_single_region_all_versions():
    for v in ("2.0.20", "2.0.25", "2.0.29", "2.0.32"):
        load = load_crash_kernel(kexec_tools(v), K612, V01, PhysRange(0xDC000000, 0xFC000000), INITRD)
        assert load.loaded, load.error
        assert seg(load, "kernel") == 0xDC000000
        assert seg(load, "initrd") == 0xDE400000
        assert seg(load, "dtb") == 0xE0200000
        assert load.elfcorehdr == (0xFBFFF000, 0x400)
        assert len(load.phdrs) == 12
        assert load.usable_memory_ranges == ((0xDC000000, 0xFBFFFFFF),)


def test_k2_kt2020_two_regions_refused():
    load = load_crash_kernel(kexec_tools("2.0.20"), K612, V08, HIGH, INITRD)
    assert not load.loaded
    assert load.error[0] == "kexec_load failed: Cannot assign requested address"
    assert seg(load, "kernel") == 0xF4000000 and seg(load, "initrd") == 0xF6400000 and seg(load, "dtb") == 0xF8200000
    assert load.usable_memory_ranges == ((0xF4000000, 0xFBFFFFFF),)
    loads = [(p.paddr, p.paddr + p.size - 1) for p in load.phdrs if p.type == "PT_LOAD"][1:]
    assert loads == [(0x40000000, 0xF3FFFFFF), (0xFC000000, 0x23FFFFFFF)]
    assert "refuses" in verdict(load)


def test_k3_kt2025_two_regions_loads_high():
    for v in ("2.0.25", "2.0.29", "2.0.32"):
        load = load_crash_kernel(kexec_tools(v), K612, V08, HIGH, INITRD)
        assert load.loaded, load.error
        assert seg(load, "kernel") == 0x17F000000 and seg(load, "initrd") == 0x181400000
        assert seg(load, "dtb") == 0x183200000
        assert load.elfcorehdr == (0x23EFFF000, 0x400) and len(load.phdrs) == 13
        assert load.usable_memory_ranges == ((0x17F000000, 0x23EFFFFFF), (0xF4000000, 0xFBFFFFFF))


def test_low_name_is_ignored():
    text = V08.replace("f4000000-fbffffff : Crash kernel", "f4000000-fbffffff : Crash kernel (low)")
    load = load_crash_kernel(kexec_tools("2.0.20"), K612, text, HIGH, INITRD)
    assert load.loaded and load.usable_memory_ranges == ((0x17F000000, 0x23EFFFFFF),)


def test_k5_exact_fit_rejected():
    """kexec-arm64.c arm64_locate_kernel_segment compares hole+text_offset+image_size (exclusive) with the
    region's inclusive end; a locate_hole failure dies in kexec.c add_buffer_phys_virt (exit 1, no "Cannot
    load" line after it)."""
    text = iomem((0x80000000, 0x823FFFFF))
    load = load_crash_kernel(kexec_tools("2.0.25"), K612, text, PhysRange(0x80000000, 0x82400000), KexecInputs())
    assert load.error == ("kexec: load failed.", "Cannot load Image")
    text = iomem((0x80000000, 0x824FFFFF))
    r37 = PhysRange(0x80000000, 0x82500000)
    load = load_crash_kernel(kexec_tools("2.0.25"), K612, text, r37, KexecInputs())
    assert load.loaded and seg(load, "dtb") == 0x82400000 and load.elfcorehdr[0] == 0x824FF000
    load = load_crash_kernel(kexec_tools("2.0.25"), K612, text, r37, INITRD)
    assert load.error == ("Could not find a free area of memory of 0x1e00000 bytes...", "locate_hole failed")
    assert load.exit_status == 1


def test_k6_cells():
    load = load_crash_kernel(kexec_tools("2.0.25"), K612, V08, HIGH, KexecInputs(address_cells=1, size_cells=1))
    assert load.error[:2] == ("kexec: elfcorehdr doesn't fit cells-size.", "kexec: setup_2nd_dtb failed.")


def test_k7_file_only():
    inp = KexecInputs(mode="-s")
    assert load_crash_kernel(kexec_tools("2.0.20"), K612, V01, None, inp).error == (
        "kexec_file_load failed: Function not implemented",
    )
    assert load_crash_kernel(kexec_tools("2.0.32"), K612, V01, None, inp).error == (
        "syscall kexec_file_load not available.",
    )


def test_k9_40_ram_lines():
    lines = [
        f"{0x40000000 + i * 0x10000000:x}-{0x40000000 + i * 0x10000000 + 0xFFFFFFF:x} : System RAM" for i in range(40)
    ]
    s = 0x40000000 + 34 * 0x10000000
    lines.insert(35, f"  {s:x}-{s + 0x7FFFFFF:x} : Crash kernel")
    load = load_crash_kernel(kexec_tools("2.0.20"), K612, "\n".join(lines), PhysRange(s, s + 0x8000000), KexecInputs())
    assert load.error[0] == "Memory for crashkernel is not reserved"
    assert load_crash_kernel(
        kexec_tools("2.0.25"), K612, "\n".join(lines), PhysRange(s, s + 0x8000000), KexecInputs()
    ).loaded


def test_parse_skips_leading_spaces():
    assert [ln.name for ln in parse_iomem_lines(V01)] == ["System RAM", "Kernel code", "Kernel data", "Crash kernel"]


@given(st.integers(0x100, 0x1F0), st.integers(80, 512), st.integers(0, 40), st.booleans())
def test_segments_inside_load_region(start_mib: int, size_mib: int, initrd_mib: int, two: bool):
    start = start_mib * 16 * MIB
    crash = [(start, start + size_mib * MIB - 1)]
    if two:
        crash.insert(0, (0x48000000, 0x4FFFFFFF))
    region = PhysRange(crash[-1][0], crash[-1][1] + 1)
    inp = KexecInputs(initrd_size=initrd_mib * MIB or None)
    for v in ("2.0.25", "2.0.29", "2.0.32"):
        load = load_crash_kernel(kexec_tools(v), K612, iomem(*crash), region, inp)
        assert load.loaded, load.error
        segs = sorted(load.segments, key=lambda s: s.start)
        for a, b in zip(segs, segs[1:], strict=False):
            assert a.start + a.size <= b.start
        for s in segs:
            assert s.start % 0x1000 == 0 and region.contains(PhysRange(s.start, s.start + s.size))


def test_k10_non_root_zeroed_iomem():
    """kexec-tools 2.0.32 crashdump-arm64.c iomem_range_callback: duplicate test also hits empty slots."""
    text = "00000000-00000000 : System RAM\n  00000000-00000000 : Crash kernel\n"
    load = load_crash_kernel(kexec_tools("2.0.32"), K612, text, None, KexecInputs())
    assert load.output[0] == "Warning, the range already exists in usablemem_rgns, base=0, length=1"
    assert load.error[1] == "Memory for crashkernel is not reserved"
    assert load_crash_kernel(kexec_tools("2.0.20"), K612, text, None, KexecInputs()).error[0] == (
        "Memory for crashkernel is not reserved"
    )
    assert load_crash_kernel(kexec_tools("2.0.25"), K612, text, None, KexecInputs()).error == (
        "kexec: load failed.",
        "Cannot load Image",
    )


def test_kernel_start_corrected_to_text_from_2024():
    """kexec-tools 2.0.32 crashdump-arm64.c iomem_range_callback (Kernel code branch); 2.0.20 per spec D.2/D.6."""
    inp = KexecInputs(stext_minus_text=0x10000, init_begin_minus_stext=0x41A1FFFF + 1 - 0x40210000)
    for v, start in (("2.0.32", 0x40200000), ("2.0.20", 0x40210000)):
        load = load_crash_kernel(kexec_tools(v), K612, V01, PhysRange(0xDC000000, 0xFC000000), inp)
        kernel_load = next(p for p in load.phdrs if p.type == "PT_LOAD")
        assert kernel_load.paddr == start and kernel_load.paddr + kernel_load.size == 0x42350000


# --------------------------------------------------------------------------------------------------------
# recorded real runs: tests/data/cycles/<kernel>-kt<version>-<case>/{cycle.json, serial.log.gz}

CYCLES = Path(__file__).parent / "data" / "cycles"
CASES = sorted(p.parent.name for p in CYCLES.glob("*/cycle.json"))


def _hexes(pattern: str, text: str) -> list[tuple[int, ...]]:
    found = re.findall(pattern, text, re.M)
    return [tuple(int(x, 16) for x in ((m,) if isinstance(m, str) else m)) for m in found]


def _recorded(name: str) -> dict:
    """The run's facts, read straight from the `kexec -p -d` text kept in cycle.json."""
    d = json.loads((CYCLES / name / "cycle.json").read_text())
    out = d["kexec"]["output"]
    sym = {k: int(v, 16) for k, v in re.findall(r"^kernel symbol (\S+) vaddr = +([0-9a-f]+)$", out, re.M)}
    first_dump = out.split("kexec_load: entry = ", 1)[-1].split("kexec_load failed")[0]
    return {
        "d": d,
        "out": out,
        "sym": sym,
        "entry": _hexes(r"^kexec_load: entry = 0x([0-9a-f]+) flags = 0x([0-9a-f]+)$", out),
        "segments": _hexes(r"^segment\[\d+\]\.bufsz = 0x([0-9a-f]+)\nsegment\[\d+\]\.mem   = 0x([0-9a-f]+)\n"
                           r"segment\[\d+\]\.memsz = 0x([0-9a-f]+)$", first_dump if "kexec_load: entry" in out else ""),
        "loads": _hexes(r"header: p_type = 1, p_offset = 0x[0-9a-f]+ p_paddr = 0x([0-9a-f]+) "
                        r"p_vaddr = 0x([0-9a-f]+) p_filesz = 0x([0-9a-f]+)", out),
        "page_offset": _hexes(r"^load_crashdump_segments: page_offset:\s+([0-9a-f]+)$", out),
        "phys_offset": _hexes(r"^image_arm64_load: phys_offset:\s+([0-9a-f]+)$", out),
        "vmcoreinfo": _hexes(r"phys_offset : ([0-9a-f]+) \(method : vmcoreinfo pt_note\)", out),
        "image": _hexes(r"^image_arm64_load: image_size:\s+([0-9a-f]+)$", out),
        "kernel_size": _hexes(r"^kernel: 0x[0-9a-f]+ kernel_size: 0x([0-9a-f]+)$", out),
        "dtb": _hexes(r"^dtb:    base [0-9a-f]+, size ([0-9a-f]+)h", out),
        "va_bits": [int(x) for x in re.findall(r"^va_bits : (\d+)$", out, re.M)],
        "cpus": len(re.findall(r"^get_crash_notes_per_cpu: ", out, re.M)),
        "memmap": _hexes(r"^([0-9a-f]{16})-([0-9a-f]{16}) \(0\)$", out.split("System RAM ranges;\n", 1)[1].split(
            "elf_arm64_probe")[0]) if "System RAM ranges;" in out else None,
    }


def _model(rec: dict, dtb_from_log: bool):
    d, sym = rec["d"], rec["sym"]
    gen = d["first"]["generation"]
    gen = "7.x" if gen.startswith("7.") else gen
    page = 16384 if gen.endswith("-16k") else 4096  # getpagesize() of the running kernel
    kw: dict = {"text_in_kallsyms": "_text" in sym}
    if "_stext" in sym and "__init_begin" in sym:
        kw["init_begin_minus_stext"] = sym["__init_begin"] - sym["_stext"]
        text = sym.get("_text", sym["_stext"])  # unknown _text: only _stext matters then
        kw |= {"kernel_text_vaddr": text, "stext_minus_text": sym["_stext"] - text}
    elif "_text" in sym:
        kw["kernel_text_vaddr"] = sym["_text"]
    if rec["vmcoreinfo"]:
        v = rec["vmcoreinfo"][0][0]
        kw["vmcoreinfo_phys_offset"] = v - (1 << 64) if v >> 63 else v
    if rec["va_bits"]:
        kw["va_bits"] = rec["va_bits"][0]
    if rec["image"]:
        kw["image_size"] = rec["image"][0][0]
    if rec["kernel_size"]:
        kw["kernel_file_size"] = rec["kernel_size"][0][0]
    if dtb_from_log and rec["dtb"]:
        kw["dtb_size"] = rec["dtb"][0][0] - 16 * (len(d["first"]["crash_regions"]) - 1)
    elif rec["cpus"] > 1:  # -smp N: QEMU's tree has a cpu node and a cpu-map core per CPU (firmware_fdt)
        kw["dtb_size"] = KexecInputs().dtb_size + qemu_cpu_bytes(rec["cpus"])
    inputs = KexecInputs(initrd_size=d["kexec"]["crash_initrd_size"], possible_cpus=rec["cpus"] or 1,
                         page_size=page, **kw)
    regions = d["first"]["crash_regions"]
    top = max(regions, key=lambda r: r["start"]) if regions else None  # crashk_res: the main (highest) region
    crashk = PhysRange(top["start"], top["end"]) if top else None
    return load_crash_kernel(kexec_tools(d["kexec"]["version"]), KERNEL_KEXEC[gen], d["first"]["iomem"], crashk,
                             inputs)


def test_recorded_runs_are_there():
    assert len(CASES) >= 54  # the corpus is in the repository: a missing one is a failure, not a skip


@pytest.mark.parametrize("name", CASES)
def test_recorded_kexec_runs(name: str):
    """Segments (mem, memsz, bufsz), entry, flags, PT_LOAD headers, page_offset, phys_offset, the 2.0.24+
    memory map, the not-reserved/refused outcome and the exit status of every recorded run. The DTB size is
    an input (the running kernel's tree): 7750 bytes with one usable range on -M virt; the NUMA machines'
    trees are bigger, and so are the trees QEMU loads from a -dtb file (DMA windows: 8017 bytes), so for
    them it is read from the log, as for the crash command lines other than the lab's (*-append-*: bootargs)."""
    rec = _recorded(name)
    load = _model(rec, dtb_from_log="numa" in name or "-dma" in name or "-append-" in name)
    d = rec["d"]
    assert load.loaded == d["kexec"]["loaded"]
    assert load.exit_status == d["kexec"]["rc"]
    assert [(s.bufsz, s.start, s.size) for s in load.segments] == rec["segments"]
    if rec["entry"]:
        assert (load.entry, load.flags) == rec["entry"][0]
    assert [(p.paddr, p.vaddr, p.size) for p in load.phdrs if p.type == "PT_LOAD"] == rec["loads"]
    if rec["page_offset"]:
        assert load.page_offset == rec["page_offset"][0][0]
    if rec["phys_offset"]:
        assert load.phys_offset == rec["phys_offset"][0][0]
    if rec["memmap"] is not None:
        assert list(load.memory_map) == rec["memmap"]
    for line in load.output:  # every line the model prints without -d is in the real output
        if not line.startswith(("segment[", "nr_segments", "entry ")):
            assert line in rec["out"].splitlines(), line


def test_recorded_debug_listing_matches_model_lines():
    """debug_segment_lines renders kexec.c print_segments in the recorded format (pointers aside)."""
    name = "6.12-kt2.0.32-high-1G"
    if name not in CASES:
        pytest.skip(f"{name} not recorded")
    rec = _recorded(name)
    real = [ln for ln in rec["out"].splitlines() if not ln.startswith("segment[") or ".buf " not in ln]
    model = [ln for ln in debug_segment_lines(_model(rec, False)) if ".buf " not in ln]
    start = real.index(model[0])
    assert real[start:start + len(model)] == model


# --------------------------------------------------------------------------------------------------------
# behaviours the recordings do not reach: hand derivations from the named source


RAM8G = "40000000-23fffffff : System RAM\n  40200000-41f2ffff : Kernel code\n  42240000-426fffff : Kernel data\n"


def test_page_offset_per_release():
    """2.0.20 crashdump-arm64.c get_kernel_page_offset: the highest clear bit of _text at or below 48 (bit 46 of
    0xffff800080000000) -> 0xffffc00000000000 on 48- and 52-bit kernels alike. 2.0.24+ kexec-arm64.c
    get_page_offset: _text above -(1 << (va_bits-1)) -> -(1 << va_bits): 0xfff0000000000000 (52) or
    0xffff000000000000 (48). Unreadable _text: all ones (2.0.20) or 0 (2.0.24+, the call fails)."""
    text = iomem((0xDC000000, 0xFBFFFFFF))
    region = PhysRange(0xDC000000, 0xFC000000)
    for kernel, v, want in (("6.12", "2.0.20", 0xFFFFC00000000000), ("5.10", "2.0.20", U64),
                            ("6.12", "2.0.32", 0xFFF0000000000000), ("5.10", "2.0.25", 0)):
        load = load_crash_kernel(kexec_tools(v), KERNEL_KEXEC[kernel], text, region, KexecInputs())
        assert load.page_offset == want, (kernel, v)
    load = load_crash_kernel(kexec_tools("2.0.25"), K612, text, region, KexecInputs(va_bits=48))
    assert load.page_offset == 0xFFFF000000000000
    assert "Can't get the symbol of _text to calculate page_offset." in load_crash_kernel(
        kexec_tools("2.0.25"), KERNEL_KEXEC["6.1"], text, region, KexecInputs()).output


U64 = (1 << 64) - 1


def test_phys_offset_minimum_signed_or_not():
    """set_phys_offset keeps the smaller value: uint64 in 2.0.20 (a KASLR-lowered, negative memstart_addr
    loses to the RAM start 0x40000000), int64 from 2.0.24 (it wins). PT_LOAD vaddr = paddr - phys_offset +
    page_offset (kexec-arm64.c phys_to_virt)."""
    text = iomem((0xDC000000, 0xFBFFFFFF))
    region = PhysRange(0xDC000000, 0xFC000000)
    neg = -0x6A8380000000
    old = load_crash_kernel(kexec_tools("2.0.20"), K612, text, region, KexecInputs(vmcoreinfo_phys_offset=neg))
    new = load_crash_kernel(kexec_tools("2.0.32"), K612, text, region, KexecInputs(vmcoreinfo_phys_offset=neg))
    assert old.phys_offset == 0x40000000 and new.phys_offset == neg & U64
    ram = [p for p in new.phdrs if p.type == "PT_LOAD"][1]
    assert ram.vaddr == (0x40000000 - neg + 0xFFF0000000000000) & U64


def test_kt2020_memory_map_stops_after_64_lines():
    """2.0.20 kexec-arm64.c get_memory_ranges_iomem_cb: after 64 'System RAM'/'reserved' lines the read stops,
    so the RAM line holding the crash region is never in the memory map; the elfcorehdr's locate_hole (run
    first, in load_crashdump_segments) finds nothing and dies. 2.0.25 reads every line."""
    lines = [RAM8G.rstrip("\n")] + [f"  {0x50000000 + i * 0x2000:x}-{0x50000000 + i * 0x2000 + 0xFFF:x} : reserved"
                                    for i in range(63)]
    lines += ["240000000-27fffffff : System RAM", "  260000000-26fffffff : Crash kernel"]
    region = PhysRange(0x260000000, 0x270000000)
    load = load_crash_kernel(kexec_tools("2.0.20"), K612, "\n".join(lines), region, KexecInputs())
    assert load.error == ("Could not find a free area of memory of 0x1000 bytes...", "locate_hole failed")
    assert load.exit_status == 1
    assert load_crash_kernel(kexec_tools("2.0.25"), K612, "\n".join(lines), region, KexecInputs()).loaded


def test_memory_map_subtracts_children_from_2021():
    """2.0.21+ kexec-arm64.c get_memory_ranges: reserved children and the other 'Crash kernel' are cut out of
    their System RAM range; Kernel code/data and the load region stay. 2.0.20 keeps the RAM line whole."""
    text = RAM8G + "  48000000-49ffffff : reserved\n  f4000000-fbffffff : Crash kernel\n" \
                   "  17f000000-23effffff : Crash kernel\n"
    new = load_crash_kernel(kexec_tools("2.0.25"), K612, text, HIGH, KexecInputs())
    assert new.memory_map == ((0x40000000, 0x47FFFFFF), (0x4A000000, 0xF3FFFFFF), (0xFC000000, 0x23FFFFFFF))
    old = load_crash_kernel(kexec_tools("2.0.20"), K612, text, HIGH, KexecInputs())
    assert old.memory_map == ((0x40000000, 0x23FFFFFFF),)


def test_kt2020_coredump_ranges_overflow_32():
    """2.0.20 crashdump-arm64.c crash_get_memory_ranges: cutting the crash region out of the middle of a RAM
    range needs a 33rd slot in the static 32-entry list -> error, "kexec: load failed.", "Cannot load"."""
    lines = [f"{0x40000000 + i * 0x10000000:x}-{0x40000000 + i * 0x10000000 + 0xFFFFFFF:x} : System RAM"
             for i in range(32)]
    s = 0x40000000 + 31 * 0x10000000
    lines.append(f"  {s + 0x4000000:x}-{s + 0xBFFFFFF:x} : Crash kernel")
    region = PhysRange(s + 0x4000000, s + 0xC000000)
    inp = KexecInputs(image_size=16 * MIB)
    load = load_crash_kernel(kexec_tools("2.0.20"), K612, "\n".join(lines), region, inp)
    assert load.error == ("Error: Number of crash memory ranges excedeed the max limit", "kexec: load failed.",
                          "Cannot load Image")
    assert load_crash_kernel(kexec_tools("2.0.25"), K612, "\n".join(lines), region, inp).loaded


def test_dtb_and_initrd_limits():
    """kexec-arm64.c arm64_load_other_segments: a DTB above 2 MiB is refused; so is an initrd whose end,
    rounded up to 1 GiB, lies more than 32 GiB above the Image base rounded down to 1 GiB."""
    text = iomem((0xDC000000, 0xFBFFFFFF))
    region = PhysRange(0xDC000000, 0xFC000000)
    load = load_crash_kernel(kexec_tools("2.0.32"), K612, text, region, KexecInputs(dtb_size=2 * MIB + 1))
    assert load.error == ("kexec: Error: dtb too big.", "kexec: load failed.", "Cannot load Image")
    big = "40000000-a3fffffff : System RAM\n  40200000-41f2ffff : Kernel code\n  42240000-426fffff : Kernel data\n" \
          "  80000000-a3fffffff : Crash kernel\n"
    inp = KexecInputs(initrd_size=32 * 1024 * MIB)  # Image at 2 GiB + 36 MiB, initrd end past 34 GiB
    load = load_crash_kernel(kexec_tools("2.0.32"), K612, big, PhysRange(0x80000000, 0xA40000000), inp)
    assert load.error == ("kexec: Error: image + initrd too big.", "kexec: load failed.", "Cannot load Image")


def test_nonzero_kaslr_seed_fails_setup_2nd_dtb():
    """kexec-arm64.c setup_2nd_dtb: /chosen/kaslr-seed must have been zeroed by the running kernel."""
    text = iomem((0xDC000000, 0xFBFFFFFF))
    load = load_crash_kernel(kexec_tools("2.0.29"), K612, text, PhysRange(0xDC000000, 0xFC000000),
                             KexecInputs(kaslr_seed=0x1234))
    assert load.error == ("kexec: setup_2nd_dtb failed.", "kexec: load failed.", "Cannot load Image")


def test_not_reserved_is_checked_before_the_syscall_choice():
    """kexec.c main: for -p the reservation check comes first, also with -s (exit 1 from die)."""
    text = "40000000-23fffffff : System RAM\n"
    for v in KEXEC_TOOLS:
        load = load_crash_kernel(kexec_tools(v), K612, text, None, KexecInputs(mode="-s"))
        assert load.error[0] == "Memory for crashkernel is not reserved" and load.exit_status == 1
    inp = KexecInputs(mode="-s")
    assert load_crash_kernel(kexec_tools("2.0.20"), K612, V01, None, inp).exit_status == 255
    assert load_crash_kernel(kexec_tools("2.0.25"), K612, V01, None, inp).exit_status == 253


def test_dtb_grows_with_the_second_usable_range():
    """setup_2nd_dtb writes one (address, size) pair per usable range: 16 more bytes with 2/2 cells (recorded
    0x1e46 vs 0x1e56); 2.0.20 writes one pair only."""
    dtb = {v: next(s for s in load_crash_kernel(kexec_tools(v), K612, V08, HIGH, INITRD).segments
                   if s.what == "dtb").bufsz for v in ("2.0.20", "2.0.32")}
    assert dtb == {"2.0.20": 7750, "2.0.32": 7766}


def test_kernel_pt_load_wraps_without_text_on_6_1():
    """2.0.24+ crashdump-arm64.c (Kernel code branch): with _text missing from kallsyms it counts as 0, so on
    6.1 (Kernel code = [_stext, __init_begin)) the start becomes Kernel code start - _stext mod 2^64 and the
    size wraps to ~2^64 (recorded: 6.1-kt2.0.25 cycle, p_filesz 0xffffa4dbcd810000). 2.0.20 keeps the line."""
    text = "40000000-23fffffff : System RAM\n  40210000-4185ffff : Kernel code\n  41eb0000-4220ffff : Kernel data\n" \
           "  dc000000-fbffffff : Crash kernel\n"
    stext = 0xFFFF800008010000
    inp = KexecInputs(kernel_text_vaddr=stext - 0x10000, stext_minus_text=0x10000,
                      init_begin_minus_stext=0x4185FFFF + 1 - 0x40210000)
    k61 = KERNEL_KEXEC["6.1"]
    new = load_crash_kernel(kexec_tools("2.0.25"), k61, text, PhysRange(0xDC000000, 0xFC000000), inp)
    assert new.kern_paddr_start == (0x40210000 - stext) & U64
    kernel = next(p for p in new.phdrs if p.type == "PT_LOAD")
    assert kernel.vaddr == U64 and kernel.size == (0x42210000 - new.kern_paddr_start) & U64
    old = load_crash_kernel(kexec_tools("2.0.20"), k61, text, PhysRange(0xDC000000, 0xFC000000), inp)
    assert old.kern_paddr_start == 0x40210000


def test_kernel_rejects_anything_outside_crashk_res():
    """kernel/kexec.c kimage_alloc_init + kexec_core.c sanity_check_segment_list (5.10..7.x): only crashk_res
    counts, never crashk_low_res; -EADDRNOTAVAIL, printed with the entry and print_segments (exit 255)."""
    load = load_crash_kernel(kexec_tools("2.0.20"), K612, V08, HIGH, INITRD)
    assert load.error[:3] == ("kexec_load failed: Cannot assign requested address",
                              f"entry       = {load.entry:#x} flags = 0xb70001", "nr_segments = 5")
    assert load.error[4:7] == ("segment[0].bufsz = 0x2400000", "segment[0].mem   = 0xf4000000",
                               "segment[0].memsz = 0x2400000")
    assert load.exit_status == 255


def _trees():
    """Deep and wide trees: every level up to 8, so the capped indentation is exercised."""
    from kdumplab.iomem import Resource

    def node(start: int, depth: int, width: int) -> Resource:
        kids, at = [], start
        for k in range(width if depth < 8 else 0):
            kids.append(node(at, depth + 1, max(width - k - 1, 1)))
            at += 0x10 ** (8 - depth)
        return Resource(start, start + 0x10 ** (9 - depth), f"level {depth} : {width}", tuple(kids))

    return st.integers(0, 3).map(  # width 0: no children; else a chain down to level 8
        lambda w: (node(0x1000_0000_0, 0, w), node(0x2000_0000_0, 0, 1)))


@given(_trees())
def test_lines_from_the_tree_equal_the_lines_read_from_the_text(tree):
    """model.run hands kexec-tools the tree instead of printing the text and parsing it back."""
    from kdumplab.iomem import render
    from kdumplab.kexec import _lines, iomem_lines

    want = parse_iomem_lines(render(tree))
    assert iomem_lines(tree) == want
    # what load_crash_kernel reads (start, last, name) from the tree: the same, also in another order
    spans = [(ln.start, ln.last, ln.name) for ln in want]
    assert _spans(_lines(tree)) == spans == _spans(_lines(render(tree))) == _spans(_lines(want))
    assert _spans(_lines(tree[::-1])) == [(ln.start, ln.last, ln.name) for ln in parse_iomem_lines(render(tree[::-1]))]


def _spans(lines):
    """(start, last, name) of the lines load_crash_kernel's passes read."""
    return [(r.start, r.end - 1, r.name) for r in lines]


def _resources(spans):
    """The lines the passes read, from (start, last, name) triples."""
    from kdumplab.iomem import Resource

    return [Resource(start, last + 1, name) for start, last, name in spans]


def _plain_locate_hole(ram, segs, size, lo, hi, top_down, page):
    """locate_hole said plainly: every RAM range minus the segments, then clip each free part to [lo, hi]."""
    free, ordered, j = [], sorted(segs, key=lambda s: s.start), 0
    for mstart, mend in ram:
        while j < len(ordered) and ordered[j].start <= mend:
            if mstart < ordered[j].start:
                free.append((mstart, ordered[j].start - 1))
            mstart = ordered[j].start + ordered[j].size
            j += 1
        if mstart < mend:
            free.append((mstart, mend))
    base = None
    for start, end in free:
        start, end = -(-max(start, lo) // page) * page, min(end, hi)
        if start >= end or end - start < size - 1:
            continue
        if not top_down:
            return start
        base = (end - size + 1) // page * page
    return base


_pages = st.integers(0, 64).map(lambda n: n * 0x1000)


@given(ram=st.lists(st.tuples(_pages, st.integers(1, 0x20000)).map(lambda t: (t[0], t[0] + t[1])), max_size=6),
       segs=st.lists(st.tuples(_pages, st.integers(1, 8)), max_size=4), size=st.integers(1, 0x8000),
       lo=_pages, span=st.integers(0, 0x40000), top_down=st.booleans())
def test_locate_hole_skipping_ranges_outside_the_window_equals_the_plain_walk(ram, segs, size, lo, span, top_down):
    """_locate_hole walks past RAM ranges outside [lo, hi] without cutting them (unsorted lists too)."""
    from kdumplab.kexec import Segment, _locate_hole

    placed = sorted((Segment(start, n * 0x1000, "x") for start, n in segs), key=lambda s: s.start)
    args = (ram, placed, size, lo, lo + span, top_down, 0x1000)
    assert _locate_hole(*args) == _plain_locate_hole(*args)


def _plain_memory_map(lines, load):
    """my_load's memory map (2.0.21+) said plainly: every System RAM line starts a range; every later line that
    overlaps the newest range and is not RAM, the kernel or the load region goes through mem_regions_exclude."""
    from kdumplab.kexec import _exclude

    ram = []
    for start, last, name in lines:
        if name == "System RAM":
            ram.append((start, last))
        elif name in ("Kernel code", "Kernel data") or (name == "Crash kernel" and (start, last) == load):
            continue
        elif ram and not (ram[-1][1] < start or last < ram[-1][0]):
            _exclude(ram, (start, last))
    return ram


_NAMES = ("System RAM", "reserved", "Kernel code", "Kernel data", "Crash kernel", "pcie")
_line = st.builds(lambda name, start, span: (start * 0x1000, start * 0x1000 + span, name),
                  st.sampled_from(_NAMES), st.integers(0, 48), st.integers(-0x2000, 0x20000))


@given(st.lists(_line, max_size=14), st.booleans(), st.data())
def test_one_pass_memory_map_equals_the_search_for_every_cut(lines, in_order, data):
    """_memory_map cuts a line out of the newest range while the ranges are sorted and disjoint, and searches
    from the first range as mem_regions_exclude does otherwise: the same list as searching for every cut, on
    hostile lines (overlapping RAM, ends below starts, any order) and on /proc/iomem-like ones (in order)."""
    from kdumplab.kexec import _memory_map

    if in_order:
        lines.sort(key=lambda ln: (ln[0], ln[2] != "System RAM"))
    crash = [(start, last) for start, last, name in lines if name == "Crash kernel"]
    load = data.draw(st.sampled_from(crash + [None]))
    ram, starts = _memory_map(kexec_tools("2.0.32"), _resources(lines), load)
    want = _plain_memory_map(lines, load)
    assert ram == want and starts == ([want[0][0]] if want else [])


def test_one_pass_memory_map_on_a_predicted_iomem(monkeypatch):
    """The lines of a predicted boot (sorted System RAM, its children in order) never need the search."""
    from kdumplab import kexec, model
    from kdumplab.presets import qemu_virt

    res = model.run(model.Scenario(qemu_virt(8 << 30, kernel="6.12"), "crashkernel=256M", "6.12", "2.0.32"))
    lines = kexec._lines(res.iomem)
    load = res.outcome.main.start, res.outcome.main.end - 1
    want = _plain_memory_map(_spans(lines), load)
    assert len(want) > 4  # cut by several reserved lines

    def no_search(ranges, cut):
        raise AssertionError(f"searched for {cut}")

    monkeypatch.setattr(kexec, "_exclude", no_search)
    assert kexec._memory_map(kexec_tools("2.0.32"), lines, load)[0] == want


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(1, 3)), max_size=7))
def test_segments_kept_in_order_equal_sorting_them(segs):
    """load_crash_kernel keeps its segments in address order as it adds them (_add_segment): the same list as
    sorting them by address at the end (a stable sort: equal addresses in the order they were added)."""
    from kdumplab.kexec import Segment, _add_segment

    made = [Segment(start * 0x1000, n * 0x1000, f"s{i}") for i, (start, n) in enumerate(segs)]
    kept: list[Segment] = []
    for seg in made:
        _add_segment(kept, seg)
    assert kept == sorted(made, key=lambda s: s.start)


@pytest.mark.parametrize("line", ["f0000000-e0000000 : System RAM", "  40000001-3fffffff : Crash kernel"])
def test_a_line_ending_before_it_starts_is_refused_with_its_place(line):
    """A hand-made or mangled /proc/iomem (e.g. a recording given to `verify --recorded`) whose range ends before
    it starts: a one-line error naming the line, not a ValueError from deep in the placement."""
    with pytest.raises(KdumplabError, match=r"iomem:2.*ends before it starts"):
        parse_iomem_lines("40000000-13fffffff : System RAM\n" + line + "\n")


def test_an_empty_entry_is_read():
    """The kernel prints an empty resource as [start, start - 1]: read, not refused (hand derivation of
    kernel/resource.c's r_show, which prints r->start and r->end)."""
    (ln,) = parse_iomem_lines("40000000-3fffffff : reserved\n")
    assert (ln.start, ln.last) == (0x40000000, 0x3FFFFFFF)
