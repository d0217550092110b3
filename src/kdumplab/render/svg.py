"""An inline SVG memory map of one model Result: banks, DMA limit, 4 GiB line, early and crash regions."""

from __future__ import annotations

from html import escape

from kdumplab import model
from kdumplab.ranges import SZ_4G

W, H, X0, BAR = 960, 220, 20, 60


def memory_map(res: model.Result) -> str:
    m = res.scenario.machine
    lo = min(b.start for b in m.banks)
    hi = max(b.start + b.size for b in m.banks)
    span = max(hi - lo, 1)

    def x(addr: int) -> float:
        return X0 + (min(max(addr, lo), hi) - lo) * (W - 2 * X0) / span

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             'font-family="sans-serif" font-size="11">', f'<rect width="{W}" height="{H}" fill="#ffffff"/>']

    def box(s: int, e: int, y: int, h: int, fill: str, label: str, cls: str) -> None:
        w = max(x(e) - x(s), 1.5)
        parts.append(f'<rect class="{cls}" x="{x(s):.1f}" y="{y}" width="{w:.1f}" height="{h}" fill="{fill}" '
                     f'stroke="#333" stroke-width="0.5"><title>{escape(label)} [{s:#x}, {e:#x})</title></rect>')

    for b in m.banks:
        box(b.start, b.start + b.size, 40, BAR, "#cfe3ff" if not b.nomap else "#bbbbbb",
            f"RAM bank node {b.node}", "bank")
    for r in m.reserved:
        box(r.start, r.start + r.size, 40, BAR, "#999999" if r.nomap else "#d0d0d0",
            f"{r.name}{' (nomap)' if r.nomap else ''}", "reserved")
    for e in res.outcome.early:
        box(e.start, e.start + e.size, 105, 18, "#f2c14e" if "CMA" in e.what else "#e8e0c0", e.what, "early")
    labels = []
    for c in res.outcome.regions:
        box(c.start, c.end, 40, BAR, "#d7263d", f"{c.name} ({c.role})", "crash")
        labels.append((x(c.start), f"{c.name} ({c.role}) {c.size >> 20} MiB"))
    load = res.kexec
    for seg in (getattr(load, "segments", ()) or ()) if load is not None else ():
        s = getattr(seg, "start", getattr(seg, "mem", None))
        sz = getattr(seg, "size", getattr(seg, "memsz", 0))
        if isinstance(s, int) and isinstance(sz, int):
            box(s, s + sz, 130, 12, "#2a9d8f", "kexec segment", "segment")
    for addr, label, colour in ((m.dma_address_limit and m.dma_address_limit + 1, "DMA limit", "#7b2cbf"),
                                (SZ_4G, "4 GiB", "#000000")):
        if addr and lo < addr < hi:
            parts.append(f'<line x1="{x(addr):.1f}" y1="30" x2="{x(addr):.1f}" y2="150" stroke="{colour}" '
                         f'stroke-dasharray="4 2"/><text x="{x(addr) + 3:.1f}" y="28" fill="{colour}">'
                         f'{label}</text>')
    for i, (px, text) in enumerate(labels):
        parts.append(f'<text class="crash-label" x="{px:.1f}" y="{170 + 14 * i}" fill="#d7263d">'
                     f'{escape(text)}</text>')
    parts.append(f'<text x="{X0}" y="{H - 6}" fill="#333">{lo:#x}</text>'
                 f'<text x="{W - X0}" y="{H - 6}" fill="#333" text-anchor="end">{hi:#x}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
