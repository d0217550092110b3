"""--from reads the CPU count the kernel set possible (nr_cpu_ids): each CPU has a per-CPU unit and a crash note
in /proc/vmcore (one more page of notes per ~10 CPUs on 6.12), so a what-if on a many-CPU host needs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdumplab import logscan
from kdumplab.infer import evidence_from, machine_from

BOOTS = Path(__file__).parent / "data" / "boots"


@pytest.mark.parametrize(("line", "count"), [
    ("[    0.000000] SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=3, Nodes=1", "3"),  # mm/slub.c, every release
    ("[    0.000000] rcu: \tRCU restricting CPUs from NR_CPUS=512 to nr_cpu_ids=2.", "2"),  # recorded 6.12 -smp 2
    ("[    0.000000] rcu: Adjusting geometry for rcu_fanout_leaf=16, nr_cpu_ids=128", "128"),
])
def test_the_nr_cpu_ids_lines_are_read(line, count):
    events = logscan.scan(line + "\n").boots[-1].of(logscan.Kind.CPU_IDS)
    assert [e.value for e in events] == [count]


@pytest.mark.parametrize(("boot", "cpus"), [("6.12-smp3-dbg-4G-512M", 3), ("6.12-smp2-dbg-4G-512M", 2),
                                            ("5.10-bad-0800M", 1)])
def test_from_a_recorded_log_takes_its_cpus(boot, cpus):
    # each recording was booted with QEMU -smp as its directory name says (-smp 1 when it says nothing)
    m = machine_from(evidence_from(str(BOOTS / boot / "serial.log")))
    assert m.cpus == cpus
    assert any(n.startswith(f"inferred: {cpus} CPU(s) from ") for n in m.notes)


def test_without_the_line_one_cpu_is_assumed_and_said(tmp_path):
    log = tmp_path / "dmesg.txt"
    log.write_text("[    0.000000] Early memory node ranges\n"
                   "[    0.000000]   node   0: [mem 0x0000000040000000-0x000000013fffffff]\n")
    m = machine_from(evidence_from(str(log)))
    assert m.cpus == 1
    assert "inferred: CPUs: not in the evidence (no SLUB or RCU nr_cpu_ids line), 1 assumed" in m.notes


def test_a_cpu_count_beyond_the_model_is_not_taken(tmp_path):
    log = tmp_path / "dmesg.txt"
    log.write_text("[    0.000000] Early memory node ranges\n"
                   "[    0.000000]   node   0: [mem 0x0000000040000000-0x000000013fffffff]\n"
                   "[    0.000000] SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=8192, Nodes=1\n")
    m = machine_from(evidence_from(str(log)))
    assert m.cpus == 1 and any("8192" in n and "1 assumed" in n for n in m.notes)
