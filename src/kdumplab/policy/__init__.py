"""Reservation policies: what each kernel generation (and each 2019 proposal) does, as data.

One frozen ``PolicyData`` row per policy holds its constants and the set of ``Feature``s it has. Stages ask
``policy.has(Feature.X)``; nothing outside this package compares version numbers. ``for_kernel`` is the only
place that turns a release string into a policy.

The rows the stages see are kernel profiles (``kdumplab.profiles``: one per built kernel, with its image,
early allocations and crash-side facts) over the reservation row their kernel follows. Reservation rows live
in one module per policy (``v5_10``, ``v6_1``, ``v6_12``, ``v7_2``, ``proposals``); the two 2019
proposals are written as ``replace()`` over the generation they are compared with, so each proposal's
whole idea is the visible difference.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from kdumplab import profiles
from kdumplab.errors import KdumplabError

__all__ = ["Feature", "EarlyStep", "EarlyProfile", "LateProfile", "SWIOTLB_META", "PolicyData",
           "for_kernel", "POLICY_NAMES", "all_policies", "reservation_rows"]


class Feature(enum.Enum):
    """Behaviours that differ between policies. Each row has a complete set."""

    #: the requested size is rounded up to the page size before allocating (5.10, 6.1)
    PAGE_ROUND_SIZE = enum.auto()
    #: a fixed base is checked step by step with three distinct messages (5.10)
    FIXED_BASE_CHECKS = enum.auto()
    #: a fixed base that cannot be had is reported as "memory is in use" (6.12+)
    FIXED_BASE_IN_USE_MESSAGE = enum.auto()
    #: ``,high`` searches from address 0 up to the top, so it can land low or straddle the DMA limit (6.1)
    HIGH_SEARCH_FROM_ZERO = enum.auto()
    #: plain ``crashkernel=X`` that does not fit low retries high, with the default low size (6.5+, v5)
    PLAIN_FALLS_BACK_HIGH = enum.auto()
    #: ``,high`` that finds no high memory retries low (6.5+)
    HIGH_FALLS_BACK_LOW = enum.auto()
    #: ``crashkernel=Y,low`` is reserved first and then X may go anywhere (2019 review)
    LOW_FIRST = enum.auto()
    #: the low region is memblock NOMAP: never mapped, top-level in /proc/iomem (2019 review)
    LOW_REGION_NOMAP = enum.auto()
    #: /sys/kernel/kexec_crash_size counts the low region too (6.12+)
    CRASH_SIZE_INCLUDES_LOW = enum.auto()
    #: an early parameter named exactly ``crashkernel`` sets crash_mem_map, which decides the linear-map
    #: granularity (5.10, 6.1)
    CRASH_MEM_MAP = enum.auto()
    #: loaded crash segments are unmapped from the linear map (arch_kexec_protect_crashkres) (5.10, 6.1)
    PROTECT_CRASHKRES = enum.auto()
    #: crash resources are inserted at early_initcall and only if start < end: a 1-byte region is
    #: reserved but never shown (6.12+)
    IOMEM_ONLY_IF_NONEMPTY = enum.auto()
    #: the reservation is deferred to bootmem_init only when ZONE_DMA/DMA32 exist (5.10, 6.1)
    DEFER_ONLY_WITH_DMA_ZONES = enum.auto()
    #: the reservation always runs in arm64_memblock_init, before the linear map, CMA and memmap (2019)
    RESERVE_EARLY = enum.auto()
    #: the DMA limit is an address (zone_dma_limit) rather than a bit count (6.12+)
    DMA_LIMIT_AS_ADDRESS = enum.auto()
    #: CMA first tries bottom-up above 4 GiB (6.1+)
    CMA_BOTTOM_UP_ABOVE_4G = enum.auto()
    #: the kernel image is reserved (and shown as Kernel code) from _stext rather than _text (6.1)
    KERNEL_FROM_STEXT = enum.auto()
    #: with more than one NUMA node, a CMA area per node too, bottom-up above 4 GiB in the node (7.2)
    PERNODE_CMA = enum.auto()
    #: sparse_init takes no memmap buffer per node: each section's memmap is its own PMD-aligned memblock
    #: allocation (7.2: memblock=debug shows one ``memmap_alloc`` of 2 MiB per section and no
    #: ``memblock_alloc_exact_nid_raw``), so the pieces fill holes between NOMAP ranges (EFI runtime regions)
    MEMMAP_PER_SECTION = enum.auto()
    #: map_mem maps the kernel's linear alias [_text, __init_begin) first, with the flags of the rest of RAM
    #: (pages everywhere under rodata_full), instead of last with blocks allowed (7.2); where the kernel sits
    #: in its 2 MiB block then changes no page-table count (``early.kernel_pte_tables``)
    KERNEL_ALIAS_WITH_RAM = enum.auto()
    #: memblock's allocators mark what they reserve MEMBLOCK_RSRV_KERN and memblock_reserve() does not, so
    #: an allocation touching the kernel, initrd or DTB stays a region (and a /proc/iomem line) of its own
    MEMBLOCK_RSRV_KERN = enum.auto()
    #: x86's own reserve_crashkernel (5.10, 6.1): plain then ,high; windows start at CRASH_ALIGN; the low
    #: region's ,low is parsed on its own with a swiotlb-sized default; "Reserving ..MB" messages
    X86_LEGACY = enum.auto()
    #: crash resources go into /proc/iomem at reservation time (x86), not at early_initcall
    IOMEM_EARLY = enum.auto()
    #: the low region comes from the 2019 series' shared reserve_crashkernel_low() (x86's of the time,
    #: moved to kexec_core.c / crash_core.c): window [0, 4 GiB), wanted when the main region starts at or
    #: above 4 GiB (not the DMA limit), a fixed base included; messages "Reserving %ldMB of low memory at
    #: %ldMB for crashkernel (System low RAM: %ldMB)" / "Cannot reserve %ldMB crashkernel low memory, ..."
    LOW_HELPER_2019 = enum.auto()
    #: x86 5.10: a crashkernel option reserves the first MiB and says "kexec: Reserving the low 1M of memory
    #: for crashkernel" (crash_reserve_low_1M; from 5.13 x86 reserves the first MiB always, silently)
    X86_RESERVE_LOW_1M = enum.auto()

    # Members are singletons compared by identity, so identity hashing is consistent with ==; Enum's own
    # __hash__ (hash of the name, in Python) was a visible part of model.run, which asks has() ~25 times
    __hash__ = object.__hash__


class EarlyStep(enum.Enum):
    """Allocations made before the crash reservation, in boot order (see ``kdumplab.early``)."""

    PAGE_TABLES = "page tables, unflattened DT, NUMA data"
    SPARSE = "memmap (sparse_init)"
    CMA = "CMA area"
    #: x86 setup_arch before reserve_crashkernel: init_mem_mapping's page tables, then NODE_DATA per node
    X86_SETUP = "x86 page tables and NUMA node data"
    CRASHKERNEL = "crash kernel"
    #: request_standard_resources' array (7.x calls it in setup_arch before sparse_init; older generations
    #: after bootmem_init, with the late allocations of kdumplab.late)
    RESOURCES = "standard resources"


@dataclass(frozen=True, slots=True)
class EarlyProfile:
    """Sizes of the early allocations of one generation, read from ``memblock=debug`` boots of its Debian
    kernel under QEMU ``-M virt`` (tests/data/memblock). Every one is allocated top-down, in this order:
    page tables, unflattened DT, NUMA distance table, node data, cpumask, section roots, then per node the
    section index, usemap, memmap and vmemmap page tables."""

    #: page-table pages beyond one per 2 MiB and one per 1 GiB of RAM (kernel map, idmap, minus the
    #: kernel text that the linear map covers with blocks)
    pt_extra_pages: int
    dt_unflatten: int
    dt_per_extra_node: int
    numa_distance: bool
    node_data: int
    cpumask: int
    cpumask_per_extra_node: int
    section_bits: int
    section_roots: int
    usemap_per_section: int
    vmemmap_pt_pages: int
    #: sizeof(struct property): what one more device-tree property adds to the unflattened tree (measured on
    #: the -dtb boots with a dma-ranges property, tests/data/boots/*-dma*: 88, 96, 104, 112 bytes)
    dt_per_property: int = 0
    #: the usemaps go into the section of the node's pg_data_t (sparse_early_usemaps_alloc_pgdat_section,
    #: up to 6.x); 7.x allocates them plainly top-down on the node (mm/sparse.c sparse_usage_init)
    usemap_near_pgdat: bool = True
    #: the bounds of the kernel segments paging_init's map_kernel maps from memblock, as offsets from _text:
    #: text, rodata, init text, init data, data (``_stext``/``_text``, ``_etext``, ``__init_begin``,
    #: ``__inittext_end``, ``_sdata``, ``_end``). Empty where the early boot code maps the image into tables
    #: inside it (6.12+: arch/arm64/kernel/pi/map_kernel.c), so no memblock page depends on them.
    kernel_segments: tuple[int, ...] = ()


#: how swiotlb's per-slab metadata is allocated after the buffer (LateProfile.swiotlb_meta):
#: "list+orig": 5.10 swiotlb_init_with_tbl, io_tlb_list (an int per slab) and io_tlb_orig_addr (a phys_addr_t per
#: slab), each page-rounded and page aligned; "slots+areas": 6.1+ swiotlb_init_remap, mem->slots (24 bytes per
#: slab), page-rounded and page aligned, then mem->areas (16 bytes per area, one area with one CPU)
SWIOTLB_META = ("list+orig", "slots+areas")


@dataclass(frozen=True, slots=True)
class LateProfile:
    """What a build allocates from memblock after the crash reservation until /proc/iomem is built
    (kdumplab.late). The percpu_* fields are the first chunk as ``percpu: Embedded N pages/cpu sS rR dD uU``
    prints it, plus the two structure sizes pcpu_setup_first_chunk and pcpu_alloc_first_chunk allocate."""

    percpu_static: int  # sS: the kernel's static per-CPU data
    percpu_reserved: int  # rR: the reserved chunk (module static per-CPU data); 0: no reserved chunk
    percpu_dynamic: int  # dD
    percpu_unit: int  # uU: bytes per CPU (the first chunk's allocation, one CPU)
    percpu_chunk_struct: int  # sizeof(struct pcpu_chunk) without its populated bitmap
    percpu_slot_lists: int  # pcpu_chunk_lists: one list head per slot (and per chunk type)
    swiotlb_meta: str  # one of SWIOTLB_META
    #: 6.5+ (CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC, arch/arm64/mm/init.c mem_init): with all RAM below the DMA
    #: limit a bounce buffer of 1 MiB per GiB of RAM is still allocated, for unaligned kmalloc DMA
    bounce_when_low_only: bool = False
    #: 6.12+: nr_kernel_pages (what the boot-time hashes are sized by) counts memblock's free pages in
    #: free_area_init (calc_nr_kernel_pages), not present pages less the memmap
    kernel_pages_from_free: bool = False
    #: 6.1+ swiotlb_init_remap halves a buffer that does not fit below the DMA limit (in segments of 128
    #: slabs, down to 1 MiB) and tries again; 5.10 tries once
    swiotlb_halves: bool = False
    #: the built-in printk buffer (1 << CONFIG_LOG_BUF_SHIFT): ``log_buf_len=`` allocates a new one only when
    #: larger. 17 in Debian's arm64 configs of 5.10.223, 6.1.192, 6.12.117 and 6.12.117-16k (boot/config-*);
    #: 7.2's config is not in the lab cache, taken as the same
    log_buf_len: int = 1 << 17
    #: sizeof(struct prb_desc) and sizeof(struct printk_info) (kernel/printk/printk_ringbuffer.h, printk.h):
    #: setup_log_buf allocates one of each per 32 bytes of a ``log_buf_len=`` buffer
    printk_desc: int = 24
    printk_info: int = 88

    def __post_init__(self) -> None:
        if self.swiotlb_meta not in SWIOTLB_META:
            raise ValueError(f"swiotlb_meta {self.swiotlb_meta!r} is not one of {', '.join(SWIOTLB_META)}")


@dataclass(frozen=True, slots=True)
class PolicyData:
    """One policy's complete row."""

    name: str
    arch: str
    #: the grammar of crashkernel= (a key of ``kdumplab.cmdline.GRAMMARS``)
    grammar: tuple[str, str]
    features: frozenset[Feature]
    crash_align: int
    #: CRASH_ADDR_HIGH_MAX: PHYS_MASK + 1 of the Debian build
    high_max: int
    #: low size used when the main region ends up high and no ``,low`` was given (None: no default)
    default_low_size: int | None
    #: CRASH_ADDR_LOW_MAX when it is a constant (x86: 4 GiB); None: the arm64 DMA limit
    fixed_low_max: int | None = None
    low_name: str = "Crash kernel"
    #: pr_fmt of the file that prints the low region's lines (v5 moved them to kernel/kexec_core.c, whose
    #: pr_fmt is KBUILD_MODNAME ": "; seen as "kexec_core: Reserving ..." in every v5 boot)
    low_log_prefix: str = ""
    main_name: str = "Crash kernel"
    #: CMA alignment: the allocator's minimum (4 MiB in 5.10, one pageblock = 2 MiB from 5.19)
    cma_align: int = 2 << 20
    #: what the kernel allocates before the crash reservation, in order
    early_steps: tuple[EarlyStep, ...] = ()
    #: the fields from here to kexec_generation are the kernel build's, filled from its profile
    #: (kdumplab.profiles); a bare reservation row (``reservation_rows``) leaves them at their defaults
    early: EarlyProfile | None = None
    #: what memblock hands out after the reservation until /proc/iomem is built (kdumplab.late)
    late: LateProfile | None = None
    kernel_release: str = ""  # the Debian release the row was read from
    #: the kernel's page size (CONFIG_ARM64_*K_PAGES): Debian's arm64 kernels use 4K, its -16k flavour 16K
    page_size: int = 4096
    #: the key of this generation in kdumplab.kexec.KERNEL_KEXEC / crashview.CRASH_KERNELS ("" = not modelled)
    kexec_generation: str = ""
    description: str = ""
    #: per-field citations: feature or constant -> "commit subject (release)"
    citations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def has(self, feature: Feature) -> bool:
        return feature in self.features


def reservation_rows(arch: str = "arm64") -> dict[str, PolicyData]:
    """The reservation policies themselves, by name, without any kernel's build facts (``early`` is None)."""
    from kdumplab.policy import proposals, v5_10, v6_1, v6_12, v7_2, x86_64

    rows = [v5_10.ROW, v6_1.ROW, v6_12.ROW, v7_2.ROW, proposals.V5, proposals.REVIEW, proposals.CONTROL, *x86_64.ROWS]
    return {row.name: row for row in rows if row.arch == arch}


_CACHE: dict[tuple[str, int], dict[str, PolicyData]] = {}


def _rows(arch: str = "arm64") -> dict[str, PolicyData]:
    """One row per kernel profile (``kdumplab.profiles``): its policy with the kernel's build facts filled in."""
    key = (arch, profiles._STAMP[0])
    rows = _CACHE.get(key)
    if rows is None:
        base = reservation_rows(arch)
        rows = _CACHE[key] = {p.name: p.policy_row(base[p.policy]) for p in profiles.all_profiles(arch)}
    return rows


_ALIASES = {"7": "7.2", "7.x": "7.2", "v5": "proposal-2019-v5", "review": "proposal-2019-review"}


def POLICY_NAMES(arch: str = "arm64") -> tuple[str, ...]:  # noqa: N802 - reads like the constant it stands for
    return tuple(_rows(arch))


def all_policies(arch: str | None = None) -> tuple[PolicyData, ...]:
    arches = (arch,) if arch else ("arm64", "x86_64")
    return tuple(row for a in arches for row in _rows(a).values())


#: for_kernel's answers for release strings (not profile files), by (release, arch, profile stamp): what it
#: reads besides the string is the profile tables (their stamp moves with every change) and the calibrated
#: profiles shipped with the package (read once). A sweep asks it twice per point.
_FOR_KERNEL: dict[tuple[str, str, int], PolicyData] = {}
_FOR_KERNEL_ENTRIES = 256


def for_kernel(release: str, arch: str = "arm64") -> PolicyData:
    """The policy for a release string: ``6.1``, ``6.1.0-27-arm64``, ``6.12.107``, ``proposal-2019-v5``, or a
    kernel profile file (``lab calibrate``: a path, or a name ending in ``.toml``).

    A full release picks its generation by major.minor; a release between known generations is refused
    rather than guessed.
    """
    row = _FOR_KERNEL.get((release, arch, profiles._STAMP[0]))
    if row is not None:
        return row
    if profiles.is_profile_file(release.strip()):  # a file may change between calls: read it every time
        return _for_kernel(release, arch)
    row = _for_kernel(release, arch)
    if len(_FOR_KERNEL) >= _FOR_KERNEL_ENTRIES:
        _FOR_KERNEL.clear()
    _FOR_KERNEL[(release, arch, profiles._STAMP[0])] = row  # the stamp after a calibrated profile registered
    return row


def _for_kernel(release: str, arch: str) -> PolicyData:
    if profiles.is_profile_file(release.strip()):
        prof = profiles.load_file(release.strip())
        if prof.arch != arch:
            raise KdumplabError(f"--kernel {release}", f"is an {prof.arch} kernel, not {arch}")
        return _rows(arch)[prof.name]
    point = profiles.calibrated(release, arch)  # a point release read by lab calibrate: its own Image
    if point is not None:
        if profiles.get(point.name, arch) is not point:
            profiles.register(point)
        return _rows(arch)[point.name]
    rows = _rows(arch)
    name = _ALIASES.get(release.strip(), release.strip())
    # a lab-built kernel's release is "<Debian source version>+<policy>" (kdumplab.lab.build)
    if name not in rows and name.partition("+")[2] in rows:
        name = name.partition("+")[2]
    if name not in rows:
        m = re.match(r"^(\d+)\.(\d+)", name)
        if m:
            # Debian's page-size flavours are their own rows: 6.12.117+deb13-arm64-16k is 6.12-16k
            flavour = re.search(r"-(16k|64k)\b", name)
            name = f"{m.group(1)}.{m.group(2)}"
            if flavour and f"{name}-{flavour.group(1)}" in rows:
                name = f"{name}-{flavour.group(1)}"
    row = rows.get(name)
    if row is None:
        raise KdumplabError("--kernel", f"unknown kernel generation {release!r} for {arch}",
                            f"known: {', '.join(rows)}")
    return row
