"""``kdumplab compare``: every kernel policy x kexec-tools version on one machine and cmdline."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kdumplab import model, policy
from kdumplab.kexec import KEXEC_TOOLS
from kdumplab.machine import Machine
from kdumplab.ranges import SZ_1M

KEXEC_VERSIONS = tuple(KEXEC_TOOLS)



@dataclass(frozen=True, slots=True)
class Row:
    policy: str
    verdict: str
    reserved: str
    crash_size: int
    kexec: tuple[tuple[str, str], ...]  # (version, "loaded at ..." | error | "n/a")


def _kexec_cell(res: model.Result) -> str:
    load = res.kexec
    if load is None:
        return "n/a"
    if getattr(load, "loaded", False):
        segs = getattr(load, "segments", ()) or ()
        starts = [getattr(s, "start", getattr(s, "mem", None)) for s in segs]
        starts = [s for s in starts if isinstance(s, int)]
        return f"loaded ({len(segs)} segs{', from ' + hex(min(starts)) if starts else ''})"
    error = getattr(load, "error", None) or ("?",)
    first = error[0] if isinstance(error, tuple) else str(error)
    return f"refused: {first}"


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
                rk = model.run(dataclasses.replace(base, kernel=name, kexec_tools=kv))
                cells.append((kv, _kexec_cell(rk)))
            except Exception as err:  # noqa: BLE001 - kexec model not there yet: say so, do not fail
                cells.append((kv, f"n/a ({type(err).__name__})"))
        rows.append(Row(name, str(res.outcome.verdict), reserved, res.kexec_crash_size, tuple(cells)))
    return tuple(rows)
