"""Recorded x86_64 kdump cycles (tests/data/cycles-x86, suite tests/data/suites/x86-cycles.toml).

The first kernel must agree with the model exactly (pinned at its Kernel code address); kexec-tools' x86
placement is not modelled, so the crash kernel is checked against the reservation: every RAM range its e820
shows lies in a crash region or the first 640 KiB, and its elfcorehdr= points into a crash region.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kdumplab.lab.cycle import load_cycle
from kdumplab.tools.verify_cycle import verify_cycle, x86_crash_ram

CYCLES = sorted(p for p in (Path(__file__).parent.parent / "data" / "cycles-x86").glob("*")
                if (p / "cycle.json").exists())


@pytest.mark.parametrize("case_dir", CYCLES, ids=lambda p: p.name)
def test_x86_cycle_agrees(case_dir: Path) -> None:
    cyc = load_cycle(case_dir)
    bad = [c for c in verify_cycle(cyc) if not c.ok]
    assert not bad, [(c.field, c.model, c.real) for c in bad]


def test_kexec_file_load_debian_6_1_amd64_refuses_and_7_2_loads() -> None:
    # Seen, not modelled: Debian 6.1's amd64 kernel returns ENOSYS to kexec -s (kexec-tools 2.0.29 says
    # "syscall kexec_file_load not available."); 7.2 loads and the crash kernel boots with the kernel's own
    # elfcorehdr= at the start of the crash region.
    by = {p.name: load_cycle(p) for p in CYCLES}
    old, new = by["6.1-kt2.0.29-x86-2G-256M-file"], by["7.2-kt2.0.29-x86-2G-256M-file"]
    assert not old.kexec.loaded and "kexec_file_load not available" in old.kexec.output
    assert new.kexec.loaded and new.capture is not None
    start = new.first.crash_regions[0].start
    assert f"elfcorehdr={start:#x}" in new.capture.cmdline
    assert x86_crash_ram(new)
