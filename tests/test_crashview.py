"""Crash kernel view against test-vectors.md Part 8 (E1, E2); derivations from kernel-spec.md E.1-E.3."""

from __future__ import annotations

from kdumplab import presets
from kdumplab.crashview import CRASH_KERNELS, crash_view
from kdumplab.kexec import KERNEL_KEXEC, kexec_tools, load_crash_kernel
from kdumplab.policy import for_kernel
from tests.test_kexec import HIGH, INITRD, V08


def view(gen: str, load, **kw):  # noqa: ANN001, ANN201 - kexec.KexecLoad -> crashview.CrashView
    """``gen``'s crash kernel booted from ``load`` on an 8 GiB qemu-virt (the board of tests/test_kexec.py)."""
    key = "7.x" if gen == "7.2" else gen
    return crash_view(CRASH_KERNELS[key], load, for_kernel(gen), presets.qemu_virt(kernel=gen), **kw)


def _k3():
    return load_crash_kernel(kexec_tools("2.0.25"), KERNEL_KEXEC["6.12"], V08, HIGH, INITRD)


def test_e1_612_uses_both_pairs():
    v = view("6.12", _k3())
    assert v.usable == ((0xF4000000, 0xFBFFFFFF), (0x17F000000, 0x23EFFFFFF))
    assert v.iomem_lines[0] == "f4000000-fbffffff : System RAM"
    assert v.elfcorehdr_log == "OF: fdt: Reserving 1 KiB of memory at 0x23efff000 for elfcorehdr"
    assert v.swiotlb_low_mem


def test_e2_510_first_pair_only():
    v = view("5.10", _k3())
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
    assert view("6.12", _load(high_low)).swiotlb_kib == 65536
    assert view("6.12", _load([(0xDC000000, 0xFBFFFFFF)])).swiotlb_kib == 512
    assert view("6.1", _load([(0xDC000000, 0xFBFFFFFF)])).swiotlb_kib == 0
    only_high = view("6.1", _load([(0x1F6E00000, 0x236DFFFFF)]))
    assert only_high.swiotlb_kib == 0 and not only_high.swiotlb_low_mem


def test_swiotlb_halves_beside_cma_in_a_small_low_region() -> None:
    """kernel/dma/swiotlb.c swiotlb_init_remap (6.1+): the 64 MiB buffer that does not fit below the DMA limit
    is halved until it does. 96 MiB low at 0xf6000000 with CMA's 64 MiB on top leaves 32 MiB (recorded
    tests/data/cycles/7.2-kt2.0.32-high-768M-low-96M: "adjusted 32768 -> 16384 slabs"); 5.10 tries once
    (and reads only the first pair: here the low one, below the limit, so it needs no buffer at all)."""
    load = _load([(0x20EE00000, 0x23EDFFFFF), (0xF6000000, 0xFBFFFFFF)])
    assert view("7.2", load).swiotlb_kib == 32768
    assert view("7.2", load, cmdline="console=ttyAMA0 cma=0").swiotlb_kib == 65536  # no CMA beside it
    assert view("7.2", load, cmdline="console=ttyAMA0 cma=0").cma_kib == 0
    assert view("5.10", _load([(0xF6000000, 0xFBFFFFFF), (0x20EE00000, 0x23EDFFFFF)])).swiotlb_kib == 0


def test_crash_notes_one_prstatus_per_cpu() -> None:
    # struct elf_prstatus on arm64: 112 bytes of common fields + 34 registers x 8 + pr_fpvalid, padded to 8
    # = 392; the note adds a 12-byte header and "CORE\0" padded to 8
    from kdumplab.crashview import PRSTATUS_NOTE, crash_notes_bytes

    assert PRSTATUS_NOTE == 12 + 8 + (112 + 34 * 8 + 8)
    # the recorded one-CPU 6.12 cycles' merged PT_NOTE is 3,856 bytes (tests/data/cycles, /proc/vmcore's
    # program headers): its VMCOREINFO note is the rest
    assert crash_notes_bytes(3444, 1) == 3856
    # fs/proc/vmcore.c rounds the merged notes up to a page: 2 CPUs on 6.12 need 2 pages, 5.10 fits 2 in one
    assert -(-crash_notes_bytes(3444, 2) // 4096) == 2
    assert -(-crash_notes_bytes(2920, 2) // 4096) == 1 and -(-crash_notes_bytes(2920, 3) // 4096) == 2
    assert -(-crash_notes_bytes(3444, 11) // 4096) == 2 and -(-crash_notes_bytes(3444, 12) // 4096) == 3


def test_vmcore_grows_a_page_with_the_second_cpu() -> None:
    # the model end to end: 6.12 on 4G, crashkernel=512M, kexec-tools 2.0.32; -smp 2 adds 4 KiB to
    # /proc/vmcore (recorded: tests/data/cycles/6.12-kt2.0.32-smp2-4G-512M, 3,796,905,984 bytes)
    import dataclasses

    from kdumplab import model
    from kdumplab.tools.verify import scenario_for

    sizes = []
    for cpus in (1, 2):
        sc = scenario_for("6.12", "4G", (), "console=ttyAMA0 panic=-1 crashkernel=512M", 987623, cpus=cpus)
        sizes.append(model.run(dataclasses.replace(sc, kexec_tools="2.0.32")).crash_view.vmcore_size)
    assert sizes[1] - sizes[0] == 4096


def test_x86_crash_notes() -> None:
    # x86_64's struct elf_prstatus: 112 bytes of common fields + 27 registers x 8 + pr_fpvalid, padded = 336;
    # its recorded one-CPU 6.12 cycles merge 3,644 bytes of notes (tests/data/cycles-x86)
    from kdumplab.crashview import PRSTATUS_NOTE_X86_64, crash_notes_bytes

    assert PRSTATUS_NOTE_X86_64 == 12 + 8 + (112 + 27 * 8 + 8)
    assert crash_notes_bytes(3288, 1, PRSTATUS_NOTE_X86_64) == 3644
    # 6.12 with -smp 2 still fits one page, with 4 not; 5.10 fits 3 (recorded cycles-x86/*-smp*)
    assert crash_notes_bytes(3288, 2, PRSTATUS_NOTE_X86_64) <= 4096 < crash_notes_bytes(3288, 4, PRSTATUS_NOTE_X86_64)
    assert crash_notes_bytes(2968, 3, PRSTATUS_NOTE_X86_64) <= 4096
