"""Text and JSON for check, explain, recommend and compare."""

from __future__ import annotations

import json
import textwrap

from kdumplab.bootconfig import METHODS, Method
from kdumplab.findings import Analysis
from kdumplab.machine import Machine
from kdumplab.ranges import SZ_1M, iec, with_sizes
from kdumplab.recommend import Recommendation
from kdumplab.render.machine import shape_line
from kdumplab.tools.compare import Row
from kdumplab.tools.explain import Explanation


def _family(a: Analysis) -> dict[str, object] | None:
    g = a.family
    if g is None:
        return None
    return {"name": g.name, "how": g.how, "why": g.why, "inferred": g.inferred,
            "alternatives": list(g.alternatives),
            "summary": g.family.summary if g.family else None, "policy": g.family.policy if g.family else None}


def analysis_dict(a: Analysis) -> dict[str, object]:
    """The ``check --json`` document (docs/tools.md). Region ends are inclusive, as /proc/iomem prints them."""
    return {"source": a.source, "arch": a.arch, "release": a.release, "view": a.view, "outcome": a.outcome,
            "family": _family(a), "generations": list(a.generations), "kexec_tools": list(a.kexec_versions),
            "regions": [{"name": r.name, "start": r.start, "end": r.end - 1, "size": r.size, "source": r.source,
                         "boot": r.boot, "inferred": r.inferred, "where": r.where, "evidence": list(r.evidence)}
                        for r in a.regions],
            "findings": [{"severity": f.severity.name.lower(), "code": f.code, "aliases": list(f.aliases),
                          "title": f.title, "evidence": list(f.evidence), "fix": f.fix} for f in a.findings]}


def check_json(a: Analysis) -> str:
    return json.dumps(analysis_dict(a), indent=2) + "\n"


def _size(n: int) -> str:
    return f"{n / (1 << 30):g} GiB" if n >= 1 << 30 and n % (1 << 28) == 0 else f"{n / SZ_1M:g} MiB"


def check_text(a: Analysis) -> str:
    fam = a.family
    famline = f"family: {fam.name}{' (inferred)' if fam.inferred else ''} -- {fam.why}" if fam else "family: unknown"
    out = [f"source: {a.source}", f"arch: {a.arch}  release: {a.release or 'unknown'}",
           f"written by: the {a.view}  outcome: {a.outcome}", famline,
           f"consistent kernel generations: {', '.join(a.generations) or 'none'}",
           f"kexec-tools: {', '.join(a.kexec_versions)}", "regions:"]
    for r in a.regions:
        tags = [r.source] + (["other boot"] if r.boot == "other" else []) + (["inferred"] if r.inferred else [])
        out.append(f"  {r.name:20} {r.start:#014x}-{r.end - 1:#014x}  {_size(r.size):>10}  ({', '.join(tags)})")
    if not a.regions:
        out.append("  none")
    out.append("")
    for f in a.findings:
        alias = f" (was {', '.join(f.aliases)})" if f.aliases else ""
        out.append(f"[{f.severity.name}] {f.code}{alias}: {f.title}")
        out += [f"    {e}" for e in f.evidence]
        if f.fix:
            out.append(f"    fix: {f.fix}")
    return "\n".join(out) + "\n"


def explain_text(e: Explanation) -> str:
    o = e.result.outcome
    out = [f"verdict: {o.verdict}  ({with_sizes(o.reason)})"]
    out += [f"  {r.name} {r.start:#x}-{r.end - 1:#x} {iec(r.size)}" for r in o.regions]
    if e.current:
        out.append(f"kdump with kexec-tools {e.kexec_tools} (Debian's with this kernel): {e.current}")
    out.append(f"low window: {e.window[0]:#x}-{e.window[1] - 1:#x} ({iec(e.window[1] - e.window[0])})")
    out += [f"  occupied by {w}: {s:#x}-{t - 1:#x} {iec(t - s)}" for w, s, t in e.occupants]
    if e.largest_free:
        s, t = e.largest_free
        out.append(f"  largest free block in the window: {s:#x}-{t - 1:#x} {iec(t - s)}")
    out.append("log:")
    out += [f"  {line}" for line in o.log]
    out.append("changes that reserve (each rerun on the model):" if e.suggestions else "no tried change reserves")
    for i, (c, p) in enumerate(e.suggestions):
        out.append(f"  {c}")
        out.append(f"      -> {p}")
        if i < len(e.kdump) and e.kdump[i]:
            out.append(f"      kdump with kexec-tools {e.kexec_tools}: {e.kdump[i]}")
    return "\n".join(out) + "\n"


def recommend_text(r: Recommendation, methods: tuple[Method, ...] = METHODS, width: int = 80) -> str:
    """The value to use first (marked ``>``), why, the fleet expression and how to apply it; then every
    candidate with its verdict; sources last, short."""
    def wrap(text: str, first: str = "  ", rest: str = "    ") -> list[str]:
        return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)

    out = [f"{r.machine}: {iec(r.ram)} RAM, kernel {r.kernel}"]
    use = r.use
    if use is not None:
        out += ["", f"use: {use.cmdline}"] + wrap(f"why: {r.why}")
    else:
        out += ["", f"no value reserves: {r.why}"]
    if r.fleet:
        out += ["", f"for a fleet: crashkernel={r.fleet}"] + wrap(
            f"(the largest any distribution table gives at each RAM size; {r.fleet_here})")
    if use is not None:
        out += ["", "apply it:"]
        for m in methods:
            out.append(f"  {m.title}:")
            out += [line for step in m.render(use.cmdline) for line in wrap(f"- {step}", "    ", "      ")]
            out += wrap(f"! {m.warning}", "    ", "      ")
    out += ["", "candidates (> the one to use):"]
    for i, c in enumerate(r.candidates):
        mark = ">" if i == r.chosen else " "
        out.append(f"{mark} {c.name}: {c.cmdline or '-'}")
        out += wrap(f"{c.verdict}: {with_sizes(c.placement)}" if c.placement else c.verdict, "    ", "      ")
        if c.kdump:
            out += wrap(f"kdump: {c.kdump}", "    ", "      ")
    out += ["", "sources:"] + [f"  {c.name}: {c.source.split(';')[0][:width - 6 - len(c.name)]}"
                               for c in r.candidates if "split" not in c.name]
    if r.calibration is not None:
        out += ["", "kdumptool calibrate (modelled, MiB):"]
        out += [f"  {line}" for line in r.calibration.text().splitlines()]
    return "\n".join(out) + "\n"


def recommend_json(r: Recommendation, methods: tuple[Method, ...] = METHODS) -> str:
    use = r.use
    return json.dumps({"machine": r.machine, "kernel": r.kernel, "ram": r.ram,
                       "use": None if use is None else {"cmdline": use.cmdline, "name": use.name, "why": r.why},
                       "fleet": {"cmdline": f"crashkernel={r.fleet}" if r.fleet else None, "here": r.fleet_here},
                       "apply": [] if use is None else [
                           {"method": m.key, "title": m.title, "steps": list(m.render(use.cmdline)),
                            "warning": m.warning, "source": m.source} for m in methods],
                       "candidates": [{"name": c.name, "cmdline": c.cmdline, "size": c.size, "source": c.source,
                                       "verdict": c.verdict, "placement": c.placement, "kdump": c.kdump,
                                       "exit_status": c.status, "use": i == r.chosen,
                                       "every_kaslr_boot": c.everywhere}
                                      for i, c in enumerate(r.candidates)]},
                      indent=2) + "\n"


def compare_text(rows: tuple[Row, ...], kernel: str | None = None, width: int = 80,
                 machine: Machine | None = None) -> str:
    """One block per kernel policy: what it reserves, then one line per kexec-tools version (wrapped to
    ``width``); ``*`` marks the kexec-tools Debian ships beside that kernel, ``>`` the row of ``kernel``.
    With ``machine``, a first line says its firmware, DMA window and page size; a row whose kernel has
    other pages says so."""
    out = textwrap.wrap(f"machine {machine.name}: {shape_line(machine)}", width) if machine is not None else []
    out += ["policy                  verdict    kexec_crash_size",
            "(> the --kernel row; * the kexec-tools Debian ships with that kernel)"]
    for r in rows:
        mark = ">" if r.policy == kernel else " "
        pages = f" ({iec(r.page_size)} pages)" if machine is not None and r.page_size != machine.page_size else ""
        out.append(f"{mark}{r.policy:23} {r.verdict:10} {iec(r.crash_size) if r.crash_size else '-'}{pages}")
        if r.reserved != "-":
            out += textwrap.wrap(r.reserved, width, initial_indent="  ", subsequent_indent="    ")
        if r.kaslr:
            out += textwrap.wrap(r.kaslr, width, initial_indent="  ", subsequent_indent="    ")
        for c in r.cells:
            star = "*" if c.version == r.paired else " "
            out += textwrap.wrap(f"{star}{c.version}: {c.short}", width, initial_indent="  ",
                                 subsequent_indent="          ")
        if r.measured:  # the 2019 designs: what their real kernels did (issue 13)
            out += textwrap.wrap(f"measured: {r.measured}", width, initial_indent="  ", subsequent_indent="    ")
    if rows and all(c.loaded is None for r in rows for c in r.cells):
        out.append("(kexec-tools is modelled for arm64 only)")
    return "\n".join(out) + "\n"
