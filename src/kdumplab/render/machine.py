"""A machine description for people: banks and reservations with sizes in IEC units and hex beside them."""

from __future__ import annotations

from kdumplab.machine import Machine
from kdumplab.ranges import iec, iec_hex

__all__ = ["machine_text", "preset_table", "shape_line"]

_FIRMWARE = {"dt": "DT boot", "uefi": "UEFI (EFI stub)", "bios": "BIOS"}


def shape_line(m: Machine, page_size: int | None = None) -> str:
    """The machine's shape in one line: how it boots, the DMA window, the page size (the kernel's when
    given: a 16K kernel on a machine file that says 4K runs with 16K pages)."""
    dma = (f"DMA window {iec(m.dma_address_limit + 1 - min(b.start for b in m.banks if not b.nomap))} "
           f"(device DMA up to {m.dma_address_limit:#x})" if m.dma_address_limit is not None else "no DMA window")
    return f"{_FIRMWARE.get(m.firmware, m.firmware)}, {dma}, {iec(page_size or m.page_size)} pages"


def machine_text(m: Machine) -> str:
    out = [f"machine: {m.name}", f"shape: {shape_line(m)}",
           f"arch: {m.arch}, page size {iec(m.page_size)}, RAM {iec_hex(m.ram_size)} in "
           f"{len(m.banks)} bank(s), {len(m.nodes)} node(s)"]
    if m.dma_address_limit is not None:
        out.append(f"DMA limit: {m.dma_address_limit:#x} ({iec(m.dma_address_limit + 1)})")
    out.append("banks:")
    for b in m.banks:
        flags = "".join(f", {f}" for f in ("nomap", "hotplug", "mirror") if getattr(b, f))
        out.append(f"  {b.start:#014x}-{b.start + b.size - 1:#014x}  {iec(b.size):>12}  node {b.node}{flags}")
    if m.reserved:
        out.append("reserved by firmware / boot loader:")
        for r in m.reserved:
            out.append(f"  {r.start:#014x}-{r.start + r.size - 1:#014x}  {iec(r.size):>12}  {r.name}"
                       f"{', nomap' if r.nomap else ''}")
    for what, rng in (("initrd", m.initrd), ("dtb", m.dtb)):
        if rng is not None:
            out.append(f"{what}: {rng.start:#x}-{rng.last:#x} ({iec(rng.size)})")
    if m.kernel is not None:
        out.append(f"kernel Image at {m.kernel.load_address:#x} ({iec(m.kernel.end)} to _end)")
    if m.source:
        out.append(f"source: {m.source if len(m.source) <= 76 else m.source[:73] + '...'}")
    return "\n".join(out) + "\n"


def preset_table() -> str:
    from kdumplab import presets  # noqa: PLC0415

    out = []
    for name in presets.preset_names():
        m = presets.machine(name)
        extra = " (--mem, --numa, --initrd-size; what QEMU 7.2 -M virt builds)" if name == "qemu-virt" else ""
        out.append(f"{name:16} {m.arch:7} {iec(m.ram_size):>12}  {m.name}{extra}")
    return "\n".join(out) + "\n"
