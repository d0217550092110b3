"""``kdumplab explain``: why a reservation failed or surprised, and the smallest change that works.

Every suggestion is a ``dataclasses.replace``d Scenario run through the model again; only those that reserve
are offered, never the command line already given (in any order), each with whether kdump then works with the
kexec-tools Debian ships beside the kernel, working ones first.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from kdumplab import model
from kdumplab.outcome import Verdict
from kdumplab.ranges import SZ_1M, iec
from kdumplab.verdict import exit_status, judge, paired_kexec_tools


@dataclass(frozen=True, slots=True)
class Explanation:
    result: model.Result
    window: tuple[int, int]
    occupants: tuple[tuple[str, int, int], ...]
    largest_free: tuple[int, int] | None
    suggestions: tuple[tuple[str, str], ...]  # (cmdline, where it lands)
    #: per suggestion, does kdump then work with the kexec-tools Debian ships beside the kernel ("" not modelled)
    kdump: tuple[str, ...] = ()
    kexec_tools: str | None = None
    #: the scenario's own kdump judgement with that kexec-tools
    current: str = ""


def _place(res: model.Result) -> str:
    return ", ".join(f"{r.role} {r.start:#x}-{r.end - 1:#x} {iec(r.size)}" for r in res.outcome.regions) \
        or res.outcome.reason


def _size_of(cmdline: str) -> int | None:
    m = re.search(r"crashkernel=(\d+)([KMG]?)(?![-:\d])", cmdline)
    if not m:
        return None
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def explain(scn: model.Scenario) -> Explanation:
    res = model.run(scn)
    out = res.outcome
    window = (0, out.low_max)
    occ = tuple((e.what, e.start, e.start + e.size) for e in out.early
                if e.start < window[1] and e.start + e.size > window[0])
    occ += tuple((r.name, r.start, r.start + r.size) for r in scn.machine.reserved
                 if r.start < window[1] and r.start + r.size > window[0])
    free = [(lo, min(hi, window[1])) for lo, hi, _ in res.memblock.free_ranges() if lo < window[1]]
    largest = max(free, key=lambda r: r[1] - r[0], default=None)
    size = _size_of(scn.cmdline)
    others = " ".join(w for w in scn.cmdline.split() if not w.startswith("crashkernel="))
    tries: list[str] = []
    if size:
        tries.append(f"crashkernel={size // SZ_1M}M,high crashkernel=128M,low")
        tries += [f"crashkernel={s // SZ_1M}M" for s in (size // 2, size // 4) if s >= 64 * SZ_1M]
    tries.append(scn.cmdline + " cma=0")
    if largest and largest[1] - largest[0] >= 64 * SZ_1M:
        tries.append(f"crashkernel={(largest[1] - largest[0]) // SZ_1M // 2 * 2}M")
    seen = {frozenset(scn.cmdline.split())}
    kexec = paired_kexec_tools(res.policy.name, res.policy.kexec_generation) if scn.machine.arch == "arm64" else None
    found: list[tuple[int, str, str, str]] = []
    for t in tries:
        full = (others + " " + t).strip() if "cma=0" not in t else t
        key = frozenset(full.split())
        if key in seen:  # already what the command line says, in another order
            continue
        seen.add(key)
        r = model.run(dataclasses.replace(scn, cmdline=full))
        if r.outcome.verdict is not Verdict.RESERVED or r.outcome.regions == out.regions:
            continue  # fails, or changes nothing the kernel does (e.g. 6.12's own fallback written out)
        status, kdump = exit_status(r), ""
        if kexec:
            j = judge(model.run(dataclasses.replace(scn, cmdline=full, kexec_tools=kexec)))
            status, kdump = j.status, j.short
        found.append((status, full, _place(r), kdump))
    found.sort(key=lambda f: f[0])  # working fixes first; the order of the tries otherwise
    current = judge(model.run(dataclasses.replace(scn, kexec_tools=kexec))).short if kexec and out.regions else ""
    return Explanation(res, window, occ, largest, tuple((f[1], f[2]) for f in found), tuple(f[3] for f in found),
                       kexec, current)
