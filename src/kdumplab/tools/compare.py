"""``kdumplab compare``: every kernel policy (and the 2019 proposals) x kexec-tools version, on one machine
and command line: reserved where, loaded where, what the crash kernel then has, and a plain verdict.

Every cell is one run of the model; the kexec-tools and crash-kernel parts are the ones checked against 61
recorded full cycles (tests/ground_truth/test_cycles.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kdumplab import model, policy
from kdumplab.errors import KdumplabError
from kdumplab.kexec import KEXEC_TOOLS
from kdumplab.machine import Machine
from kdumplab.ranges import SZ_1M
from kdumplab.verdict import kdump_verdict

__all__ = ["KEXEC_VERSIONS", "Cell", "Row", "compare"]

KEXEC_VERSIONS = tuple(KEXEC_TOOLS)


@dataclass(frozen=True, slots=True)
class Cell:
    """One kernel policy x kexec-tools version."""

    version: str
    loaded: bool | None  # None: kexec-tools is not modelled for this policy (x86_64)
    kernel_at: int | None  # where the crash kernel's Image goes
    crash_mem_kib: int | None  # the crash kernel's MemTotal (estimate)
    short: str  # for a table cell
    verdict: str  # one plain sentence


@dataclass(frozen=True, slots=True)
class Row:
    policy: str
    verdict: str
    reserved: str
    crash_size: int
    cells: tuple[Cell, ...]

    @property
    def kexec(self) -> tuple[tuple[str, str], ...]:
        """(version, short text) per kexec-tools version, for the text and HTML tables."""
        return tuple((c.version, c.short) for c in self.cells)


def _cell(res: model.Result, version: str) -> Cell:
    short, sentence = kdump_verdict(res)
    kernel = next((s.start for s in res.kexec.segments if s.what == "kernel"), None)
    mem = res.crash_view.memtotal_kb if res.crash_view is not None else None
    return Cell(version, res.kexec.loaded, kernel, mem, short, sentence)


def compare(machine: Machine, cmdline: str) -> tuple[Row, ...]:
    rows = []
    base = model.Scenario(machine, cmdline, "6.1")
    for name in policy.POLICY_NAMES(machine.arch):
        cells, res = [], None
        for kv in KEXEC_VERSIONS:
            try:
                run = model.run(dataclasses.replace(base, kernel=name, kexec_tools=kv))
            except KdumplabError as err:  # e.g. kexec-tools is modelled for arm64 only
                cells.append(Cell(kv, None, None, None, "n/a", err.what))
                continue
            cells.append(_cell(run, kv))
            res = res or run  # the boot part is the same whatever kexec-tools does afterwards
        res = res or model.run(dataclasses.replace(base, kernel=name))
        reserved = ", ".join(f"{r.role} [{r.start:#x}, {r.end:#x}) {r.size // SZ_1M}M"
                             for r in res.outcome.regions) or "-"
        rows.append(Row(name, str(res.outcome.verdict), reserved, res.kexec_crash_size, tuple(cells)))
    return tuple(rows)
