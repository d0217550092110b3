"""A sweep as text (boundaries, then the table of runs), as one JSON document, and as an SVG/HTML plot of the
verdict by RAM size (log scale) and generation."""

from __future__ import annotations

import json
import math
from html import escape

from kdumplab.ranges import format_size
from kdumplab.sweep import LAB_MAX, Point, Run, Sweep

__all__ = ["sweep_text", "sweep_json", "sweep_svg", "sweep_html", "COLOURS"]


def _gib(n: int) -> str:
    """Sizes as people say them: 1G, 1.5G, 4T, 768M."""
    return format_size(n) if n % (1 << 30) == 0 or n < (1 << 30) else f"{n / (1 << 30):g}G"


def _header(s: Sweep) -> list[str]:
    kexec = f"kexec-tools {s.kexec_tools}" if s.kexec_tools else "no kexec-tools check"
    lines = [f"sweep: {s.cmdline!r} on {s.machine}, RAM {_gib(s.start)}..{_gib(s.end)} in steps of "
             f"{_gib(s.step)} ({s.points} scenarios), {kexec}",
             f"generations: {', '.join(s.kernels)}"]
    if s.model_only_above:
        lines.append(f"note: above {_gib(s.model_only_above)} the lab cannot boot the machine (QEMU TCG); "
                     "those results are the model's alone")
    return lines


def sweep_text(s: Sweep) -> str:
    out = _header(s) + ["", "boundaries (the answer changes between these sizes):"]
    any_boundary = False
    for a, b in s.boundaries():
        any_boundary = True
        out.append(f"  {a.kernel:22} {_gib(a.last):>7} -> {_gib(b.first):<7} {a.sample.label()}  =>  "
                   f"{b.sample.label()}")
    if not any_boundary:
        out.append("  none: every generation gives one answer over the whole range")
    out += ["", f"{'generation':22} {'RAM from':>9} {'RAM to':>9}  answer"]
    for r in s.runs:
        out.append(f"{r.kernel:22} {_gib(r.first):>9} {_gib(r.last):>9}  {r.sample.label()}")
        if r.sample.verdict != "reserved":
            out.append(f"{'':22} {'':>9} {'':>9}    why ({_gib(r.first)}): {r.sample.reason}")
    return "\n".join(out) + "\n"


def _point_json(p: Point) -> dict[str, object]:
    return {"mem": p.mem, "verdict": p.verdict, "where": p.where or None, "low_memory": p.low_memory,
            "kexec": p.kexec or None, "reason": p.reason,
            "regions": [{"role": role, "start": start, "end": end - 1} for role, start, end in p.regions]}


def _run_json(r: Run) -> dict[str, object]:
    return {"kernel": r.kernel, "first": r.first, "last": r.last, "label": r.sample.label(),
            "model_only": r.last > LAB_MAX, "sample": _point_json(r.sample)}


def sweep_json(s: Sweep) -> str:
    """One document (docs/fleet.md, "sweep JSON")."""
    doc = {
        "cmdline": s.cmdline, "machine": s.machine, "kernels": list(s.kernels), "start": s.start, "end": s.end,
        "step": s.step, "kexec_tools": s.kexec_tools, "scenarios": s.points,
        "model_only_above": s.model_only_above,
        "boundaries": [{"kernel": a.kernel, "below": a.last, "above": b.first, "from": a.sample.label(),
                        "to": b.sample.label()} for a, b in s.boundaries()],
        "runs": [_run_json(r) for r in s.runs],
    }
    return json.dumps(doc, indent=1) + "\n"


#: one colour per kind of answer (colour-blind safe pairs; text labels carry the meaning too)
COLOURS = {"reserved low": "#1b9e77", "reserved high": "#7570b3", "no low memory": "#e6ab02",
           "kexec refuses": "#d95f02", "not reserved": "#c0392b", "nothing asked": "#999999"}


def _colour(p: Point) -> str:
    if p.verdict != "reserved":
        return COLOURS["not reserved" if p.verdict == "failed" else "nothing asked"]
    if p.kexec == "refuses":
        return COLOURS["kexec refuses"]
    if not p.low_memory:
        return COLOURS["no low memory"]
    return COLOURS["reserved " + p.where]


def sweep_svg(s: Sweep) -> str:
    """Rows = generations, x = RAM size on a log scale; each run a coloured band with a tooltip."""
    left, width, row_h, top = 190, 760, 26, 30
    height = top + row_h * len(s.kernels) + 70
    lo, hi = math.log2(s.start), math.log2(max(s.end, s.start + 1))

    def x(n: int) -> float:
        return left + (math.log2(max(n, s.start)) - lo) / max(hi - lo, 1e-9) * width

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{height}" '
             f'font-family="sans-serif" font-size="12" role="img" aria-label="sweep verdicts">',
             '<rect width="100%" height="100%" fill="#fff"/>']
    rows = {k: i for i, k in enumerate(s.kernels)}
    for r in s.runs:
        y = top + rows[r.kernel] * row_h
        x0 = x(r.first)
        nxt = min(r.last + s.step, s.end) if r.last < s.end else s.end
        x1 = max(x(nxt) if r.last < s.end else left + width, x0 + 1.5)
        parts.append(f'<rect class="run" data-kernel="{escape(r.kernel)}" x="{x0:.1f}" y="{y}" '
                     f'width="{x1 - x0:.1f}" height="{row_h - 4}" fill="{_colour(r.sample)}">'
                     f'<title>{escape(r.kernel)} {_gib(r.first)}..{_gib(r.last)}: {escape(r.sample.label())}'
                     f'</title></rect>')
    for k, i in rows.items():
        parts.append(f'<text x="{left - 8}" y="{top + i * row_h + row_h / 2 + 2}" text-anchor="end">'
                     f'{escape(k)}</text>')
    axis_y = top + row_h * len(s.kernels) + 4
    tick = 1 << max(int(lo), 0)
    while tick <= s.end:
        if tick >= s.start:
            parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 4}" y2="{axis_y}" '
                         f'stroke="#0003"/><text x="{x(tick):.1f}" y="{axis_y + 14}" text-anchor="middle">'
                         f'{_gib(tick)}</text>')
        tick *= 2
    if s.model_only_above:
        parts.append(f'<line x1="{x(LAB_MAX):.1f}" x2="{x(LAB_MAX):.1f}" y1="{top - 12}" y2="{axis_y}" '
                     f'stroke="#000" stroke-dasharray="4 3"/><text x="{x(LAB_MAX) + 4:.1f}" y="{top - 14}">'
                     'model only beyond this line (the lab boots up to 64G)</text>')
    lx = left
    for name, colour in COLOURS.items():
        parts.append(f'<rect x="{lx}" y="{axis_y + 26}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{lx + 16}" y="{axis_y + 36}">{escape(name)}</text>')
        lx += 24 + 7 * len(name)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def sweep_html(s: Sweep) -> str:
    rows = "".join(f"<tr><td>{escape(r.kernel)}</td><td>{_gib(r.first)}</td><td>{_gib(r.last)}</td>"
                   f"<td>{escape(r.sample.label())}</td></tr>" for r in s.runs)
    head = "".join(f"<p>{escape(line)}</p>" for line in _header(s))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>kdumplab sweep</title>"
            f"<style>body{{font-family:sans-serif;margin:1em}}td,th{{padding:2px 8px;text-align:left}}</style>"
            f"</head><body><h1>crashkernel= sweep</h1>{head}{sweep_svg(s)}"
            f"<table><thead><tr><th>generation</th><th>RAM from</th><th>RAM to</th><th>answer</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></body></html>\n")
