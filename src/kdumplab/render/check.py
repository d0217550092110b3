"""Text and JSON for check, explain, recommend and compare."""

from __future__ import annotations

import json

from kdumplab.findings import Analysis
from kdumplab.ranges import SZ_1M
from kdumplab.recommend import Recommendation
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
    out = [f"verdict: {o.verdict}  ({o.reason})"]
    out += [f"  {r.name} [{r.start:#x}, {r.end:#x}) {r.size // SZ_1M} MiB" for r in o.regions]
    out.append(f"low window: [{e.window[0]:#x}, {e.window[1]:#x})")
    out += [f"  occupied by {w}: [{s:#x}, {t:#x}) {(t - s) // SZ_1M} MiB" for w, s, t in e.occupants]
    if e.largest_free:
        s, t = e.largest_free
        out.append(f"  largest free block in the window: [{s:#x}, {t:#x}) {(t - s) // SZ_1M} MiB")
    out.append("log:")
    out += [f"  {line}" for line in o.log]
    out.append("changes that reserve (each rerun on the model):" if e.suggestions else "no tried change reserves")
    out += [f"  {c}\n      -> {p}" for c, p in e.suggestions]
    return "\n".join(out) + "\n"


def recommend_text(r: Recommendation) -> str:
    out = [f"{r.machine}: {r.ram / (1 << 30):.2f} GiB RAM, kernel {r.kernel}"]
    for c in r.candidates:
        out.append(f"  {c.name:28} {c.cmdline:48} {c.verdict:9} {c.placement}")
        out.append(f"      source: {c.source}")
    return "\n".join(out) + "\n"


def recommend_json(r: Recommendation) -> str:
    return json.dumps({"machine": r.machine, "kernel": r.kernel, "ram": r.ram,
                       "candidates": [{"name": c.name, "cmdline": c.cmdline, "size": c.size, "source": c.source,
                                       "verdict": c.verdict, "placement": c.placement} for c in r.candidates]},
                      indent=2) + "\n"


def compare_text(rows: tuple[Row, ...]) -> str:
    out = [f"{'policy':22} {'verdict':9} {'kexec_crash_size':>16}  reserved", ]
    for r in rows:
        out.append(f"{r.policy:22} {r.verdict:9} {r.crash_size:>16}  {r.reserved}")
        for c in r.cells:
            out.append(f"    kexec-tools {c.version}: {c.short}")
    if rows and all(c.loaded is None for r in rows for c in r.cells):
        out.append("(kexec-tools is modelled for arm64 only)")
    return "\n".join(out) + "\n"
