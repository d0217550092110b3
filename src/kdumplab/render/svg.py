"""An inline SVG memory map of one model Result: banks, DMA limit, 4 GiB line, early and crash regions.

The scale is broken so every machine stays readable: large holes between banks are drawn as a short break,
and the memory below 4 GiB (where the low window, the DMA limit and most failures are) gets at least a third
of the width however much memory lies above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from kdumplab import model
from kdumplab.ranges import SZ_1G, SZ_4G, iec

__all__ = ["memory_map", "legend_html", "Scale", "scale_for", "LEGEND"]

W, H, X0, BAR, BREAK = 960, 300, 20, 60, 14
LOW_SHARE = 1 / 3  # the least share of the width the memory below 4 GiB gets when there is memory above it
BAR_Y = 40

#: (css class, colour, label) of everything the map draws
LEGEND = (
    ("bank", "#cfe3ff", "RAM"),
    ("reserved", "#999999", "firmware / no-map"),
    ("early", "#e8e0c0", "kernel allocations before the reservation"),
    ("cma", "#f2c14e", "CMA"),
    ("crash", "#d7263d", "crash region (main)"),
    ("crash-low", "#f4978e", "crash region (low)"),
    ("segment", "#2a9d8f", "kexec -p segments"),
    ("kaslr-ok", "#95d5b2", "where KASLR may put the kernel: crash region reserved"),
    ("kaslr-fail", "#6a040f", "where KASLR may put the kernel: reservation fails"),
)


@dataclass(frozen=True, slots=True)
class Scale:
    """A piecewise-linear map from addresses to x: ``pieces`` of (start, end, x0, x1); holes between pieces
    are breaks."""

    pieces: tuple[tuple[int, int, float, float], ...]

    def x(self, addr: int) -> float:
        first, last = self.pieces[0], self.pieces[-1]
        if addr <= first[0]:
            return first[2]
        for (s, e, x0, x1), nxt in zip(self.pieces, (*self.pieces[1:], None), strict=True):
            if addr <= e:
                return x0 + (addr - s) * (x1 - x0) / max(e - s, 1)
            if nxt is not None and addr < nxt[0]:  # in a break: spread over the break's width
                return x1 + (addr - e) * (nxt[2] - x1) / max(nxt[0] - e, 1)
        return last[3]

    def width(self, start: int, end: int) -> float:
        return self.x(end) - self.x(start)


def _spans(res: model.Result) -> list[tuple[int, int]]:
    """Address spans drawn to scale: the banks, with holes under a twentieth of the RAM closed."""
    banks = sorted((b.start, b.start + b.size) for b in res.scenario.machine.banks)
    ram = sum(e - s for s, e in banks)
    out = [list(banks[0])]
    for s, e in banks[1:]:
        if s - out[-1][1] <= ram // 20:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def scale_for(res: model.Result, left: float = X0, right: float = W - X0) -> Scale:
    spans = _spans(res)
    cut = SZ_4G
    pieces: list[tuple[int, int, bool]] = []  # (start, end, below 4 GiB)
    for s, e in spans:
        if s < cut < e:
            pieces += [(s, cut, True), (cut, e, False)]
        else:
            pieces.append((s, e, e <= cut))
    low = sum(e - s for s, e, lo in pieces if lo)
    high = sum(e - s for s, e, lo in pieces if not lo)
    breaks = sum(1 for a, b in zip(pieces, pieces[1:], strict=False) if a[1] != b[0])
    room = right - left - BREAK * breaks
    if low and high:
        low_w = room * max(low / (low + high), LOW_SHARE)
        widths = {True: low_w / low, False: (room - low_w) / high}
    else:
        widths = {True: room / max(low + high, 1), False: room / max(low + high, 1)}
    out, x = [], left
    for i, (s, e, lo) in enumerate(pieces):
        if i and pieces[i - 1][1] != s:
            x += BREAK
        w = (e - s) * widths[lo]
        out.append((s, e, x, x + w))
        x += w
    return Scale(tuple(out))


def _ticks(scale: Scale, marks: tuple[int, ...]) -> list[int]:
    """Addresses to label: each piece's ends and the marks, then round steps where there is room (70 px)."""
    want = {p[0] for p in scale.pieces} | {scale.pieces[-1][1]} | set(marks)
    for s, e, x0, x1 in scale.pieces:
        step = SZ_1G >> 4
        while (x1 - x0) * step / max(e - s, 1) < 90:
            step <<= 1
        a = -(-s // step) * step
        while a < e:
            want.add(a)
            a += step
    chosen: list[int] = []
    for a in sorted(want, key=lambda v: (v not in marks, v not in {p[0] for p in scale.pieces}, v)):
        if all(abs(scale.x(a) - scale.x(b)) >= 70 for b in chosen):
            chosen.append(a)
    return sorted(chosen)


def _tick_label(addr: int) -> str:
    return f"{addr:#x}"


def memory_map(res: model.Result, kaslr: Any = None) -> str:
    """The map of one result; with ``kaslr`` (a kdumplab.kaslr.Distribution) also the band of places the
    kernel can land, each coloured by whether the reservation then succeeds."""
    m = res.scenario.machine
    scale = scale_for(res)
    x = scale.x
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             'font-family="sans-serif" font-size="11" role="img" aria-label="memory map">',
             f'<rect width="{W}" height="{H}" fill="#ffffff"/>']

    def box(s: int, e: int, y: int, h: int, cls: str, label: str) -> None:
        colour = next(c for k, c, _ in LEGEND if k == cls)
        w = max(scale.width(s, e), 1.5)
        parts.append(f'<rect class="{cls}" x="{x(s):.1f}" y="{y}" width="{w:.1f}" height="{h}" fill="{colour}" '
                     f'stroke="#333" stroke-width="0.5"><title>{escape(label)} {s:#x}-{e - 1:#x} ({iec(e - s)})'
                     '</title></rect>')

    for b in m.banks:
        box(b.start, b.start + b.size, BAR_Y, BAR, "reserved" if b.nomap else "bank", f"RAM bank node {b.node}")
    for r in m.reserved:
        box(r.start, r.start + r.size, BAR_Y, BAR, "reserved", f"{r.name}{' (nomap)' if r.nomap else ''}")
    for e in res.outcome.early:
        box(e.start, e.start + e.size, BAR_Y + BAR + 5, 18, "cma" if "CMA" in e.what else "early", e.what)
    labels = []
    for c in res.outcome.regions:
        box(c.start, c.end, BAR_Y, BAR, "crash-low" if c.role.value == "low" else "crash", f"{c.name} ({c.role})")
        labels.append((x(c.start), f"{c.name} ({c.role}) {iec(c.size)} at {c.start:#x}"))
    load = res.kexec
    for seg in (getattr(load, "segments", ()) or ()) if load is not None else ():
        box(seg.start, seg.start + seg.size, BAR_Y + BAR + 30, 12, "segment", f"kexec segment {seg.what}")
    for start, end, verdict in kaslr.runs() if kaslr is not None else ():
        ok = verdict == "reserved"
        box(start, end, BAR_Y + BAR + 45, 10, "kaslr-ok" if ok else "kaslr-fail",
            f"kernel starting in this range (KASLR): crash region {'reserved' if ok else verdict}")
    # the low window (what "below the low limit" means for this kernel) as a band above the bar
    low_end = min(res.outcome.low_max, scale.pieces[-1][1])
    if low_end > scale.pieces[0][0]:
        lw = max(scale.width(scale.pieces[0][0], low_end), 1.5)
        parts.append(f'<rect class="low-window" x="{scale.pieces[0][2]:.1f}" y="{BAR_Y - 8}" width="{lw:.1f}" '
                     f'height="5" fill="#7b2cbf" opacity="0.6"><title>low window: below {low_end:#x} '
                     f'({iec(low_end)})</title></rect>')
    marks = []
    dma = m.dma_address_limit + 1 if m.dma_address_limit is not None else res.outcome.low_max
    lines = ((SZ_4G, "4 GiB = DMA limit", "#000000"),) if dma == SZ_4G else (
        (dma, "DMA limit", "#7b2cbf"), (SZ_4G, "4 GiB", "#000000"))
    for addr, label, colour in lines:
        marks.append(addr)
        px = x(addr)
        parts.append(f'<line class="mark" x1="{px:.1f}" y1="{BAR_Y - 14}" x2="{px:.1f}" y2="{BAR_Y + BAR + 50}" '
                     f'stroke="{colour}" stroke-dasharray="4 2"/><text x="{px + 3:.1f}" y="{BAR_Y - 16}" '
                     f'fill="{colour}">{label}</text>')
    for prev, nxt in zip(scale.pieces, scale.pieces[1:], strict=False):
        if prev[1] != nxt[0]:
            mid = (prev[3] + nxt[2]) / 2
            parts.append(f'<path class="break" d="M{mid - 4:.1f},{BAR_Y - 4} l8,{BAR // 2 + 4} l-8,{BAR // 2 + 4}" '
                         f'stroke="#555" fill="none"><title>hole {prev[1]:#x}-{nxt[0] - 1:#x} '
                         f'({iec(nxt[0] - prev[1])}), not to scale</title></path>')
    axis_y = BAR_Y + BAR + 62
    parts.append(f'<line x1="{X0}" y1="{axis_y}" x2="{W - X0}" y2="{axis_y}" stroke="#333"/>')
    for a in _ticks(scale, tuple(marks)):
        px = x(a)
        anchor = "start" if px < X0 + 30 else "end" if px > W - X0 - 30 else "middle"
        parts.append(f'<line class="tick" x1="{px:.1f}" y1="{axis_y}" x2="{px:.1f}" y2="{axis_y + 5}" '
                     f'stroke="#333"/><text class="tick-label" x="{px:.1f}" y="{axis_y + 17}" '
                     f'text-anchor="{anchor}" fill="#333">{_tick_label(a)}</text>'
                     f'<text x="{px:.1f}" y="{axis_y + 29}" text-anchor="{anchor}" fill="#777">{iec(a) if a else "0"}'
                     '</text>')
    for i, (px, text) in enumerate(labels):
        parts.append(f'<text class="crash-label" x="{min(px, W - 300):.1f}" y="{axis_y + 48 + 14 * i}" '
                     f'fill="#d7263d">{escape(text)}</text>')
    parts.append("</svg>")
    height = axis_y + 40 + 14 * len(labels)
    parts[0] = parts[0].replace(f'height="{H}" viewBox="0 0 {W} {H}"', f'height="{height}" viewBox="0 0 {W} {height}"')
    parts[1] = f'<rect width="{W}" height="{height}" fill="#ffffff"/>'
    return "\n".join(parts)


def legend_html() -> str:
    """The legend as HTML (swatches with labels), beside the map."""
    items = "".join(f'<li><span class="sw" style="background:{c}"></span>{escape(label)}</li>'
                    for _, c, label in LEGEND)
    items += ('<li><span class="ln" style="border-color:#000"></span>4 GiB</li>'
              '<li><span class="ln" style="border-color:#7b2cbf"></span>DMA limit (low window above the bar)</li>'
              '<li><span class="brk">&#x2307;</span>hole between banks, not to scale</li>')
    return f'<ul id="legend" class="legend">{items}</ul>'
