"""``kdumplab compare``: every kernel policy (and the 2019 proposals) x kexec-tools version, on one machine
and command line: reserved where, loaded where, what the crash kernel then has, and a plain verdict.

Every cell is one run of the model; the kexec-tools and crash-kernel parts are the ones checked against 61
recorded full cycles (tests/ground_truth/test_cycles.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from kdumplab import model, policy
from kdumplab.errors import KdumplabError
from kdumplab.kexec import KEXEC_TOOLS
from kdumplab.machine import Machine
from kdumplab.ranges import iec
from kdumplab.verdict import judge, paired_kexec_tools

__all__ = ["KEXEC_VERSIONS", "Cell", "Row", "compare", "compare_status"]

KEXEC_VERSIONS = tuple(KEXEC_TOOLS)


@dataclass(frozen=True, slots=True)
class Cell:
    """One kernel policy x kexec-tools version."""

    version: str
    loaded: bool | None  # None: the model has no kexec facts for this policy (n/a)
    kernel_at: int | None  # where the crash kernel's Image goes
    crash_mem_kib: int | None  # the crash kernel's MemTotal (estimate)
    short: str  # for a table cell
    verdict: str  # one plain sentence
    status: int = 0  # the exit status of this pairing (verdict.exit_status)


@dataclass(frozen=True, slots=True)
class Row:
    policy: str
    verdict: str
    reserved: str
    crash_size: int
    cells: tuple[Cell, ...]
    paired: str | None = None  # the kexec-tools Debian ships with this kernel
    measured: str = ""  # what real boots of this policy's own kernel showed (the 2019 designs, issue 13)
    #: x86 with KASLR: how often the reservation works over the kernel's random places ("" when fixed)
    kaslr: str = ""
    page_size: int = 4096  # the kernel's own page size (6.12-16k: 16K, whatever the machine file says)

    @property
    def kexec(self) -> tuple[tuple[str, str], ...]:
        """(version, short text) per kexec-tools version, for the text and HTML tables."""
        return tuple((c.version, c.short) for c in self.cells)


def _cell(res: model.Result, version: str) -> Cell:
    j = judge(res)
    kernel = next((s.start for s in res.kexec.segments if s.what == "kernel"), None)
    mem = res.crash_view.memtotal_kb if res.crash_view is not None else None
    return Cell(version, res.kexec.loaded, kernel, mem, j.short, j.sentence, j.status)


def compare(machine: Machine, cmdline: str, machine_for: Callable[[str], Machine] | None = None
            ) -> tuple[Row, ...]:
    """Every policy on ``machine``; with ``machine_for``, each policy's row on the machine that function builds
    for its kernel (a QEMU preset whose kernel image and its place depend on the kernel: qemu-q35, where under
    OVMF 5.10 runs 1.8 GiB higher than 6.1+)."""
    rows = []
    for name in policy.POLICY_NAMES(machine.arch):
        base = model.Scenario(machine if machine_for is None else machine_for(name), cmdline, "6.1")
        cells, res = [], None
        for kv in KEXEC_VERSIONS:
            try:
                run = model.run(dataclasses.replace(base, kernel=name, kexec_tools=kv))
            except KdumplabError as err:  # e.g. kexec-tools is modelled for arm64 only
                cells.append(Cell(kv, None, None, None, "n/a", err.what, 1))
                continue
            cells.append(_cell(run, kv))
            res = res or run  # the boot part is the same whatever kexec-tools does afterwards
        res = res or model.run(dataclasses.replace(base, kernel=name))
        reserved = ", ".join(f"{r.role} {r.start:#x}-{r.end - 1:#x} {iec(r.size)}" for r in res.outcome.regions) or "-"
        rows.append(Row(name, str(res.outcome.verdict), reserved, res.kexec_crash_size, tuple(cells),
                        paired_kexec_tools(name, res.policy.kexec_generation), _measured(name, machine.arch),
                        _kaslr_text(res.scenario), res.policy.page_size))
    return tuple(rows)


def _measured(name: str, arch: str) -> str:
    """What real boots of this kernel showed (its profile's note; the 2019 designs, issue 13)."""
    from kdumplab import profiles  # noqa: PLC0415

    prof = profiles.get(name, arch)
    return prof.measured if prof is not None else ""


def _kaslr_text(scn: model.Scenario) -> str:
    """x86 with physical KASLR: the reservation over every place the kernel can land (kdumplab.kaslr)."""
    from kdumplab import kaslr  # noqa: PLC0415

    if not kaslr.placement_is_random(scn.machine, scn.cmdline):
        return ""
    return "KASLR: " + kaslr.share_text(kaslr.distribution(scn)) + "; the address above is the nokaslr one"


def compare_status(rows: tuple[Row, ...], kernel: str) -> int:
    """The exit status of compare: that of ``kernel``'s row with the kexec-tools Debian ships beside it (the
    cell marked in the table), or of the row when no pairing is known; 1 for a kernel not in the table."""
    row = next((r for r in rows if r.policy == kernel), None)
    if row is None:
        return 1
    cell = next((c for c in row.cells if c.version == row.paired), None)
    if cell is None:
        return 0 if row.verdict == "reserved" else 1
    return cell.status
