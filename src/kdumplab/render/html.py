"""One self-contained HTML page: the memory map (inline SVG) with its legend, the verdict, the findings and
the policy matrix, each verdict cell coloured by the exit status it stands for."""

from __future__ import annotations

from html import escape
from typing import Any

from kdumplab import model
from kdumplab.findings import Analysis
from kdumplab.ranges import iec, iec_hex, with_sizes
from kdumplab.render.machine import shape_line
from kdumplab.render.svg import legend_html, memory_map
from kdumplab.tools.compare import Row
from kdumplab.tools.explain import Explanation

__all__ = ["page"]


def _kaslr_html(dist: Any) -> str:
    """x86 physical KASLR: the band under the map, in words."""
    if dist is None:
        return ""
    from kdumplab.kaslr import share_text  # noqa: PLC0415

    return (f'<p id="kaslr">The kernel&#39;s physical address is random (KASLR). Crash region: '
            f"{escape(share_text(dist))}. The band under the map shows where the kernel can start (2 MiB slots; "
            f"it then occupies {dist.image_size >> 20} MiB), green where the reservation then succeeds and dark red "
            "where it fails; the regions above are the nokaslr placement.</p>")

_STATUS_CLASS = {0: "ok", 1: "warn", 3: "broken"}

_STYLE = """body{font-family:sans-serif;margin:16px;color:#222;max-width:1200px}
table{border-collapse:collapse}td,th{border:1px solid #aaa;padding:3px 6px;font-size:12px;vertical-align:top}
pre{background:#f4f4f4;padding:6px;overflow-x:auto}
.ok{background:#d8f3dc}.warn{background:#fff3bf}.broken{background:#ffd6d6}.none{background:#eeeeee}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px}
.legend li{display:flex;align-items:center;gap:5px}
.sw{display:inline-block;width:14px;height:12px;border:1px solid #333}
.ln{display:inline-block;width:0;height:14px;border-left:2px dashed}.brk{font-size:14px}
.mark{font-weight:bold}td.here{outline:2px solid #222}"""


def page(res: model.Result, expl: Explanation, rows: tuple[Row, ...], analysis: Analysis,
         kernel: str | None = None, kaslr: Any = None) -> str:
    s = res.scenario
    o = res.outcome
    kernel = kernel or res.policy.name
    regions = "".join(f"<li>{escape(r.name)} ({r.role}): {r.start:#x}-{r.end - 1:#x}, {iec(r.size)}</li>"
                      for r in o.regions) or "<li>none</li>"
    sugg = "".join(f"<li><code>{escape(c)}</code> &rarr; {escape(p)}</li>" for c, p in expl.suggestions)
    log = escape("\n".join(o.log))
    row = next((r for r in rows if r.policy == kernel), None)
    kdump = ""
    if row is not None:
        kdump = "".join(f'<li class="{_STATUS_CLASS.get(c.status, "none")}"><b>kdump with kexec-tools '
                        f'{escape(c.version)}{" (Debian&#39;s, with this kernel)" if c.version == row.paired else ""}'
                        f"</b>: {escape(c.verdict)}</li>" for c in row.cells)
    finds = "".join(f"<li><b>{f.severity.name}</b> {escape(f.code)}: {escape(f.title)}"
                    + (f"<br>fix: <code>{escape(f.fix)}</code>" if f.fix else "") + "</li>" for f in analysis.findings)
    kv = [k for k, _ in rows[0].kexec] if rows else []
    head = "".join(f"<th>kexec-tools {escape(k)}</th>" for k in kv)

    def cell(r: Row, c) -> str:  # noqa: ANN001
        cls = _STATUS_CLASS.get(c.status, "none") if c.loaded is not None else "none"
        here = " here" if r.policy == kernel and c.version == r.paired else ""
        star = " *" if c.version == r.paired else ""
        return f'<td class="{cls}{here}" title="{escape(c.verdict)}">{escape(c.short)}{star}</td>'

    body = "".join(f'<tr><td{" class=mark" if r.policy == kernel else ""}>{escape(r.policy)}</td>'
                   f'<td class="{"ok" if r.verdict == "reserved" else "broken" if r.verdict == "failed" else "none"}">'
                   f"{escape(r.verdict)}</td><td>{escape(r.reserved)}</td>"
                   f"<td>{iec(r.crash_size) if r.crash_size else 0}</td>" + "".join(cell(r, c) for c in r.cells)
                   + "</tr>" for r in rows)
    notes = "".join(f"<li><b>{escape(r.policy)}</b>: {escape(r.measured)}</li>" for r in rows if r.measured)
    measured = (f"<h2>What real boots of these kernels showed</h2><ul id=\"measured\">{notes}</ul>" if notes
                else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>kdumplab report: {escape(s.machine.name)}</title>
<style>{_STYLE}</style></head>
<body><h1>{escape(s.machine.name)}</h1>
<p id="shape">{escape(shape_line(s.machine, res.policy.page_size))}</p>
<p>{iec_hex(s.machine.ram_size)} RAM; kernel <b>{escape(s.kernel)}</b>, cmdline <code>{escape(s.cmdline)}</code>:
<b id="verdict">{o.verdict}</b> ({escape(with_sizes(o.reason))})</p>
{memory_map(res, kaslr)}
{legend_html()}{_kaslr_html(kaslr)}
<h2>Crash regions</h2><ul id="regions">{regions}</ul>
<h2>Does kdump work?</h2><ul id="kdump">{kdump or "<li>kexec-tools is not modelled for this kernel</li>"}</ul>
<h2>Findings</h2><ul id="findings">{finds}</ul>
<h2>Boot log</h2><pre>{log}</pre>
<h2>Changes that reserve (each rerun on the model)</h2><p>low window {expl.window[0]:#x}-{expl.window[1] - 1:#x}
({iec(expl.window[1] - expl.window[0])})</p>
<ul>{sugg or "<li>none of the tried changes reserves</li>"}</ul>
<h2>Kernel policies &times; kexec-tools</h2>
<p>Green: kdump works; yellow: it works with warnings; red: it will not work; grey: nothing reserved or not
modelled. * marks the kexec-tools Debian ships with each kernel; the outlined cell is this report's.</p>
<table id="matrix"><tr><th>policy</th><th>verdict</th><th>reserved</th><th>kexec_crash_size</th>{head}</tr>{body}
</table>
{measured}
</body></html>
"""
