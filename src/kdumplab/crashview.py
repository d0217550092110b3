"""The crash (kdump) kernel's view of memory after a kexec-tools load (kernel-spec.md E, vectors E1-E3).

Not yet re-verified against drivers/of/fdt.c / arch/arm64/mm/init.c / fs/proc/vmcore.c of each generation.
"""

from __future__ import annotations

from dataclasses import dataclass

from kdumplab.errors import KdumplabError
from kdumplab.kexec import KexecLoad
from kdumplab.ranges import SZ_4G, align_down, align_up

__all__ = ["CRASH_KERNELS", "CrashKernelFacts", "CrashView", "crash_view"]

PAGE = 0x1000


@dataclass(frozen=True, slots=True)
class CrashKernelFacts:
    """How one kernel generation reads /chosen when it boots as the kdump kernel."""

    generation: str
    usable_pairs: int  # 5.10: arm64 code reads the first pair; 6.1+: common FDT code reads up to two
    elfcorehdr_log: str  # printf-style, arguments (KiB, address)


_OLD = "Reserving {kib}KB of memory at {addr:#x} for elfcorehdr"
_NEW = "OF: fdt: Reserving {kib} KiB of memory at {addr:#x} for elfcorehdr"
CRASH_KERNELS: dict[str, CrashKernelFacts] = {
    "5.10": CrashKernelFacts("5.10", 1, _OLD),
    "6.1": CrashKernelFacts("6.1", 2, _NEW),
    "6.12": CrashKernelFacts("6.12", 2, _NEW),
    "7.x": CrashKernelFacts("7.x", 2, _NEW),
}


@dataclass(frozen=True, slots=True)
class CrashView:
    usable: tuple[tuple[int, int], ...]  # (start, last) ascending
    iomem_lines: tuple[str, ...]  # top-level System RAM lines
    memtotal_kb_max: int  # upper bound: usable memory before the kdump kernel's own reservations
    vmcore_size: int
    elfcorehdr_log: str
    swiotlb_low_mem: bool


def crash_view(kernel: CrashKernelFacts, load: KexecLoad, notes_bytes: int = 0x1000) -> CrashView:
    """First pair caps memblock, second (6.1+) is added; vmcore = page-rounded header + notes + PT_LOADs."""
    if not load.loaded or load.elfcorehdr is None:
        raise KdumplabError("crash view", "no crash kernel was loaded", "check the kexec load first")
    pairs = load.usable_memory_ranges[: kernel.usable_pairs]
    usable = tuple(sorted(pairs))
    lines = tuple(f"{s:08x}-{e:08x} : System RAM" for s, e in usable)
    total = sum(e + 1 - s for s, e in usable) // 1024
    loads = [p for p in load.phdrs if p.type == "PT_LOAD"]
    header = align_up(64 + 56 * (1 + len(loads)), PAGE)
    body = sum(align_up(p.paddr + p.size, PAGE) - align_down(p.paddr, PAGE) for p in loads)
    addr, size = load.elfcorehdr
    log = kernel.elfcorehdr_log.format(kib=size // 1024, addr=addr)
    low = any(s < SZ_4G for s, _ in usable)
    return CrashView(usable, lines, total, header + align_up(notes_bytes, PAGE) + body, log, low)
