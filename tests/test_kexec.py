"""kexec-tools model against test-vectors.md Part 7 (K1-K9) and kernel-spec.md section D.

Expected values are the vectors' own derivations; they have NOT yet been re-checked against the
kexec-tools sources (kexec/arch/arm64/crashdump-arm64.c, kexec-image-arm64.c, kexec/kexec-iomem.c).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kdumplab.kexec import KERNEL_KEXEC, KexecInputs, kexec_tools, load_crash_kernel, parse_iomem_lines, verdict
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
    text = iomem((0x80000000, 0x823FFFFF))
    load = load_crash_kernel(kexec_tools("2.0.25"), K612, text, PhysRange(0x80000000, 0x82400000), KexecInputs())
    assert load.error == ("kexec: load failed.", "Cannot load Image")
    text = iomem((0x80000000, 0x824FFFFF))
    r37 = PhysRange(0x80000000, 0x82500000)
    load = load_crash_kernel(kexec_tools("2.0.25"), K612, text, r37, KexecInputs())
    assert load.loaded and seg(load, "dtb") == 0x82400000 and load.elfcorehdr[0] == 0x824FF000
    load = load_crash_kernel(kexec_tools("2.0.25"), K612, text, r37, INITRD)
    assert load.error[0] == "Could not find a free area of memory of 0x1e00000 bytes..."


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
