"""Text and JSON for check, explain, recommend and compare."""

from __future__ import annotations

import json

from kdumplab.findings import Analysis
from kdumplab.ranges import SZ_1M
from kdumplab.recommend import Recommendation
from kdumplab.tools.compare import Row
from kdumplab.tools.explain import Explanation


def analysis_dict(a: Analysis) -> dict[str, object]:
    return {"source": a.source, "arch": a.arch, "release": a.release, "generations": list(a.generations),
            "kexec_tools": list(a.kexec_versions),
            "regions": [{"start": r.start, "end": r.end, "name": r.name, "where": r.where} for r in a.regions],
            "findings": [{"severity": f.severity.name.lower(), "code": f.code, "title": f.title,
                          "evidence": list(f.evidence), "fix": f.fix} for f in a.findings]}


def check_json(a: Analysis) -> str:
    return json.dumps(analysis_dict(a), indent=2) + "\n"


def check_text(a: Analysis) -> str:
    out = [f"source: {a.source}", f"arch: {a.arch}  release: {a.release or 'unknown'}",
           f"consistent kernel generations: {', '.join(a.generations) or 'none'}",
           f"kexec-tools: {', '.join(a.kexec_versions)}", ""]
    for f in a.findings:
        out.append(f"[{f.severity.name}] {f.code}: {f.title}")
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
