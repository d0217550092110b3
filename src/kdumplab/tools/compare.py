"""``kdumplab compare``: every kernel policy (and the 2019 proposals) x kexec-tools version, on one machine
and command line: reserved where, loaded where, what the crash kernel then has, and a plain verdict.

Every cell is one run of the model; the kexec-tools and crash-kernel parts are the ones checked against 54
recorded full cycles (tests/ground_truth/test_cycles.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kdumplab import model, policy
from kdumplab.errors import KdumplabError
from kdumplab.kexec import KERNEL_KEXEC, KEXEC_TOOLS, verdict
from kdumplab.machine import Machine
from kdumplab.ranges import SZ_1M, SZ_4G, U64_MAX

__all__ = ["KEXEC_VERSIONS", "Cell", "Row", "compare", "kdump_verdict"]

KEXEC_VERSIONS = tuple(KEXEC_TOOLS)
_WRAPPED = 1 << 60


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


def kdump_verdict(res: model.Result) -> tuple[str, str]:
    """(short, sentence) for a model run with kexec-tools: does kdump work, and what is wrong if not."""
    load, view = res.kexec, res.crash_view
    if not load.loaded:
        first = load.error[0] if load.error else "refused"
        return f"NO: {first}", verdict(load)
    problems: list[tuple[str, str]] = []  # (label for the table, sentence)
    loads = [p for p in load.phdrs if p.type == "PT_LOAD"]
    facts = KERNEL_KEXEC.get(res.policy.kexec_generation)
    right = (U64_MAX << facts.va_bits) & U64_MAX if facts else None
    if right is not None and load.page_offset is not None and load.page_offset != right:
        problems.append(("vmcore vaddrs wrong", f"its elfcorehdr's virtual addresses assume page_offset "
                         f"{load.page_offset:#x}, not the kernel's {right:#x}: tools that trust the PT_LOAD vaddrs "
                         "(crash) misread memory"))
    if loads and loads[0].size >= _WRAPPED:
        problems.append(("vmcore size wraps", "its elfcorehdr has a wrapped kernel-text header (no _text in "
                         "/proc/kallsyms): /proc/vmcore claims ~1.8e19 bytes and reading it oopses"))
    if view is not None and view.swiotlb_kib == 0 and all(s >= SZ_4G for s, _ in view.usable):
        problems.append(("no memory below 4 GiB", "the crash kernel has no memory below 4 GiB: no swiotlb, "
                         f"devices limited to 32-bit DMA fail ({_why_no_low(res)})"))
    where = "high" if load.segments and min(s.start for s in load.segments) >= SZ_4G else "low"
    mem = f", crash kernel MemTotal ~{view.memtotal_kb // 1024} MiB" if view is not None else ""
    short = f"yes, {where}{mem}" + ("; BUT " + ", ".join(label for label, _ in problems) if problems else "")
    sentence = verdict(load) + (" But " + "; and ".join(text for _, text in problems) + "." if problems else
                                f" The crash kernel boots in {'/'.join(f'{s:#x}-{e:#x}' for s, e in view.usable)}"
                                f"{mem}." if view is not None else "")
    return short, sentence


def _why_no_low(res: model.Result) -> str:
    low = res.outcome.low
    if low is None:
        return "no low region is reserved: add crashkernel=Y,low"
    passed = any(s <= low.start <= e for s, e in res.kexec.usable_memory_ranges)
    if passed:
        return "the low region is in linux,usable-memory-range, but this crash kernel reads only the first range"
    return f"the low region '{low.name}' is reserved but kexec-tools does not pass it on: it reads only 'Crash kernel'"


def _cell(res: model.Result, version: str) -> Cell:
    short, sentence = kdump_verdict(res)
    kernel = next((s.start for s in res.kexec.segments if s.what == "kernel"), None)
    mem = res.crash_view.memtotal_kb if res.crash_view is not None else None
    return Cell(version, res.kexec.loaded, kernel, mem, short, sentence)


def compare(machine: Machine, cmdline: str) -> tuple[Row, ...]:
    rows = []
    base = model.Scenario(machine, cmdline, "6.1")
    for name in policy.POLICY_NAMES(machine.arch):
        res = model.run(dataclasses.replace(base, kernel=name))
        reserved = ", ".join(f"{r.role} [{r.start:#x}, {r.end:#x}) {r.size // SZ_1M}M"
                             for r in res.outcome.regions) or "-"
        cells = []
        for kv in KEXEC_VERSIONS:
            try:
                cells.append(_cell(model.run(dataclasses.replace(base, kernel=name, kexec_tools=kv)), kv))
            except KdumplabError as err:  # e.g. kexec-tools is modelled for arm64 only
                cells.append(Cell(kv, None, None, None, "n/a", err.what))
        rows.append(Row(name, str(res.outcome.verdict), reserved, res.kexec_crash_size, tuple(cells)))
    return tuple(rows)
