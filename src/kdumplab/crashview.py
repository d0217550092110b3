"""The crash (kdump) kernel's view of memory after a kexec-tools load (kernel-spec.md E, vectors E1-E3).

Checked against 43 recorded full cycles (tests/data/cycles, Debian's kernels booted by real kexec-tools):
its System RAM is exactly the ranges of ``linux,usable-memory-range`` it reads (one pair on 5.10, two from
6.1), /proc/vmcore's size follows from the elfcorehdr's PT_LOADs, and its elfcorehdr line is worded per
generation. Its MemTotal is estimated from what it spends out of those ranges: the kernel image, the memmap
of every memory section it touches, a swiotlb buffer, the boot-time VFS hashes, and an overhead per GiB
measured in those recordings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kdumplab.errors import KdumplabError
from kdumplab.kexec import KexecLoad, parse_iomem_lines
from kdumplab.profiles import ProfileTable
from kdumplab.ranges import SZ_4G, align_down, align_up

__all__ = ["CRASH_KERNELS", "CrashKernelFacts", "CrashView", "crash_view", "efi_nomap_ranges", "numa_nodes_seen"]

PAGE = 0x1000


@dataclass(frozen=True, slots=True)
class CrashKernelFacts:
    """How one kernel generation (Debian's arm64 build) behaves when it boots as the kdump kernel."""

    generation: str
    usable_pairs: int  # 5.10: arm64 code reads the first pair; 6.1+: common FDT code reads up to two
    elfcorehdr_log: str  # printf-style, arguments (KiB, address)
    static_kib: int  # kernel code + rwdata + rodata + bss ("Memory: ..." line; init is freed again)
    section_bytes: int  # sparsemem section: the memmap of a touched section is allocated whole
    per_gib_kib: int  # further boot-time allocations per GiB it manages (page_ext, percpu, ...)
    fixed_kib: int
    bounce_when_low_only: bool  # 6.5+: a RAM/1024 swiotlb for unaligned kmalloc DMA even with no high memory
    hash_after_reservations: bool  # 7.x sizes the early hashes on pages left after image, swiotlb and CMA
    cma_per_node: bool = False  # 7.x on a NUMA machine: one more CMA area per node it has memory on
    #: [PATCH v7 3/4] of the 2019 series: /chosen/linux,low-memory-range is memblock_add()ed after the cap
    reads_low_memory_range: bool = False
    #: [PATCH 3/4] of v5 fills a memblock_type whose count starts at 0 (not the empty-array convention of 1):
    #: memblock_add_range writes regions[0] and leaves the count at 0 (WARN at memblock_add_range), so with
    #: ONE usable range nothing is capped (the crash kernel keeps all RAM), and with two the second
    #: overwrites the first and is the only one kept. Seen in every v5 cycle (tests/data/designs-cycles).
    cap_quirk_2019_v5: bool = False
    page_size: int = PAGE  # the memmap is 64 bytes per page; /proc/vmcore's header and notes are page-rounded
    #: 6.1+ swiotlb_init_remap: a buffer that does not fit below the DMA limit is halved (in segments of 128
    #: slabs) and tried again, down to 1 MiB ("SWIOTLB bounce buffer size adjusted 32768 -> 16384 slabs");
    #: 5.10's swiotlb_init tries once and goes without
    swiotlb_halves: bool = False
    #: the boot-time hashes are sized on nr_kernel_pages; up to 6.8 free_area_init_core counts a zone's present
    #: pages less its memmap, and EFI no-map memory is present; 6.9+ (mm_init.c calc_nr_kernel_pages) counts
    #: the free memblock ranges, which skip no-map ones (read in Debian's 5.10.223 page_alloc.c and 6.12.117
    #: mm_init.c). Matters only under UEFI, where the crash kernel keeps no-map regions (see ``crash_view``).
    hashes_count_nomap: bool = False


#: Every kernel's facts as the crash kernel, by generation key (policy ``kexec_generation``): a view of the
#: kernel profiles (kdumplab.profiles), where each kernel's numbers and their sources are written.
CRASH_KERNELS: Mapping[str, CrashKernelFacts] = ProfileTable(lambda p: None if p.crash is None else
                                                             (p.crash.generation, p.crash))

SWIOTLB_KIB = 64 << 10  # the default bounce buffer, taken below the DMA limit when there is memory above it
CMA_KIB = 64 << 10  # Debian's CONFIG_CMA_SIZE_MBYTES: the crash kernel reserves it from its own ranges too
STRUCT_PAGE = 64


@dataclass(frozen=True, slots=True)
class CrashView:
    usable: tuple[tuple[int, int], ...]  # (start, last) ascending
    iomem_lines: tuple[str, ...]  # top-level System RAM lines
    memtotal_kb_max: int  # upper bound: every usable byte
    memtotal_kb: int  # estimate: minus the kernel image, memmap, swiotlb and per-GiB overhead
    swiotlb_kib: int  # the bounce buffer it allocates (0: none, e.g. no memory below the DMA limit)
    hashes_kib: int  # the dentry and inode cache hashes it allocates at boot
    cma_kib: int  # counted in MemTotal, but only movable (user) allocations may use it
    vmcore_size: int
    elfcorehdr_log: str
    swiotlb_low_mem: bool


def _memmap_kib(usable: tuple[tuple[int, int], ...], section: int, page: int = PAGE) -> int:
    sections = {n for s, e in usable for n in range(s // section, e // section + 1)}
    return len(sections) * (section // page) * STRUCT_PAGE // 1024


_HASHES = ((13, 8), (14, 8))  # dentry cache and inode cache: (scale, bytes per bucket), sized from free pages


def _early_hashes_kib(pages: int) -> int:
    """alloc_large_system_hash for the boot-time VFS hashes: pages rounded up to 1 MiB, one bucket per
    2^scale bytes, rounded up to a power of two; memblock memory, so outside MemTotal."""
    pages = -(-pages // 256) * 256
    total = 0
    for scale, bucket in _HASHES:
        entries = max(pages >> (scale - 12), 1)
        total += (1 << (entries - 1).bit_length()) * bucket
    return total // 1024


def _swiotlb_kib(kernel: CrashKernelFacts, usable: tuple[tuple[int, int], ...], total_kib: int,
                 dma_limit: int, nomap: tuple[tuple[int, int], ...] = ()) -> int:
    """With memory above the DMA limit the full buffer is taken below it, or none at all when there is no
    memory below it (6.1 with ``X,high`` and no ``,low``: nothing printed, no bounce buffer). With memory
    below the limit only, 6.12+ still takes RAM/1024 ("SWIOTLB bounce buffer size adjusted to 0MB").

    arm64 mem_init decides on max_pfn, the end of memblock.memory, and sizes the small buffer on
    memblock_phys_mem_size(): both count no-map regions (``nomap``, kept under UEFI), which are never a place
    for the buffer itself (recorded 6.12-kt2.0.32-uefi-plain-512M: the full 64 MiB, because EFI runtime
    memory near the top of RAM stays in memblock)."""
    if any(e >= dma_limit for _, e in (*usable, *nomap)):
        return SWIOTLB_KIB if any(s < dma_limit for s, _ in usable) else 0
    memory_kib = total_kib + sum(e + 1 - s for s, e in nomap) // 1024
    return _adjusted_swiotlb_kib(-(-memory_kib // 1024)) if kernel.bounce_when_low_only else 0


def _low_blocks(usable: tuple[tuple[int, int], ...], dma_limit: int,
                taken: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """The crash kernel's free memory below the DMA limit as [start, end) blocks: its usable ranges there
    less what is already reserved in them (the loaded segments, memblock_reserve'd by the kernel)."""
    blocks = [(s, min(e + 1, dma_limit)) for s, e in usable if s < dma_limit]
    for lo, hi in sorted(taken):
        cut = []
        for s, e in blocks:
            if hi <= s or lo >= e:
                cut.append((s, e))
                continue
            if s < lo:
                cut.append((s, align_down(lo, PAGE)))
            if hi < e:
                cut.append((align_up(hi, PAGE), e))
        blocks = [(s, e) for s, e in cut if e > s]
    return blocks


def _swiotlb_placed_kib(kernel: CrashKernelFacts, usable: tuple[tuple[int, int], ...], dma_limit: int,
                        want_kib: int, cma_kib: int, segments: tuple[tuple[int, int], ...]) -> int:
    """Where the buffer goes: below the DMA limit, after the CMA area, which dma_contiguous_reserve placed
    there first (top-down, pageblock aligned) when the crash kernel's memory starts below the limit. A small
    ``,low`` region leaves less than 64 MiB beside CMA: 6.1+ halve the buffer until it fits (recorded
    7.2 with crashkernel=768M,high crashkernel=96M,low: CMA at 0xf8000000, "Failed to allocate 67108864
    bytes tlb structure", 32 MiB at 0xf6000000, MemTotal 32 MiB above the full-buffer estimate); 5.10 has
    none when the first try fails."""
    blocks = _low_blocks(usable, dma_limit, segments)
    if cma_kib and blocks:
        align = max(2 << 20, kernel.page_size * 2048 if kernel.page_size > PAGE else 2 << 20)
        size = cma_kib * 1024
        for i in range(len(blocks) - 1, -1, -1):
            s, e = blocks[i]
            at = align_down(e - size, align)
            if at >= s:
                blocks[i:i + 1] = [b for b in ((s, at), (at + size, e)) if b[1] > b[0]]
                break
    largest = max((e - s for s, e in blocks), default=0) // 1024
    slabs = want_kib // 2
    while slabs * 2 > largest:
        if not kernel.swiotlb_halves or slabs <= IO_TLB_MIN_SLABS:
            return 0
        slabs = align_up(slabs >> 1, 128)
    return slabs * 2


IO_TLB_MIN_SLABS = 512  # kernel/dma/swiotlb.c: 1 MiB of 2 KiB slabs


def _adjusted_swiotlb_kib(kib: int) -> int:
    """kernel/dma/swiotlb.c swiotlb_adjust_size, then swiotlb_adjust_nareas(1 CPU) in swiotlb_init_remap:
    2 KiB slabs in segments of 128, then round_up_default_nslabs takes the slab count to a power of two
    (recorded 6.12-16k-kt2.0.32-holdout-4G-768M: "adjusted to 0MB", "roundup to 1MB" for 768 MiB of RAM)."""
    slabs = -(-kib // 2) + 127 & ~127
    return (1 << (slabs - 1).bit_length()) * 2


def _cma_kib(kernel: CrashKernelFacts, usable: tuple[tuple[int, int], ...], total_kib: int,
             nodes: tuple[tuple[int, int, int], ...]) -> int:
    """Debian's 64 MiB CMA area; on 7.x with more than one NUMA node in its device tree, one more area per
    node it has memory on (recorded 7.2-kt2.0.25-numa-512M: two areas, both in node 0's part)."""
    if total_kib <= CMA_KIB:
        return 0
    areas = 1
    if kernel.cma_per_node and len({nid for _, _, nid in nodes}) > 1:
        areas += len({nid for lo, hi, nid in nodes for s, e in usable if s < hi and lo <= e})
    return areas * CMA_KIB


def _cma_has_room(usable: tuple[tuple[int, int], ...], nomap: tuple[tuple[int, int], ...], dma_limit: int) -> bool:
    """The default CMA area is placed below arm64_dma_phys_limit (dma_contiguous_reserve), which is the whole
    address space when memory starts above 4 GiB (max_zone_phys) but 4 GiB when it starts below. Under UEFI
    the kept no-map memory (EDK2's 0x04000000) starts below it, so a crash kernel with only a high range has
    no room: "cma: Failed to reserve 64 MiB" (recorded 6.1-kt2.0.32-uefi-high-1G; on the DT boot the same
    crash kernel reserves it above 4 GiB)."""
    if min(s for s, _ in (*usable, *nomap)) >= dma_limit:
        return True
    return any(s < dma_limit for s, _ in usable)


def numa_nodes_seen(nodes: tuple[tuple[int, int, int], ...],
                    nomap: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int, int], ...]:
    """The nodes a kernel keeps after numa_init: the firmware's nodes (SRAT under ACPI) must cover all of
    memblock's memory but less than 1 MiB, or NUMA is turned off and one node is faked ("NUMA: no nodes
    coverage for 64MB of 8256MB RAM", "NUMA: Faking a node at ..."). QEMU's SRAT names only its RAM, while
    EDK2's memory map also holds 64 MiB of memory at 0x04000000 (no-map, kept by both kernels), so under UEFI
    every NUMA shape of this lab runs with one node (recorded 7.2-kt2.0.25-uefi-numa-512M: one crash-kernel
    CMA area, where the DT boot has one per node)."""
    uncovered = sum(max(0, e + 1 - s - sum(max(0, min(e + 1, hi) - max(s, lo)) for lo, hi, _ in nodes))
                    for s, e in nomap)
    if uncovered >= 1 << 20 and len({nid for _, _, nid in nodes}) > 1:
        return tuple((lo, hi, 0) for lo, hi, _ in nodes)
    return nodes


def crash_view(kernel: CrashKernelFacts, load: KexecLoad, notes_bytes: int = 0x1000,
               dma_limit: int = SZ_4G, nodes: tuple[tuple[int, int, int], ...] = (),
               nomap: tuple[tuple[int, int], ...] = ()) -> CrashView:
    """First pair caps memblock, second (6.1+) is added; vmcore = page-rounded header + notes + PT_LOADs.

    ``dma_limit``: where the crash kernel's own ZONE_DMA32 ends (4 GiB when its memory starts below that;
    with memory only above 4 GiB the zone covers everything and no bounce buffer is needed either way).
    ``nodes``: the machine's memory as (start, end, nid), for per-node CMA areas.
    ``nomap``: (start, last) memory the crash kernel keeps besides its usable ranges: under UEFI the EFI
    memory map's no-map regions (``efi_nomap_ranges``). They are not System RAM and not in MemTotal, but their
    sections get a memmap and they count for the swiotlb decision and (up to 6.8) the hashes.
    """
    if not load.loaded or load.elfcorehdr is None:
        raise KdumplabError("crash view", "no crash kernel was loaded", "check the kexec load first")
    pairs = load.usable_memory_ranges[: kernel.usable_pairs]
    if kernel.cap_quirk_2019_v5:
        # one pair: no cap at all (all of the machine's RAM, as the DT's memory nodes give it); two: the last
        pairs = pairs[1:] if len(pairs) > 1 else tuple((lo, hi - 1) for lo, hi, _ in nodes)
    if kernel.reads_low_memory_range and load.low_memory_range is not None:
        pairs = (*pairs, load.low_memory_range)
    usable = tuple(sorted(pairs))
    lines = tuple(f"{s:08x}-{e:08x} : System RAM" for s, e in usable)
    total = sum(e + 1 - s for s, e in usable) // 1024
    loads = [p for p in load.phdrs if p.type == "PT_LOAD"]
    page = kernel.page_size
    header = align_up(64 + 56 * (1 + len(loads)), page)
    body = sum(align_up(p.paddr + p.size, page) - align_down(p.paddr, page) for p in loads)
    addr, size = load.elfcorehdr
    log = kernel.elfcorehdr_log.format(kib=size // 1024, addr=addr)
    low = any(s < dma_limit for s, _ in usable)
    swiotlb = _swiotlb_kib(kernel, usable, total, dma_limit, nomap)
    memmap = _memmap_kib((*usable, *nomap), kernel.section_bytes, page)
    cma = _cma_kib(kernel, usable, total, nodes) if _cma_has_room(usable, nomap, dma_limit) else 0
    if swiotlb:
        segments = tuple((seg.start, seg.start + seg.size) for seg in load.segments)
        swiotlb = _swiotlb_placed_kib(kernel, usable, dma_limit, swiotlb, CMA_KIB if cma else 0, segments)
    present = total + (sum(e + 1 - s for s, e in nomap) // 1024 if kernel.hashes_count_nomap else 0)
    free = present - memmap - (kernel.static_kib + swiotlb + cma if kernel.hash_after_reservations else 0)
    hashes = _early_hashes_kib(free // 4)
    estimate = (total - kernel.static_kib - memmap - swiotlb - hashes
                - kernel.per_gib_kib * total // (1 << 20) - kernel.fixed_kib)
    return CrashView(usable, lines, total, max(estimate, 0), swiotlb, hashes, cma,
                     header + align_up(notes_bytes, page) + body, log, low)


def efi_nomap_ranges(first_iomem: str) -> tuple[tuple[int, int], ...]:
    """The memory a crash kernel started from an EFI-booted first kernel keeps outside its usable ranges, as
    (start, last), read from the first kernel's /proc/iomem.

    The first kernel's device tree (the EFI stub's) carries linux,uefi-system-table and linux,uefi-mmap-*,
    and kexec-tools copies them into the crash kernel's tree, so the crash kernel reads the same EFI memory
    map: efi_init -> reserve_regions adds every memory descriptor to memblock and marks the ones that are not
    usable RAM (runtime services code/data, reserved, MMIO with memory attributes) no-map; only then does
    early_init_dt_check_for_usable_mem_range cap memory to linux,usable-memory-range, and
    memblock_cap_memory_range removes only regions without the no-map flag (drivers/firmware/efi/efi-init.c,
    mm/memblock.c, Debian 6.12.117; on 5.10 arm64's own fdt_enforce_memory_region caps after efi_init, the
    same). The first kernel printed exactly those regions as top-level "reserved" lines (arm64
    request_standard_resources names a no-map memblock region "reserved", rounded out to pages), and the
    crash kernel prints them again (recorded: tests/data/cycles-uefi)."""
    return tuple((x.start, x.last) for x in parse_iomem_lines(first_iomem) if x.depth == 0 and x.name == "reserved")
