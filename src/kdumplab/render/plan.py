"""Rendering one plan: a rich report for people and a JSON document with a stable schema
(docs/plan-json.md)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kdumplab.model import Result
from kdumplab.ranges import iec, iec_hex, with_sizes
from kdumplab.verdict import WRAPPED, judge, vmcore_text

__all__ = ["SCHEMA", "plan_to_dict", "plan_json", "render_plan", "render_kaslr", "kaslr_to_dict"]

SCHEMA = "kdumplab.plan/1"


def _span(start: int, end: int) -> dict[str, int]:
    """Half-open model range -> the inclusive form the kernel prints."""
    return {"start": start, "end": end - 1, "size": end - start}


def kaslr_to_dict(dist: Any) -> dict[str, Any] | None:
    """The ``kaslr`` member: null when the kernel's place is fixed, else the outcome over every slot."""
    if dist is None:
        return None

    def outcome(o: Any) -> dict[str, Any]:
        return {"verdict": o.verdict, "share": o.share, "slots": o.slots,
                "regions": [dict(name=n, **_span(s, e)) for n, s, e in o.regions], "log": list(o.log),
                "kernel_at": [o.kernel_at[0], o.kernel_at[-1]]}

    return {"random": True, "slots": dist.total_slots, "reserved_share": dist.reserved_share,
            "outcomes": [outcome(o) for o in dist.outcomes], "worst": outcome(dist.worst)}


def _stand_in(result: Result) -> str | None:
    """The note when --kernel named a point release the model runs another build's Image for (profiles.stand_in)."""
    from kdumplab.profiles import stand_in  # noqa: PLC0415

    return stand_in(result.scenario.kernel, result.scenario.machine.arch)


def plan_to_dict(result: Result, kaslr: Any = None) -> dict[str, Any]:
    o = result.outcome
    judgement = judge(result)
    m = result.scenario.machine
    lm = result.linear_map
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "kernel": result.policy.name,
        "kernel_release": result.policy.kernel_release or None,
        "kernel_stand_in": _stand_in(result),
        "policy": result.policy.description,
        "machine": {
            "name": m.name,
            "arch": m.arch,
            "ram": m.ram_size,
            "banks": [dict(_span(b.start, b.start + b.size), node=b.node, nomap=b.nomap) for b in m.banks],
        },
        "cmdline": result.scenario.cmdline,
        "verdict": o.verdict.value,
        "reason": o.reason,
        "low_limit": o.low_max,
        "high_limit": o.high_max,
        "system_ram": o.system_ram,
        "reserved_at": "bootmem_init (after CMA and the memmap)" if result.deferred
        else "arm64_memblock_init (before the linear map)",
        "regions": [dict(name=r.name, role=r.role.value, **_span(r.start, r.end), high=r.high, nomap=r.nomap,
                         in_iomem=r.in_iomem) for r in o.regions],
        "log": list(o.log),
        "iomem": result.iomem_text,
        "kexec_crash_size": result.kexec_crash_size,
        "early_allocations": [dict(what=a.what, **_span(a.start, a.start + a.size)) for a in o.early],
        "linear_map": {
            "granularity": lm.granularity,
            "nomap": [[r.start, r.end - 1] for r in lm.nomap],
            "crash_mapped_with_pages": lm.crash_mapped_with_pages,
            "whole_map_pages_because_of_crash": lm.whole_map_pages_because_of_crash,
            "protect_unprotect": lm.protect_unprotect,
            "reasons": list(lm.reasons),
        },
        "kexec": None,
        "crash_kernel": None,
        "exit_status": judgement.status,
        "kdump": None,
        "kaslr": kaslr_to_dict(kaslr),
    }
    load = result.kexec
    if load is not None:
        from kdumplab.verdict import load_sentence  # noqa: PLC0415

        doc["kexec"] = {
            "kexec_tools": load.tools,
            "loaded": load.loaded,
            "error": "\n".join(load.error) if isinstance(load.error, tuple) else load.error,
            "verdict": load_sentence(load),
            "syscall": load.syscall,
            "entry": load.entry,
            "segments": [{"start": s.start, "size": s.size, "bufsz": s.bufsz, "what": s.what} for s in load.segments],
            "page_offset": load.page_offset,
            "exit_status": load.exit_status,
            "usable_memory_ranges": [[s, e] for s, e in load.usable_memory_ranges],
            "elfcorehdr": list(load.elfcorehdr) if load.elfcorehdr else None,
            "output": list(load.output),
            # x86_64 (kexec_x86): the e820 map handed to the crash kernel and its command line; null on arm64
            "e820": [[s, e, t] for s, e, t in load.e820] if hasattr(load, "e820") else None,
            "crash_cmdline": getattr(load, "cmdline", None),
        }
        doc["kdump"] = {"works": judgement.status == 0, "verdict": judgement.sentence, "short": judgement.short,
                        "problems": [{"label": label, "text": text} for label, text in judgement.problems]}
    view = result.crash_view
    if view is not None:
        doc["crash_kernel"] = {
            "usable": [[s, e] for s, e in view.usable],
            "iomem": list(view.iomem_lines),
            "mem_total_kib": view.memtotal_kb,
            "mem_total_kib_max": view.memtotal_kb_max,
            "swiotlb_kib": view.swiotlb_kib,
            "cma_kib": view.cma_kib,
            "vmcore_size": view.vmcore_size,
            "vmcore_size_wraps": view.vmcore_size >= WRAPPED,
            "elfcorehdr_log": view.elfcorehdr_log,
            "swiotlb_finds_low_memory": view.swiotlb_low_mem,
        }
    return doc


def plan_json(result: Result, kaslr: Any = None) -> str:
    return json.dumps(plan_to_dict(result, kaslr), indent=2) + "\n"


def render_kaslr(dist: Any, console: Console) -> None:
    """What physical KASLR does to the answer above (which is the nokaslr placement)."""
    if dist is None:
        return
    table = Table(title=f"the kernel's address is random (KASLR): {dist.total_slots} possible 2 MiB slots; the "
                  "result above is the nokaslr placement", title_justify="left")
    for col in ("share of boots", "outcome", "crash regions"):
        table.add_column(col)
    shown = dist.outcomes[:8]
    for o in shown:
        table.add_row(f"{o.share:.1%}", o.verdict, ", ".join(f"{s:#x}-{e - 1:#x}" for _, s, e in o.regions) or "-")
    rest = dist.outcomes[8:]
    if rest:
        table.add_row(f"{sum(o.share for o in rest):.1%}", f"{len(rest)} more outcomes", "(see --json)")
    console.print(table)
    from kdumplab.kaslr import share_text  # noqa: PLC0415

    w = dist.worst
    console.print(f"{share_text(dist)}; worst case: {w.verdict}" + (f" ({w.log[-1]})" if w.log else ""))


_VERDICT_STYLE = {"reserved": "bold green", "failed": "bold red", "none": "bold yellow"}


def render_plan(result: Result, console: Console) -> None:
    o = result.outcome
    m = result.scenario.machine
    head = Text.assemble(
        (f"{o.verdict.value.upper()}", _VERDICT_STYLE[o.verdict.value]), "  ",
        (f"kernel {result.policy.name}", "bold"), f" ({result.policy.description})\n",
        f"machine {m.name}: {iec_hex(m.ram_size)} RAM in {len(m.banks)} bank(s), "
        f"{result.policy.page_size >> 10}K pages; ",
        *([f"device DMA up to {iec_hex(m.dma_address_limit + 1)}; "] if m.dma_address_limit is not None else []),
        f"low limit (DMA) {iec_hex(o.low_max)}\n", f"cmdline: {result.scenario.cmdline}\n", with_sizes(o.reason))
    parts: list[Any] = [head]
    if note := _stand_in(result):
        parts.append(Text(f"note: {note}", style="yellow"))
    if o.regions:
        table = Table(title="crash regions (/proc/iomem)", title_justify="left")
        for col in ("name", "role", "start", "end", "size", "where"):
            table.add_column(col)
        for r in o.regions:
            where = "above the low limit" if r.high else "below the low limit"
            if r.nomap:
                where += ", NOMAP"
            if not r.in_iomem:
                where += ", not listed in /proc/iomem"
            table.add_row(r.name, r.role.value, f"{r.start:#x}", f"{r.end - 1:#x}", iec(r.size), where)
        parts.append(table)
    parts.append(Panel("\n".join(o.log) or "(nothing logged)", title="kernel log", title_align="left"))
    if o.early:
        early = Table(title="allocated before the reservation", title_justify="left")
        for col in ("what", "start", "end", "size"):
            early.add_column(col)
        for a in o.early:
            early.add_row(a.what, f"{a.start:#x}", f"{a.start + a.size - 1:#x}", iec(a.size))
        parts.append(early)
    lm = result.linear_map
    parts.append(Panel("\n".join([f"granularity: {lm.granularity}",
                                  f"crash region mapped with pages: {lm.crash_mapped_with_pages}",
                                  f"protect/unprotect after kexec -p: {lm.protect_unprotect}",
                                  *lm.reasons]), title="linear map", title_align="left"))
    parts.append(Panel(result.iomem_text.rstrip("\n"), title="/proc/iomem", title_align="left"))
    parts.append(Text(f"/sys/kernel/kexec_crash_size: {result.kexec_crash_size}"))
    if result.kexec is not None:
        k = result.kexec
        j = judge(result)
        lines = [j.sentence] + [f"{s.what:10s} {s.start:#x} + {s.size:#x} ({iec(s.size)})" for s in k.segments]
        if result.crash_view is not None:
            v = result.crash_view
            lines.append(f"crash kernel: MemTotal {iec(v.memtotal_kb << 10)} (of {iec(v.memtotal_kb_max << 10)} "
                         f"usable; swiotlb {iec(v.swiotlb_kib << 10)}, CMA {iec(v.cma_kib << 10)} of it)")
            lines.append(vmcore_text(v.vmcore_size))
        style = "green" if j.status == 0 else "yellow" if j.status == 1 else "red"
        parts.append(Panel("\n".join(lines), title=f"kexec -p (kexec-tools {k.tools}): {j.short}", title_align="left",
                           border_style=style))
    console.print(Group(*parts))
