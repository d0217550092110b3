"""What the kernel allocates before (and just after) the crash reservation, derived from the machine.

Real boots show these allocations move the crash region by tens of MiB, so they are computed, not typed
in. Each step mirrors a boot routine and allocates the way it does (top-down unless said):

- firmware and boot loader: the kernel image (``memblock_reserve`` of ``_text``/``_stext`` .. ``_end``), the
  initrd (page-rounded), the DTB (``setup_machine_fdt``), DT reserved-memory, NOMAP regions;
- ``paging_init``: one page per page-table page of the linear map (``early_pgtable_alloc``): with pages
  everywhere (rodata_full) one PTE page per 2 MiB of RAM, one PMD page per 1 GiB, plus the kernel mapping;
- ``unflatten_device_tree`` and NUMA ``node_data``: small allocations at the top;
- ``sparse_init``: the memmap, 64 bytes per 4 KiB page rounded to 2 MiB per section, in one buffer per node
  aligned to 2 MiB, plus the section roots and usemaps;
- ``dma_contiguous_reserve``: the default CMA area below the DMA limit (bottom-up above 4 GiB first in 6.1+);
- after the crash reservation: swiotlb (64 MiB below the DMA limit when RAM reaches above it).

Calibrated against ``memblock=debug`` boots of the Debian kernels (tests/data/memblock; a larger set is in
tests/data/calibration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kdumplab.frozen import maker
from kdumplab.machine import Machine
from kdumplab.memblock import ANYWHERE, NUMA_NO_NODE, Draft, Flag, Memblock, make_region
from kdumplab.outcome import EarlyAlloc
from kdumplab.policy import EarlyProfile, EarlyStep, Feature, PolicyData
from kdumplab.ranges import SZ_4G, SZ_4K, align_down, align_up, joined

__all__ = ["BootFacts", "boot_memblock", "boot_draft", "dma_phys_limit", "low_limit", "run_steps", "STRUCT_PAGE_SIZE"]

STRUCT_PAGE_SIZE: Final = 64
def _native_early_alloc(what: str, start: int, size: int) -> EarlyAlloc:
    """``EarlyAlloc(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = EarlyAlloc.__new__(EarlyAlloc)
    o.what = what  # type: ignore[misc]
    o.start = start  # type: ignore[misc]
    o.size = size  # type: ignore[misc]
    return o


#: ``EarlyAlloc(what, start, size)`` on the hot path (kdumplab.frozen: about ten a boot)
_early_alloc: Final = maker(EarlyAlloc, ("what", "start", "size"), _native_early_alloc)
MAX_PHYSMEM_BITS: Final = 48  # arm64 sparsemem: the section roots cover 2^48 bytes in every Debian build


@dataclass(frozen=True, slots=True)
class BootFacts:
    """Command-line facts the early steps need (parsed once at the edge by ``model``)."""

    cma_bytes: int | None  # ``cma=`` on the command line (None: the build's default)
    pages_everywhere: bool  # the linear map uses pages for all RAM
    #: (start, end) of the main crash region when it was reserved before paging_init (kernel-patches/base):
    #: map_mem marks it NOMAP for the block pass and then maps it alone with base pages
    crash_mapped_alone: tuple[int, int] | None = None
    #: page-table pages that KASLR adds to (or saves from) the unrandomised layout: (vmemmap, kernel map).
    #: The random linear-map offset moves the memmap's virtual range across 1 GiB (PMD table) and 512 GiB
    #: (PUD table) boundaries, and the random kernel offset moves the image across table boundaries; QEMU
    #: puts a fresh kaslr-seed in every boot's DT, so a boot can only be pinned, not predicted (verify does).
    kaslr_tables: tuple[int, int] = (0, 0)
    #: NUMA nodes the firmware describes that hold no memblock memory: a crash kernel capped to
    #: linux,usable-memory-range still parses every DT memory node's numa-node-id, so each such node gets its
    #: NODE_DATA (allocated on another node: "NODE_DATA(1) on node 0") and counts in nr_node_ids and the
    #: unflattened DT (arm64 numa_register_nodes loops numa_nodes_parsed: Debian 5.10.223 arch/arm64/mm/numa.c,
    #: drivers/base/arch_numa.c from 6.1; recorded 6.12-kt2.0.25-numa-512M and 7.2-kt2.0.25-numa-512M)
    memoryless_nodes: tuple[int, ...] = ()


#: The (vmemmap, kernel map) page-table pages a KASLR boot may have beyond the unrandomised layout, in the
#: order verify tries them: the memmap's virtual range crosses one more 1 GiB boundary (+1 PMD table) or
#: shares an already present PUD table (-1, seen on 6.12 whose layout is built for 52-bit VAs); the image
#: crosses one more (or one fewer) table boundary. Every recorded boot is one of these (tests/ground_truth).
KASLR_TABLES: tuple[tuple[int, int], ...] = tuple((v, k) for v in (0, 1, -1) for k in (0, 1, -1))


def boot_memblock(policy: PolicyData, machine: Machine) -> Memblock:
    """memblock as arm64_memblock_init leaves it: banks, firmware reservations, kernel, initrd, DTB."""
    return boot_draft(policy, machine).memblock()


def boot_draft(policy: PolicyData, machine: Machine) -> Draft:
    """:func:`boot_memblock` as a Draft, for :func:`run_steps` to go on with."""
    mb = Memblock.from_memory([make_region(b.start, b.size, b.node, _bank_flags(b.nomap, b.hotplug, b.mirror))
                               for b in machine.banks]).draft()
    if policy.has(Feature.MEMBLOCK_RSRV_KERN):
        mb.alloc_flags = Flag.RSRV_KERN
    for r in machine.reserved:
        if r.nomap:
            mb.mark_nomap(r.start, r.size)
        else:
            mb.reserve(r.start, r.size, r.name)
    if machine.dtb is not None:
        mb.reserve(machine.dtb.start, machine.dtb.size, "DTB")
    if machine.kernel is not None:
        k = machine.kernel
        # 6.1 reserves from _stext (the text before it is the EFI/Image header page); others from _text
        start = k.load_address + (k.stext if policy.has(Feature.KERNEL_FROM_STEXT) else 0)
        mb.reserve(start, k.load_address + k.end - start, "kernel")
        if k.init_pg_end > k.init_pg_dir:  # paging_init frees the early page tables inside the image
            mb.free(k.load_address + k.init_pg_dir, k.init_pg_end - k.init_pg_dir)
    if machine.initrd is not None:
        lo = align_down(machine.initrd.start, machine.page_size)
        hi = align_up(machine.initrd.end, machine.page_size)
        mb.reserve(lo, hi - lo, "initrd")
    return mb


def _bank_flags(nomap: bool, hotplug: bool, mirror: bool) -> Flag:
    """A bank's memblock flags (plain memory, by far the most common, without Flag arithmetic)."""
    if not (nomap or hotplug or mirror):
        return Flag.NONE
    return ((Flag.NOMAP if nomap else Flag.NONE) | (Flag.HOTPLUG if hotplug else Flag.NONE)
            | (Flag.MIRROR if mirror else Flag.NONE))


def dma_phys_limit(policy: PolicyData, mb: Memblock | Draft, machine: Machine) -> int:
    """arm64_dma_phys_limit: the end of ZONE_DMA (CRASH_ADDR_LOW_MAX).

    5.10/6.1 take the smaller of 32 bits and the bit width of the DT/IORT limit; 6.12+ use the limit as an
    address, capped at 4 GiB when DRAM starts below it. Both end at the end of DRAM when RAM is smaller.
    """
    build = machine.build
    if not (build.zone_dma or build.zone_dma32):
        return policy.high_max
    start, end = mb.start_of_dram(), mb.end_of_dram()
    dev_limit = machine.dma_address_limit if machine.dma_address_limit is not None else (1 << 64) - 1
    if policy.has(Feature.DMA_LIMIT_AS_ADDRESS):
        limit = dev_limit if build.zone_dma else SZ_4G - 1
        if start < SZ_4G - 1:
            limit = min(limit, SZ_4G - 1)
        return min(limit, end - 1) + 1
    bits = min(32, dev_limit.bit_length()) if build.zone_dma else 32
    mask = (1 << bits) - 1
    if start > SZ_4G - 1:
        mask = (1 << 64) - 1
    elif start > mask:
        mask = SZ_4G - 1
    return min(mask, end - 1) + 1


def low_limit(policy: PolicyData, mb: Memblock | Draft, machine: Machine) -> int:
    """The end of the low window a boot works with (CRASH_ADDR_LOW_MAX, CMA's and swiotlb's limit): the
    policy's fixed one, else arm64_dma_phys_limit with DMA zones, else the policy's high limit."""
    if policy.fixed_low_max is not None:
        return policy.fixed_low_max
    if machine.build.zone_dma or machine.build.zone_dma32:
        return dma_phys_limit(policy, mb, machine)
    return policy.high_max


def free_pages(mb: Memblock | Draft, page: int) -> int:
    """Whole free pages of memblock (for_each_free_mem_range, PFN_UP(start) to PFN_DOWN(end))."""
    pages = 0
    for lo, hi, _ in mb.free_ranges():
        n = hi // page + lo // -page  # PFN_DOWN(hi) - PFN_UP(lo)
        if n > 0:
            pages += n
    return pages


def _top(mb: Draft, size: int, align: int, what: str, nid: int = NUMA_NO_NODE, start: int = 0,
         end: int = ANYWHERE) -> EarlyAlloc | None:
    addr = mb.alloc_range(size, align, start, end, what, nid)
    return _early_alloc(what, addr, size) if addr is not None else None


def _pages_top_down(mb: Draft, count: int, page: int, what: str) -> int | None:
    """``count`` one-page allocations in a row, as early_pgtable_alloc makes them: each takes the highest
    free page, so they fill the highest free ranges from the top."""
    return mb.alloc_repeated(count, page, page, what, any_node=False)


def table_spans(page_size: int) -> tuple[int, int]:
    """What one page-table page maps at the last two levels: (PTE page, PMD page). A table page holds
    page_size / 8 entries: 4K pages give 2 MiB and 1 GiB, 16K pages 32 MiB and 64 GiB (PMD_SIZE is the
    first: the block size of the linear map, the vmemmap's section alignment and the pageblock)."""
    entries = page_size // 8
    return entries * page_size, entries * entries * page_size


#: Where _text was when every profile's page tables were measured (``pt_extra_pages``): QEMU's direct boot
#: loads the Image at RAM base + 2 MiB (tests/data/memblock, ``lab calibrate``)
CALIBRATION_TEXT: Final = 0x4020_0000


def _blocks_inside(start: int, end: int, span: int) -> int:
    """How many whole ``span``-aligned blocks [start, end) holds."""
    return max(align_down(end, span) - align_up(start, span), 0) // span


def kernel_pte_tables(policy: PolicyData, text: int, init_begin: int, stext: int, span: int) -> int:
    """PTE-level table pages paging_init spends on the kernel image itself, with ``_text`` at ``text``
    (``init_begin``, ``stext``: offsets from _text; ``span``: what one PTE table maps, PMD_SIZE).

    Two mappings depend on where the image sits inside its PMD block (the EFI stub of 5.10 and 6.1 leaves
    the kernel where EDK2 loaded it, 64 KiB- but not 2 MiB-aligned, and head.S keeps that misalignment as
    the virtual offset, so virtual and physical addresses agree modulo the block size):

    - map_kernel (5.10, 6.1; ``EarlyProfile.kernel_segments``) maps each segment with a block wherever it
      covers a whole block, else through a PTE table: one table per block the image touches, less the
      blocks one segment covers whole;
    - map_mem first maps RAM with pages everywhere (rodata_full), leaving the kernel's linear alias
      ``[_text (6.1: _stext), __init_begin)`` NOMAP, then maps that alias allowing blocks: each block it
      covers whole needs no PTE table, though the count of one table per block of RAM includes it (up to
      6.12; 7.2 maps the alias like the rest of RAM, ``Feature.KERNEL_ALIAS_WITH_RAM``).

    arch/arm64/mm/mmu.c map_kernel, map_mem (Debian 5.10.223, 6.1.192, 6.12.117)."""
    assert policy.early is not None
    bounds = policy.early.kernel_segments
    tables = 0
    if bounds:
        lo, hi = text + bounds[0], text + bounds[-1]
        touched = len(range(align_down(lo, span), hi, span))
        whole = sum(_blocks_inside(text + a, text + b, span) for a, b in zip(bounds, bounds[1:], strict=False))
        tables += touched - whole
    if policy.has(Feature.KERNEL_ALIAS_WITH_RAM):
        return tables
    alias_start = text + (stext if policy.has(Feature.KERNEL_FROM_STEXT) else 0)
    return tables - _blocks_inside(alias_start, text + init_begin, span)


def page_table_pages(policy: PolicyData, mb: Memblock | Draft, pages_everywhere: bool, page_size: int = SZ_4K,
                     crash_alone: tuple[int, int] | None = None, kernel_text: tuple[int, int] | None = None,
                     stext: int = 0) -> int:
    """paging_init(): the page-table pages of the linear map, plus the kernel mapping and idmap (a
    per-generation constant, ``pt_extra_pages``).

    With pages everywhere (rodata_full): one PTE page per PMD_SIZE (2 MiB with 4K pages) and one PMD page per
    PUD span (1 GiB) of mapped RAM. Measured: 4106 pages for 8 GiB on 6.1; 257 16K pages for 8 GiB on
    6.12-16k.

    With blocks (the lab kernels, rodata=on): map_mem first maps RAM with the largest blocks, leaving out the
    kernel text (``kernel_text``, mapped after it) and a crash region reserved before it (``crash_alone``,
    mapped after it with base pages). A whole aligned GiB left in one piece is one PUD block (4K pages
    only) and needs no table; every other GiB touched needs a PMD page; a PTE page is needed for every
    2 MiB of the crash region and for each end of the kernel text that is not 2 MiB aligned. Measured on
    the lab kernels (memblock=debug, tests/data/memblock/{5.10-control,proposal-2019-*}-*): 136 pages for
    2 GiB with 256M, 264 for 8 GiB with 512M, 2059 with 4G high and 3085 with 6G.
    """
    assert policy.early is not None
    pte_span, pmd_span = table_spans(page_size)
    pages = policy.early.pt_extra_pages
    mapped = [(r.base, r.end) for r in mb.memory if r.flags is Flag.NONE or Flag.NOMAP not in r.flags]
    if pages_everywhere:
        # Neighbouring pieces of RAM split by a NOMAP range (UEFI runtime regions) share the table page of
        # the span both reach into: counted once, as the kernel fills one table (every UEFI calibration boot:
        # 2 PMD pages fewer with 4K pages, 2 PMD and 2 PTE pages with 16K, than counting piece by piece).
        prev_end = None
        for base, end in sorted(mapped):
            for span in (pmd_span, pte_span):
                pages += len(range(align_down(base, span), end, span))
                if prev_end is not None and align_down(prev_end - 1, span) == align_down(base, span):
                    pages -= 1
            prev_end = end
        if kernel_text is not None and (kernel_text[0] - CALIBRATION_TEXT) % pte_span:
            # pt_extra_pages holds the kernel's own tables where they were measured; placed elsewhere in its
            # block (UEFI), the kernel takes more or fewer (a function of the place modulo the block size)
            text, init_end = kernel_text
            pages += (kernel_pte_tables(policy, text, init_end - text, stext, pte_span)
                      - kernel_pte_tables(policy, CALIBRATION_TEXT, init_end - text, stext, pte_span))
        return max(pages, 1)
    apart = ([crash_alone] if crash_alone is not None else []) + ([kernel_text] if kernel_text is not None else [])
    # Counted over index intervals, never GiB by GiB (a sweep reaches 4 TiB): every GiB touched needs a PMD
    # page, less (4K pages) the GiBs whole inside one piece that no range kept apart reaches into.
    mapped = [(base, end) for base, end in mapped if end > base]
    pages += _count_indices(mapped, pmd_span)
    if page_size == SZ_4K:
        whole = joined([(-(-base // pmd_span), end // pmd_span) for base, end in mapped])
        near = joined([(a // pmd_span, (b - 1) // pmd_span + 1) for a, b in apart])
        pages -= sum(hi - lo for lo, hi in whole) - sum(
            max(0, min(hi, b) - max(lo, a)) for lo, hi in whole for a, b in near)
    if crash_alone is not None:
        pages += len(range(align_down(crash_alone[0], pte_span), crash_alone[1], pte_span))
    if kernel_text is not None:
        pages += sum(1 for edge in kernel_text if edge % pte_span)
    return max(pages, 1)


def _nodes(mb: Memblock | Draft, memoryless: tuple[int, ...] = ()) -> list[tuple[int, int, int]]:
    """(nid, start, end) of each node, in node order; ``memoryless`` nodes are (nid, 0, 0)."""
    memory = mb.memory
    if len(memory) == 1 and not memoryless:
        return [(memory[0].nid, memory[0].base, memory[0].end)]
    spans: dict[int, tuple[int, int]] = {}
    for r in mb.memory:
        lo, hi = spans.get(r.nid, (r.base, r.end))
        spans[r.nid] = (min(lo, r.base), max(hi, r.end))
    for nid in memoryless:
        spans.setdefault(nid, (0, 0))
    return [(nid, lo, hi) for nid, (lo, hi) in sorted(spans.items())]


def _early_setup(policy: PolicyData, mb: Draft, machine: Machine, facts: BootFacts) -> list[EarlyAlloc]:
    """paging_init, unflatten_device_tree and NUMA setup: everything small at the top of RAM."""
    p = policy.early
    assert p is not None
    allocs: list[EarlyAlloc] = []
    page_size = machine.page_size
    k = machine.kernel
    text = None if k is None else (k.load_address, k.load_address + k.init_begin)  # _text .. __init_begin
    pages = page_table_pages(policy, mb, facts.pages_everywhere, page_size, facts.crash_mapped_alone, text,
                             0 if k is None else k.stext)
    pages += facts.kaslr_tables[1]
    first = _pages_top_down(mb, pages, page_size, "page tables")
    if first is not None:
        allocs.append(_early_alloc("page tables", first, pages * page_size))
    nodes = _nodes(mb, facts.memoryless_nodes)
    extra = len(nodes) - 1
    if not machine.acpi:  # setup_arch: "if (acpi_disabled) unflatten_device_tree();" (5.10 .. 7.2)
        dt_nodes = [lo for _, lo, _ in nodes[1:]]
        if machine.dt_extra_nodes:  # in the tree though not in memblock's nodes (NUMA faked)
            dt_nodes += sorted(b.start for b in machine.banks if not b.nomap)[-machine.dt_extra_nodes:]
        dt = (p.dt_unflatten + len(dt_nodes) * p.dt_per_extra_node + machine.dt_extra_properties * p.dt_per_property
              + sum(_memory_node_name(lo) - _FITTED_MEMORY_NODE_NAME for lo in dt_nodes)
              + _cpu_nodes(p, machine.cpus, bool(dt_nodes)))
        a = _top(mb, dt, 8, "device tree")
        allocs.append(a) if a else None
    if p.numa_distance:
        a = _top(mb, 256, page_size, "NUMA distance")
        allocs.append(a) if a else None
    for nid, _lo, _hi in nodes:
        a = _top(mb, p.node_data, 64, f"node data {nid}", nid=nid)
        allocs.append(a) if a else None
    if p.cpumask:
        a = _top(mb, p.cpumask + extra * p.cpumask_per_extra_node, 64, "cpumask")
        allocs.append(a) if a else None
    return allocs


#: ``dt_per_extra_node`` was read from 4G+4G boots, whose second memory node is "memory@140000000" (below)
_FITTED_MEMORY_NODE_NAME: Final = 24


def _memory_node_name(start: int) -> int:
    """The bytes the unflattened tree gives a ``memory@START`` node's name: drivers/of/fdt.c populate_node
    copies the name and its NUL right after ``struct device_node``, and unflatten_dt_alloc starts the next
    piece 8-byte aligned (``__alignof__(struct device_node)``). A second node below 4 GiB ("memory@c0000000",
    16 bytes) thus costs 8 bytes less than one above it: 6.12-16k on 2G+6G puts NODE_DATA(1) at
    0x23fbedf00-0x23fbf177f, right below a tree 43,132 bytes long (tests/data/boots/6.12-16k-numa-2Gh)."""
    return align_up(len(f"memory@{start:x}") + 1, 8)


def _cpu_nodes(p: EarlyProfile, cpus: int, numa: bool) -> int:
    """The unflattened tree's bytes for QEMU's CPUs beyond the first: each brings a cpu@N node (phandle, reg,
    enable-method, compatible, device_type) and a cpu-map coreN node (cpu), and from two CPUs on cpu@0 has an
    enable-method too. A node costs what ``dt_per_extra_node`` holds besides its five properties and the name
    it was read with (the memory node plus numa-node-id on the first memory and CPU nodes), plus its own
    8-byte name; each property ``dt_per_property``. 6.12: 42,276 / 43,660 / 44,940 bytes with -smp 1 / 2 / 3
    (memblock=debug boots: early_init_dt_alloc_memory_arch)."""
    if cpus <= 1:
        return 0
    node = p.dt_per_extra_node - 5 * p.dt_per_property - _FITTED_MEMORY_NODE_NAME + 8
    per_cpu = 2 * node + (6 + numa) * p.dt_per_property
    return (cpus - 1) * per_cpu + p.dt_per_property


def _count_indices(spans: list[tuple[int, int]], unit: int) -> int:
    """How many distinct ``unit``-sized blocks the half-open spans touch (present_section_nr's count)."""
    if len(spans) == 1:  # (the loop below with one span)
        base, end = spans[0]
        return (end - 1) // unit - base // unit + 1
    count, last = 0, -1
    for first, end in sorted([(base // unit, (end - 1) // unit) for base, end in spans]):
        if end > last:
            count += end - max(first, last + 1) + 1
            last = end
    return count


def _sparse(policy: PolicyData, mb: Draft, page_size: int, vmemmap_kaslr: int = 0) -> list[EarlyAlloc]:
    """sparse_init(): section roots, then per node the section index, usemap, memmap buffer and vmemmap
    page tables.

    The buffer (mm/sparse.c sparse_buffer_init) holds section_map_size() per present section: the memmap
    of one section rounded up to PMD_SIZE, and is aligned to that. With 4K pages that is 2 MiB per 128 MiB
    section (16 MiB per 1 GiB section in 5.10), all of it mapped with PMD blocks. With 16K pages the
    memmap of a section is 512 KiB but PMD_SIZE is 32 MiB: the buffer is 32 MiB per section, the vmemmap is
    mapped with base pages (arm64 vmemmap_populate) taken from the buffer's start, and sparse_buffer_fini
    frees the unused rest, so the memmap stays at the bottom of a buffer placed 32 MiB x sections below
    the top of RAM.
    """
    p = policy.early
    assert p is not None
    section = 1 << p.section_bits
    pmd_size = table_spans(page_size)[0]
    memmap = align_up((section // page_size) * STRUCT_PAGE_SIZE, page_size)
    per_section = align_up(memmap, pmd_size)
    basepages = page_size != SZ_4K  # arm64 vmemmap_populate: PMD blocks only with 4K pages
    # SPARSEMEM_EXTREME: section_roots holds NR_SECTION_ROOTS pointers, each to one index page of
    # SECTIONS_PER_ROOT mem_sections (PAGE_SIZE / sizeof(struct mem_section): 128 with 4K pages when the
    # struct is 32 bytes, as in Debian's builds with page_ext; 256 for the lab kernels' 16 bytes); an index
    # page is allocated per root that RAM touches (6.1 on 16 GiB from 1 GiB: two)
    nr_sections = 1 << (MAX_PHYSMEM_BITS - p.section_bits)
    roots_per = nr_sections // max(p.section_roots // 8, 1) * section  # one index page covers this much memory
    allocs: list[EarlyAlloc] = []
    a = _top(mb, p.section_roots, 64, "section roots")
    allocs.append(a) if a else None
    seen_roots: set[int] = set()
    by_node: dict[int, list[tuple[int, int]]] = {}
    for r in mb.memory:
        by_node.setdefault(r.nid, []).append((r.base, r.end))
    nodes = _nodes(mb)
    first_nid = nodes[0][0] if nodes else 0
    for nid, _lo, hi in nodes:
        spans = by_node.get(nid, [])
        sections = _count_indices(spans, section)  # counted, never enumerated: a 256 TiB node has 2M sections
        roots = {i for base, end in spans for i in range(base // roots_per, (end - 1) // roots_per + 1)}
        roots -= seen_roots
        if roots:
            mb.alloc_repeated(len(roots), page_size, 64, "section index", nid)
        seen_roots |= roots
        # mm/sparse.c sparse_early_usemaps_alloc_pgdat_section: the usemap goes in the section of the node's
        # pg_data_t (the top of the node on a DT boot; under UEFI, and in a crash kernel whose node ends in
        # no-map memory, lower), and anywhere when that section has no room (recorded 6.12 UEFI crash kernels,
        # memblock=debug: "sparse_init_nid" 0x188 bytes at the top of the crash region)
        node_data = f"node data {nid}"
        pgdat = hi - 1
        log = mb.log
        for k in range(len(log) - 1, -1, -1):  # the last such allocation (a loop: no generator, no reversed())
            if log[k][0] == node_data:
                pgdat = log[k][1]
                break
        goal = align_down(pgdat, section)
        window = (goal, goal + section) if p.usemap_near_pgdat else (0, ANYWHERE)
        a = _top(mb, p.usemap_per_section * sections, 64, f"usemap {nid}", nid=nid, start=window[0], end=window[1])
        if a is None and p.usemap_near_pgdat:
            a = _top(mb, p.usemap_per_section * sections, 64, f"usemap {nid}", nid=nid)
        size = sections * per_section
        if policy.has(Feature.MEMMAP_PER_SECTION) and not basepages:
            # each section's memmap on its own (memmap_alloc per section), in the node only
            low = mb.alloc_repeated(sections, per_section, per_section, f"memmap node {nid}", nid, any_node=False)
            a = None if low is None else _early_alloc(f"memmap node {nid}", low, size)
        else:
            a = _top(mb, size, per_section, f"memmap node {nid}", nid=nid)
        vmemmap_tables = p.vmemmap_pt_pages + vmemmap_kaslr
        if nid == first_nid and vmemmap_tables > 0:  # the first node with memory (a crash kernel's may have none)
            mb.alloc_repeated(vmemmap_tables, page_size, page_size, "vmemmap page tables", nid)
        if a is not None and basepages:  # sparse_buffer_fini: the unused rest of the buffer is freed
            used = sections * memmap
            mb.free(a.start + used, size - used)
            a = _early_alloc(a.what, a.start, used)
        allocs.append(a) if a else None
    return allocs


def _cma(policy: PolicyData, mb: Draft, cma_bytes: int, limit: int, memoryless: tuple[int, ...] = ()
         ) -> list[EarlyAlloc]:
    """dma_contiguous_reserve(): the default CMA area below the DMA limit; bottom-up above 4 GiB first
    in 6.1+ when RAM reaches that far (mm/cma.c), else top-down below the limit.

    7.x then reserves one more area per online node (kernel/dma/contiguous.c dma_numa_cma_reserve, when more
    than one node is online; a memory-less node counts and fails "reservation failed: err -12"):
    mm/cma.c cma_alloc_mem on that node only, bottom-up from 4 GiB when memblock ends at least 4 GiB + size
    above 0, else (or when that fails) top-down below the end of memblock (Debian 7.2.13; recorded
    7.2-kt2.0.25-numa-512M: the crash kernel's node-0 area at 0xf3e00000, below the default one)."""
    if not cma_bytes:
        return []
    align = policy.cma_align
    size = align_up(cma_bytes, align)
    limit = min(limit, mb.end_of_dram())
    allocs = []
    addr = None
    if policy.has(Feature.CMA_BOTTOM_UP_ABOVE_4G) and mb.end_of_dram() >= SZ_4G + size and limit > SZ_4G:
        addr = _bottom_up(mb, size, align, SZ_4G, limit, "CMA")
    if addr is None:
        addr = mb.alloc_range(size, align, 0, limit, "CMA")
    if addr is not None:
        allocs.append(_early_alloc("CMA", addr, size))
    nodes = _nodes(mb)
    if policy.has(Feature.PERNODE_CMA) and len(nodes) + len(memoryless) > 1:
        for nid, lo, hi in nodes:
            a = None
            if mb.end_of_dram() >= SZ_4G + size:
                a = _bottom_up(mb, size, align, max(lo, SZ_4G), hi, f"CMA node {nid}", nid=nid)
            if a is None:
                a = mb.alloc_range(size, align, lo, hi, f"CMA node {nid}", nid)
            if a is not None:
                allocs.append(_early_alloc(f"CMA node {nid}", a, size))
    return allocs


def _bottom_up(mb: Draft, size: int, align: int, start: int, end: int, what: str, nid: int = NUMA_NO_NODE
               ) -> int | None:
    """One allocation between memblock_set_bottom_up(true) and memblock_set_bottom_up(false)."""
    mb.bottom_up = True
    addr = mb.alloc_range(size, align, start, end, what, nid)
    mb.bottom_up = False
    return addr


def _x86_setup(policy: PolicyData, mb: Draft, page_size: int) -> list[EarlyAlloc]:
    """x86 setup_arch up to reserve_crashkernel (arch/x86/kernel/setup.c): everything else it reserves by then
    (the kernel image and brk, the initrd, the first MiB) is the machine's. init_mem_mapping maps RAM from the
    top down and takes its page-table pages (after the few in brk) one at a time from the top of RAM
    (alloc_low_pages); initmem_init then allocates each node's pg_data_t at the top of the node
    (NODE_DATA(n) allocated [mem ...]). Both are a few hundred KiB: they only move a high crash region when
    they cross a 16 MiB boundary. Measured in every x86 calibration boot: 2 page-table pages (6 and 16 GiB)."""
    p = policy.early
    assert p is not None
    allocs: list[EarlyAlloc] = []
    first = _pages_top_down(mb, p.pt_extra_pages, page_size, "page tables")
    if first is not None:
        allocs.append(_early_alloc("page tables", first, p.pt_extra_pages * page_size))
    for nid, _lo, _hi in _nodes(mb):
        a = _top(mb, p.node_data, 64, f"node data {nid}", nid=nid)
        allocs.append(a) if a else None
    return allocs


def run_steps(steps: tuple[EarlyStep, ...] | list[EarlyStep], policy: PolicyData, mb: Memblock | Draft,
              machine: Machine, facts: BootFacts, limit: int) -> tuple[Memblock, list[EarlyAlloc], int | None]:
    """Run early steps in order (none of them the crash reservation): memblock afterwards, what they allocated,
    and memblock's free pages right after sparse_init (None when it is not among them), what 6.12+'s
    calc_nr_kernel_pages counts. The steps update one :class:`~kdumplab.memblock.Draft` (``mb`` itself when
    it is one): memblock's state between two of them is never kept."""
    d = mb if isinstance(mb, Draft) else mb.draft()
    allocs: list[EarlyAlloc] = []
    free_after_sparse = None
    for step in steps:
        if step is EarlyStep.PAGE_TABLES:
            allocs += _early_setup(policy, d, machine, facts)
        elif step is EarlyStep.SPARSE:
            allocs += _sparse(policy, d, machine.page_size, facts.kaslr_tables[0])
            free_after_sparse = free_pages(d, machine.page_size)
        elif step is EarlyStep.CMA:
            cma = machine.build.cma_bytes if facts.cma_bytes is None else facts.cma_bytes
            allocs += _cma(policy, d, cma, limit, facts.memoryless_nodes)
        elif step is EarlyStep.X86_SETUP:
            allocs += _x86_setup(policy, d, machine.page_size)
        elif step is EarlyStep.RESOURCES:
            from kdumplab.late import request_standard_resources  # noqa: PLC0415 - late imports early's neighbours

            request_standard_resources(d)
        else:
            raise ValueError(step)
    return d.memblock(), allocs, free_after_sparse
