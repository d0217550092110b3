"""Recorded x86_64 kdump cycles against the model, field by field (tests/data/cycles-x86, tests/data/cycles-x86-uefi;
suite tests/data/suites/x86-cycles.toml).

SeaBIOS cycles: the first kernel exactly (pinned at its Kernel code address), then every kexec and crash-kernel
field: segments, entry, the e820 map handed over, the crash kernel's command line, e820 RAM, System RAM lines,
/proc/vmcore's PT_LOADs and size, MemTotal (within 1 MiB), swiotlb (tools/verify_x86_cycle.py).

OVMF cycles: the same kexec and crash-kernel fields, on the /proc/iomem kexec-tools really read, and their first
boot against the OVMF model: their ~19 MiB initrds put the EFI stub's initrd copy under OVMF's PEI stack, 16 to 48
MiB below where the lab's 1 MiB boot initrd leaves the crash region (presets.q35.ovmf_loader).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kdumplab.lab.cycle import load_cycle
from kdumplab.tools.verify import verify_observation
from kdumplab.tools.verify_cycle import verify_cycle
from kdumplab.tools.verify_x86_cycle import real_crash_ram, verify_x86_kexec

DATA = Path(__file__).parent.parent / "data"
CYCLES = sorted(p for p in (DATA / "cycles-x86").glob("*") if (p / "cycle.json").exists())
UEFI = sorted(p for p in (DATA / "cycles-x86-uefi").glob("*") if (p / "cycle.json").exists())


@pytest.mark.parametrize("case_dir", CYCLES, ids=lambda p: p.name)
def test_x86_cycle_agrees(case_dir: Path) -> None:
    cyc = load_cycle(case_dir)
    bad = [c for c in verify_cycle(cyc) if not c.ok]
    assert not bad, [(c.field, c.model, c.real) for c in bad]


@pytest.mark.parametrize("case_dir", UEFI, ids=lambda p: p.name)
def test_x86_uefi_cycle_kexec_and_crash_kernel_agree(case_dir: Path) -> None:
    cyc = load_cycle(case_dir)
    assert cyc.first.firmware == "uefi"
    checks = verify_x86_kexec(cyc)
    bad = [c for c in checks if not c.ok]
    assert len(checks) >= 13 and not bad, [(c.field, c.model, c.real) for c in bad]


@pytest.mark.parametrize("case_dir", UEFI, ids=lambda p: p.name)
def test_x86_uefi_cycle_first_boot(case_dir: Path) -> None:
    bad = [c for c in verify_observation(load_cycle(case_dir).first) if not c.ok]
    assert not bad


def test_enough_cycles() -> None:
    # issue 14: at least 16 x86 cycles, OVMF among them, kexec_file_load on 6.12 and 7.2, ,high + ,low
    names = [p.name for p in CYCLES + UEFI]
    assert len(names) >= 16
    assert len(UEFI) >= 2 and any("-file" in n and n.startswith("7.2") for n in names)
    assert any("high-128M-low" in n for n in names)


def test_kexec_file_load_with_debug_refused_on_6_1_loads_on_6_12_and_7_2() -> None:
    # kexec-tools 2.0.28+ passes KEXEC_FILE_DEBUG with -d; 6.1 (before 6.8) refuses the flag with EINVAL, which
    # kexec-tools reports as "not available"; 6.12 and 7.2 load, with the kernel's elfcorehdr= first on the line.
    # Without the flag (2.0.25 -s -d) 5.10 and 6.1 load too: they have kexec_file_load (CONFIG_KEXEC_FILE=y).
    by = {p.name: load_cycle(p) for p in CYCLES}
    old = by["6.1-kt2.0.29-x86-2G-256M-file"]
    assert not old.kexec.loaded and "kexec_file_load not available" in old.kexec.output
    for name in ("6.1-kt2.0.25-x86-2G-256M-file-nodebugflag", "5.10-kt2.0.25-x86-2G-256M-file-nodebugflag"):
        cyc = by[name]
        assert cyc.kexec.loaded and cyc.capture is not None
        assert cyc.capture.cmdline.startswith("elfcorehdr=0x6f000000 ")
        assert real_crash_ram(cyc.capture.dmesg)[-1] == (0x6F001000, 0x7EFFFFFF)  # one page of ELF headers
    for name in ("7.2-kt2.0.29-x86-2G-256M-file", "6.12-kt2.0.32-x86-4G-512M-file"):
        new = by[name]
        assert new.kexec.loaded and new.capture is not None
        start = new.first.crash_regions[0].start
        assert new.capture.cmdline.startswith(f"elfcorehdr={start:#x} ")
        assert real_crash_ram(new.capture.dmesg)[-1][0] == start + 0xE00B0  # hotplug-sized ELF headers
