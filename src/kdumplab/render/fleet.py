"""fleet output: the summary grouped by finding code, and the fleet page (HTML, self-contained): causes by
kernel family and by RAM size as SVG grids, and a sortable table of hosts read back from the DuckDB file."""

from __future__ import annotations

import json
from html import escape

from kdumplab.tools.fleet import FleetRun

__all__ = ["summary_text", "fleet_html", "HOST_ROWS"]

#: the page lists at most this many hosts (the worst first); the database has them all
HOST_ROWS = 5000
_ORDER = {"error": 0, "warning": 1, "info": 2}


def summary_text(run: FleetRun, db_path: str) -> str:
    rate = run.hosts / run.seconds * 60 if run.seconds > 0 else 0.0
    out = [f"fleet: {run.hosts} hosts ({run.checked} checked, {run.reused} unchanged since the last run, "
           f"{run.broken} unreadable) in {run.seconds:.1f} s ({rate:,.0f} hosts/min, {run.backend}); "
           f"results in {db_path}", ""]
    causes = sorted(run.causes.values(), key=lambda c: (_ORDER.get(c.severity, 3), -c.hosts, c.code))
    if not causes:
        out.append("no findings on any host")
    for c in causes:
        more = f" and {c.hosts - len(c.examples)} more" if c.hosts > len(c.examples) else ""
        out.append(f"{c.code} [{c.severity}] on {c.hosts} host{'s' if c.hosts != 1 else ''}")
        out.append(f"    e.g. {', '.join(c.examples)}{more}")
        out.append(f"    on {c.examples[0]}: {c.title}")
        if c.fix:
            out.append(f"    fix: {c.fix}")
    if run.broken:
        out.append(f"INPUT_ERROR on {run.broken} host{'s' if run.broken != 1 else ''}: the capture could not be "
                   "read (see each host's error in --json or the hosts table)")
    return "\n".join(out) + "\n"


def _grid(title: str, rows: list[str], cols: list[str], counts: dict[tuple[str, str], int]) -> str:
    """Rows = causes, columns = a grouping; each cell shaded by its host count, the count written in it."""
    cw, rh, left, top = 86, 22, 210, 40
    width, height = left + cw * max(len(cols), 1) + 10, top + rh * max(len(rows), 1) + 10
    peak = max(counts.values(), default=1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="grid" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11" role="img" aria-label="{escape(title)}">']
    for j, col in enumerate(cols):
        parts.append(f'<text x="{left + j * cw + cw / 2}" y="{top - 8}" text-anchor="middle">{escape(col)}</text>')
    for i, row in enumerate(rows):
        y = top + i * rh
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{escape(row)}</text>')
        for j, col in enumerate(cols):
            n = counts.get((row, col), 0)
            shade = 0.08 + 0.82 * n / peak if n else 0.0
            parts.append(f'<rect class="cell" x="{left + j * cw}" y="{y}" width="{cw - 2}" height="{rh - 2}" '
                         f'fill="rgba(192,57,43,{shade:.2f})" stroke="#ddd"><title>{escape(row)} / {escape(col)}: '
                         f'{n} hosts</title></rect>')
            if n:
                parts.append(f'<text x="{left + j * cw + cw / 2}" y="{y + 15}" text-anchor="middle">{n}</text>')
    parts.append("</svg>")
    return f"<h2>{escape(title)}</h2>" + "".join(parts)


_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach((th, col) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0];
  const asc = th.dataset.dir !== 'asc'; th.dataset.dir = asc ? 'asc' : 'desc';
  const key = r => { const c = r.cells[col]; return c.dataset.v !== undefined ? Number(c.dataset.v) : c.textContent; };
  [...body.rows].sort((a, b) => { const x = key(a), y = key(b);
    return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); }).forEach(r => body.appendChild(r));
}));
"""


def fleet_html(db_path: str, run: FleetRun) -> str:
    from kdumplab.tools.fleet import open_db

    con = open_db(db_path)
    try:
        cause_rows = con.execute(
            "SELECT f.code, coalesce(h.family, 'unknown'), h.ram_bucket, count(DISTINCT h.path) FROM findings f "
            "JOIN hosts h USING (path) WHERE f.severity IN ('warning', 'error') GROUP BY ALL").fetchall()
        broken = con.execute("SELECT 'INPUT_ERROR', 'unknown', 'unknown', count(*) FROM hosts "
                             "WHERE status = 'error' HAVING count(*) > 0").fetchall()
        hosts = con.execute(
            "SELECT host, status, coalesce(family, ''), coalesce(release, ''), coalesce(ram, 0), "
            "coalesce(worst, ''), coalesce(exit, 2), coalesce(error, ''), "
            "coalesce((SELECT string_agg(DISTINCT code, ' ') FROM findings f WHERE f.path = h.path), '') "
            "FROM hosts h ORDER BY exit DESC NULLS FIRST, host LIMIT ?", [HOST_ROWS]).fetchall()
        total = con.execute("SELECT count(*) FROM hosts").fetchone()[0]
    finally:
        con.close()
    by_family: dict[tuple[str, str], int] = {}
    by_ram: dict[tuple[str, str], int] = {}
    for code, fam, ram, n in cause_rows + broken:
        by_family[(code, fam)] = by_family.get((code, fam), 0) + n
        by_ram[(code, ram)] = by_ram.get((code, ram), 0) + n
    codes = sorted({k[0] for k in by_family})
    families = sorted({k[1] for k in by_family})
    rams = sorted({k[1] for k in by_ram}, key=_ram_order)
    rows = "".join(
        f"<tr class='{escape(status)}'><td>{escape(host)}</td><td>{escape(status)}</td><td>{escape(fam)}</td>"
        f"<td>{escape(rel)}</td><td data-v='{ram}'>{ram / (1 << 30):.1f} GiB</td><td>{escape(worst)}</td>"
        f"<td data-v='{code}'>{code}</td><td>{escape(codes_)}{escape(err)}</td></tr>"
        for host, status, fam, rel, ram, worst, code, err, codes_ in hosts)
    note = f"<p>The {HOST_ROWS} worst of {total} hosts are listed; the database has all.</p>" if total > HOST_ROWS \
        else ""
    summary = escape(summary_text(run, db_path))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>kdumplab fleet</title><style>"
        "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{padding:2px 8px;"
        "border-bottom:1px solid #eee;text-align:left}th{cursor:pointer;background:#f4f4f4}tr.error td{color:#a00}"
        "pre{background:#fafafa;padding:.5em}</style></head><body><h1>kdump across the fleet</h1>"
        f"<pre>{summary}</pre>"
        + (_grid("Causes by kernel family", codes, families, by_family) if codes else "<p>No causes.</p>")
        + (_grid("Causes by RAM size", codes, rams, by_ram) if codes else "")
        + f"<h2>Hosts</h2>{note}<table class='sortable' id='hosts'><thead><tr><th>host</th><th>status</th>"
        "<th>family</th><th>release</th><th>RAM</th><th>worst</th><th>exit</th><th>findings / error</th></tr>"
        f"</thead><tbody>{rows}</tbody></table><script>{_SORT_JS}</script>"
        f"<script type='application/json' id='counts'>{json.dumps({'hosts': total})}</script></body></html>\n")


def _ram_order(bucket: str) -> tuple[int, int]:
    if bucket == "unknown":
        return (1, 0)
    n = int(bucket[2:-1])
    return (0, n << (10 if bucket.endswith("T") else 0))
