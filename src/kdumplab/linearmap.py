"""The linear map: which RAM the running kernel maps, and at what granularity.

What matters for kdump: ranges that are NOMAP are never mapped; a crash region that is mapped with pages
can have the pages of loaded segments made invalid after ``kexec -p`` (arch_kexec_protect_crashkres, 5.10 and
6.1), so the old kernel cannot scribble on the crash kernel; and when the reservation is deferred until
after the linear map is built (ZONE_DMA/DMA32), 5.10/6.1 had to map *all* RAM with pages because the crash
region was not known yet (arch/arm64/mm/mmu.c ``map_mem``).
"""

from __future__ import annotations

from dataclasses import dataclass

from kdumplab.outcome import BootOutcome
from kdumplab.policy import Feature, PolicyData
from kdumplab.ranges import PhysRange

__all__ = ["LinearMap", "linear_map", "protected_after_load"]


@dataclass(frozen=True, slots=True)
class LinearMap:
    #: memory never mapped (firmware no-map regions, a NOMAP crash low region)
    nomap: tuple[PhysRange, ...]
    #: "pages" (every RAM page mapped with 4K entries) or "blocks" (2M/1G blocks where possible)
    granularity: str
    #: the main crash region is mapped with pages (so its pages can be protected one by one)
    crash_mapped_with_pages: bool
    #: all of RAM is page-mapped *because of* the crash reservation (deferred past map_mem, 5.10/6.1)
    whole_map_pages_because_of_crash: bool
    #: loaded crash segments are unmapped after kexec -p and remapped before a new load
    protect_unprotect: bool
    reasons: tuple[str, ...]


def linear_map(policy: PolicyData, outcome: BootOutcome, firmware_nomap: tuple[PhysRange, ...],
               rodata_full: bool, debug_pagealloc: bool, crash_early_param: bool, deferred: bool) -> LinearMap:
    """Derive the linear-map facts of one boot."""
    reasons: list[str] = []
    nomap = list(firmware_nomap)
    for r in outcome.regions:
        if r.nomap:
            nomap.append(r.range)
            reasons.append(f"{r.name} is NOMAP: never in the linear map")
    pages_everywhere = rodata_full or debug_pagealloc
    if pages_everywhere:
        reasons.append("rodata_full (or debug_pagealloc) maps all RAM with pages")
    crash_pages = False
    because_of_crash = False
    if policy.has(Feature.CRASH_MEM_MAP) and crash_early_param:
        if deferred:
            because_of_crash = not pages_everywhere
            crash_pages = True
            reasons.append("crash_mem_map with a deferred reservation: map_mem maps all RAM with pages "
                           "because the crash region is not known yet")
        else:
            crash_pages = True
            reasons.append("crash region marked NOMAP during map_mem, then mapped alone with pages")
    elif policy.has(Feature.RESERVE_EARLY) and outcome.main is not None:
        crash_pages = True
        reasons.append("crash region reserved before the linear map: marked NOMAP for the first pass, "
                       "then mapped with pages and the flag cleared")
    if pages_everywhere:
        crash_pages = True
    granularity = "pages" if pages_everywhere or because_of_crash else "blocks"
    protect = policy.has(Feature.PROTECT_CRASHKRES) and outcome.main is not None
    if policy.has(Feature.PROTECT_CRASHKRES):
        reasons.append("arch_kexec_protect_crashkres() unmaps loaded segments" if protect
                       else "protect/unprotect exists but there is no crash region")
    else:
        reasons.append("no protect/unprotect of the crash region in this generation")
    return LinearMap(tuple(sorted(nomap)), granularity, crash_pages and outcome.main is not None,
                     because_of_crash and outcome.main is not None, protect, tuple(reasons))


def protected_after_load(lm: LinearMap, segments: tuple[tuple[int, int], ...], page_size: int = 4096
                         ) -> tuple[PhysRange, ...]:
    """The linear-map pages made invalid once a crash kernel is loaded: each segment's [mem, mem + memsz),
    whole pages (5.10/6.1 ``arch_kexec_protect_crashkres`` walks kexec_crash_image's segments and calls
    set_memory_valid(.., 0) on them); nothing when the generation has no protect hook or no crash region.
    ``segments`` are (mem, memsz) as ``kexec -d`` lists them."""
    if not lm.protect_unprotect:
        return ()
    out = []
    for mem, memsz in segments:
        start = mem - mem % page_size
        end = -(-(mem + memsz) // page_size) * page_size
        if end > start:
            out.append(PhysRange(start, end))
    return tuple(sorted(out))
