"""One self-contained HTML page: the memory map (inline SVG), the findings and the policy matrix."""

from __future__ import annotations

from html import escape

from kdumplab import model
from kdumplab.findings import Analysis
from kdumplab.render.svg import memory_map
from kdumplab.tools.compare import Row
from kdumplab.tools.explain import Explanation


def page(res: model.Result, expl: Explanation, rows: tuple[Row, ...], analysis: Analysis) -> str:
    s = res.scenario
    o = res.outcome
    regions = "".join(f"<li>{escape(r.name)} ({r.role}): [{r.start:#x}, {r.end:#x}) {r.size >> 20} MiB</li>"
                      for r in o.regions) or "<li>none</li>"
    sugg = "".join(f"<li><code>{escape(c)}</code> &rarr; {escape(p)}</li>" for c, p in expl.suggestions)
    log = escape("\n".join(o.log))
    finds = "".join(f"<li><b>{f.severity.name}</b> {escape(f.code)}: {escape(f.title)}"
                    + (f"<br>fix: <code>{escape(f.fix)}</code>" if f.fix else "") + "</li>" for f in analysis.findings)
    kv = [k for k, _ in rows[0].kexec] if rows else []
    head = "".join(f"<th>kexec-tools {escape(k)}</th>" for k in kv)
    body = "".join("<tr>" + f"<td>{escape(r.policy)}</td><td>{escape(r.verdict)}</td><td>{escape(r.reserved)}</td>"
                   f"<td>{r.crash_size}</td>" + "".join(f'<td title="{escape(c.verdict)}">{escape(c.short)}</td>'
                                                       for c in r.cells) + "</tr>"
                   for r in rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>kdumplab report: {escape(s.machine.name)}</title>
<style>body{{font-family:sans-serif;margin:16px;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #aaa;padding:3px 6px;font-size:12px}}pre{{background:#f4f4f4;padding:6px}}</style></head>
<body><h1>{escape(s.machine.name)}</h1>
<p>kernel <b>{escape(s.kernel)}</b>, cmdline <code>{escape(s.cmdline)}</code>: <b id="verdict">{o.verdict}</b>
({escape(o.reason)})</p>
{memory_map(res)}
<h2>Crash regions</h2><ul id="regions">{regions}</ul>
<h2>Boot log</h2><pre>{log}</pre>
<h2>Findings</h2><ul id="findings">{finds}</ul>
<h2>Changes that reserve (each rerun on the model)</h2><p>low window [{expl.window[0]:#x}, {expl.window[1]:#x})</p>
<ul>{sugg or "<li>none of the tried changes reserves</li>"}</ul>
<h2>Kernel policies &times; kexec-tools</h2>
<table><tr><th>policy</th><th>verdict</th><th>reserved</th><th>kexec_crash_size</th>{head}</tr>{body}</table>
</body></html>
"""
