"""What memblock still hands out after the crash reservation, up to the point /proc/iomem is built.

arm64 builds the ``reserved`` lines of /proc/iomem at arch_initcall (``reserve_memblock_reserved_regions``,
arch/arm64/kernel/setup.c) from memblock.reserved as it is then: every allocation made between the crash
reservation and mm_init is in it, each rounded out to whole pages. Small allocations matter: they fill the
sub-page gaps that alignment left, and a gap that stays open is what splits one ``reserved`` line into
several. In boot order (start_kernel), each allocated top-down unless said:

- ``request_standard_resources`` (setup_arch): one ``struct resource`` (64 bytes) per memblock memory region,
  cache-line aligned. 7.x calls it before sparse_init, so there it is an early step
  (``EarlyStep.RESOURCES``).
- ``setup_command_line`` (init/main.c): ``saved_command_line`` and ``static_command_line``, each the boot
  command line's length plus its NUL, cache-line aligned.
- ``setup_per_cpu_areas`` -> ``pcpu_embed_first_chunk`` (mm/percpu.c): the alloc-info page and the group
  area array (one page each), the first chunk (the unit size, page aligned, on CPU 0's node), the chunk
  tables of ``pcpu_setup_first_chunk`` (group offsets and sizes, unit map and offsets, the slot lists) and,
  per first chunk (the reserved one when there is reserved space, then the dynamic one),
  ``pcpu_alloc_first_chunk``'s chunk header, allocation and boundary bitmaps and block metadata; then the
  alloc-info page and the area array are freed again (two free pages that later small allocations fill).
- ``setup_log_buf`` (kernel/printk/printk.c), only with ``log_buf_len=`` larger than the built-in buffer: the
  text buffer, then the ring's descriptors and their printk_info records, one of each per 32 bytes of text.
- ``vfs_caches_init_early``: the dentry and inode hashes (``alloc_large_system_hash``; vmalloc'd instead on
  a machine with more than one NUMA node).
- ``mem_init`` -> swiotlb: the bounce buffer below the DMA limit, then its slot metadata
  (5.10: the free list and the original-address array; 6.1+: the slot array and the area array).

Each generation's sizes are read from the ``memblock=debug`` boots in tests/data/memblock (every allocation
there names its caller) and the percpu ones follow from the ``percpu: Embedded ... sS rR dD uU`` line.
"""

from __future__ import annotations

from typing import Final

from kdumplab.machine import Machine
from kdumplab.memblock import Draft, Memblock
from kdumplab.memparse import MemparseFlavour, memparse
from kdumplab.policy import LateProfile
from kdumplab.ranges import align_up

__all__ = ["late_allocations", "log_buf_len", "request_standard_resources"]

U64_MAX: Final = (1 << 64) - 1
SMP_CACHE_BYTES: Final = 64
RESOURCE_SIZE: Final = 64  # sizeof(struct resource) on arm64
PCPU_MIN_ALLOC_SIZE: Final = 4  # one bit of a chunk's allocation map covers 4 bytes (mm/percpu-internal.h)
PCPU_BLOCK_MD: Final = 32  # sizeof(struct pcpu_block_md), one per page of a chunk's region
SWIOTLB_DEFAULT: Final = 64 << 20  # IO_TLB_DEFAULT_SIZE
IO_TLB_SHIFT: Final = 11  # 2 KiB slabs
IO_TLB_SEGSIZE: Final = 128
IO_TLB_MIN_SLABS: Final = 512  # 1 MiB


def request_standard_resources(d: Draft) -> None:
    """request_standard_resources: the array of one resource per memblock memory region."""
    d.alloc_range(RESOURCE_SIZE * len(d.memory), SMP_CACHE_BYTES, 0, U64_MAX, "standard resources")


def _command_line(d: Draft, cmdline: str) -> None:
    size = len(cmdline.encode()) + 1
    for what in ("saved_command_line", "static_command_line"):
        d.alloc_range(size, SMP_CACHE_BYTES, 0, U64_MAX, what)


def _first_chunk_maps(start_offset: int, map_size: int, page: int, lp: LateProfile) -> tuple[int, ...]:
    """pcpu_alloc_first_chunk: the region is the map rounded out to pages from its page offset; one bit per
    4 bytes for the allocation map, one more for the boundary map, block metadata per page."""
    region = align_up(start_offset + map_size, page)
    bits = region // PCPU_MIN_ALLOC_SIZE
    longs = -(-bits // 64)
    pages = region // page
    return (lp.percpu_chunk_struct + 8 * -(-pages // 64), longs * 8, (-(-(bits + 1) // 64)) * 8, pages * PCPU_BLOCK_MD)


def _percpu(d: Draft, page: int, lp: LateProfile, cpus: int = 1) -> None:
    """pcpu_embed_first_chunk with every CPU in one group (QEMU puts all -smp CPUs on node 0): one unit per
    CPU in a single page-aligned allocation, then the group offsets and sizes (unsigned long each), the unit
    map (an int per CPU) and the unit offsets (an unsigned long per CPU)."""
    sizes = [8, 8, 4 * cpus, 8 * cpus, lp.percpu_slot_lists]
    static, reserved = lp.percpu_static, lp.percpu_reserved
    if reserved:
        sizes += _first_chunk_maps(static % page, reserved, page, lp)
    sizes += _first_chunk_maps((static + reserved) % page, lp.percpu_dynamic, page, lp)
    ai = d.alloc_range(page, page, 0, U64_MAX, "percpu alloc info")
    areas = d.alloc_range(page, SMP_CACHE_BYTES, 0, U64_MAX, "percpu areas")
    d.alloc_range(lp.percpu_unit * cpus, page, 0, U64_MAX, "percpu first chunk", 0)
    for size in sizes:
        d.alloc_range(size, SMP_CACHE_BYTES, 0, U64_MAX, "percpu tables")
    for addr in (ai, areas):
        if addr is not None:
            d.free(addr, page)


PRB_AVGBITS: Final = 5  # kernel/printk/printk.c: one ring descriptor per 2^5 bytes of text
LOG_ALIGN: Final = 8  # __alignof__(struct printk_info)
LOG_BUF_LEN_MAX: Final = 1 << 31


def log_buf_len(cmdline: str, built_in: int) -> int:
    """The printk buffer ``log_buf_len=`` asks for (printk.c ``log_buf_len_setup`` / ``log_buf_len_update``, an
    early_param, so every occurrence runs in order): memparse'd, rounded up to a power of two, taken only when
    larger than the built-in buffer (the later of two that are); 0 when none is, so no new buffer is made."""
    size = 0
    for word in cmdline.split():
        if word.startswith("log_buf_len="):
            value, used = memparse(word, MemparseFlavour.WRAP, len("log_buf_len="))
            if used and value <= LOG_BUF_LEN_MAX:
                value = 1 << (value - 1).bit_length() if value else 0
                if value > built_in:
                    size = value
    return size


def _log_buf(d: Draft, cmdline: str, lp: LateProfile) -> None:
    """setup_log_buf(0): with a larger ``log_buf_len=``, the new text buffer, the descriptor array and the info
    array, each memblock_alloc'd top down (8-byte aligned) and kept. Checked against 16K boots with
    ``log_buf_len=1M`` (0x480000 bytes more reserved at the top of RAM, tests/data/boots-uefi/holdout4-*), and
    held out: 6.1 with 300K (512 KiB), 7.2 with 4M (tests/data/boots/6.1-holdout-logbuf*, boots-uefi/7.2-holdout4-*)."""
    size = log_buf_len(cmdline, lp.log_buf_len) if "log_buf_len=" in cmdline else 0
    if not size:
        return
    count = size >> PRB_AVGBITS
    for n, what in ((size, "printk log_buf"), (count * lp.printk_desc, "printk descs"),
                    (count * lp.printk_info, "printk infos")):
        d.alloc_range(n, LOG_ALIGN, 0, U64_MAX, what)


def _hashes(d: Draft, page: int, struct_page: int, kernel_pages: int | None, ram: int) -> None:
    """The dentry and inode hashes: one pointer per 8 KiB and per 16 KiB of nr_kernel_pages, rounded up to
    1 MiB and then to a power of two; alloc_large_system_hash scales by bytes, so 16K pages give the same
    sizes. With more than one NUMA node they come from vmalloc after mm_init (hashdist).

    nr_kernel_pages up to 6.1 (free_area_init_core) is the present pages less their memmap, not less
    memblock.reserved, so a large crash region does not shrink the hashes (lab boots with 4 and 6 GiB
    reserved on 8 GiB print "Dentry cache hash table entries: 1048576"). From 6.12 (mm_init.c
    calc_nr_kernel_pages, called in free_area_init) it is memblock's free pages at that point,
    ``kernel_pages``: 6.12 calls it right after sparse_init, before CMA and the crash region; 7.2 after
    both, so there the crash region shrinks them (7.2 on 2 GiB with crashkernel=1G: 131072 dentry entries,
    tests/data/realboots/7.2-2G-a06-*). ``ram``: memblock_phys_mem_size()."""
    if len({r.nid for r in d.memory}) > 1:
        return
    if kernel_pages is None:
        present = ram // page
        kernel_pages = present - -(-present * struct_page // page)
    kernel_bytes = align_up(kernel_pages * page, 1 << 20)
    for what, scale in (("dentry hash", 13), ("inode hash", 14)):  # fs/dcache.c, fs/inode.c
        # entries (a power of two) of 8 bytes
        d.alloc_range(8 << max((kernel_bytes >> scale) - 1, 1).bit_length(), SMP_CACHE_BYTES, 0, U64_MAX, what)


def _bounce_nslabs(ram: int) -> int:
    """swiotlb_adjust_size(DIV_ROUND_UP(RAM, 1024)): whole slabs in segments of 128, then (6.12+,
    round_up_default_nslabs) a power-of-two slab count."""
    size = align_up(-(-ram // 1024), 1 << IO_TLB_SHIFT)
    slabs = align_up(size >> IO_TLB_SHIFT, IO_TLB_SEGSIZE)
    return 1 << (slabs - 1).bit_length()


def _swiotlb(d: Draft, page: int, low_max: int, lp: LateProfile, cpus: int, ram: int) -> None:
    """mem_init: swiotlb when RAM reaches above the DMA limit (or, 6.5+, a small kmalloc bounce buffer);
    the buffer comes from below the limit and nothing more is allocated when it does not fit. 6.1+ split it
    into one area per possible CPU, rounded up to a power of two (kernel/dma/swiotlb.c swiotlb_init_remap:
    "software IO TLB: area num 2." with -smp 2), each a 16-byte struct io_tlb_area in the area array.
    ``ram``: memblock_phys_mem_size()."""
    areas = 1 << (cpus - 1).bit_length()  # swiotlb_adjust_nareas(num_possible_cpus())
    if d.end_of_dram() > low_max:
        nslabs = SWIOTLB_DEFAULT >> IO_TLB_SHIFT
    elif lp.bounce_when_low_only:
        # round_up_default_nslabs: at least one segment of 128 slabs per area
        nslabs = max(min(_bounce_nslabs(ram), SWIOTLB_DEFAULT >> IO_TLB_SHIFT), IO_TLB_SEGSIZE * areas)
    else:
        return
    buf = d.alloc_range(nslabs << IO_TLB_SHIFT, page, 0, low_max, "swiotlb")
    while buf is None and lp.swiotlb_halves and nslabs > IO_TLB_MIN_SLABS:
        nslabs = align_up(nslabs >> 1, IO_TLB_SEGSIZE)  # "SWIOTLB bounce buffer size adjusted N -> M slabs"
        buf = d.alloc_range(nslabs << IO_TLB_SHIFT, page, 0, low_max, "swiotlb")
    if buf is None:
        return  # "software IO TLB: Cannot allocate buffer"
    if lp.swiotlb_meta == "list+orig":
        metadata = ((align_up(nslabs * 4, page), page), (align_up(nslabs * 8, page), page))
    else:
        areas = min(areas, nslabs // IO_TLB_SEGSIZE)  # limit_nareas
        metadata = ((align_up(nslabs * 24, page), page), (16 * areas, SMP_CACHE_BYTES))
    for size, align in metadata:
        d.alloc_range(size, align, 0, U64_MAX, "swiotlb metadata")


def late_allocations(lp: LateProfile, mb: Memblock, machine: Machine, low_max: int, cmdline: str,
                     resources_done: bool, free_after_sparse: int | None = None, struct_page: int = 64) -> Memblock:
    """memblock.reserved when arch_initcall builds /proc/iomem's reserved lines (see the module docstring);
    ``resources_done``: request_standard_resources already ran as an early step (7.x). The steps update one
    :class:`~kdumplab.memblock.Draft` (memblock's lists changed in place): only the state after the last is kept."""
    page = machine.page_size
    ram = mb.phys_mem_size()  # no step adds or removes memory
    d = mb.draft()
    if not resources_done:
        request_standard_resources(d)
    _command_line(d, cmdline)
    _percpu(d, page, lp, machine.cpus)
    _log_buf(d, cmdline, lp)
    _hashes(d, page, struct_page, free_after_sparse if lp.kernel_pages_from_free else None, ram)
    _swiotlb(d, page, low_max, lp, machine.cpus, ram)
    return d.memblock()
