"""The EFI memory map EDK2 hands to Linux on QEMU ``-M virt``, and where the arm64 EFI stub puts the kernel.

With ``-bios QEMU_EFI.fd -kernel Image -initrd F`` QEMU gives the kernel and initrd to EDK2 through fw_cfg;
EDK2 loads the Image as a PE/COFF application and starts it, and the kernel's own EFI stub (drivers/firmware/
efi/libstub) moves the kernel if it must, loads the initrd, builds a small DT with the EFI facts and exits
boot services. Linux then sees RAM through the EFI memory map (drivers/firmware/efi/efi-init.c
``reserve_regions``): every write-back/-through/-combining entry is memory; runtime code/data, reserved
and MMIO entries are marked NOMAP (top-level ``reserved`` in /proc/iomem, never in the linear map); ACPI
reclaim entries stay mapped but are reserved.

Everything EDK2 allocates is handed out by its page allocator top down. This module replays that, for one
firmware build, as a pure function of the memory size, the kernel file and the initrd:

1. the firmware's own regions at the top of the first memory node (the node PEI runs in; the other nodes
   are plain conventional memory added by ArmVirtPkg's HighMemDxe). They are the same, relative to the top
   of that node, for every -m, NUMA shape, kernel and CPU model (measured in every UEFI boot, with
   ``efi=debug``), so they are data of the build (:data:`EDK2_2022_11`);
2. the kernel and initrd files fw_cfg delivers, each copied into boot-services data: into the firmware's
   boot-data bin below its own data when it fits there, else below the runtime regions;
3. QEMU's ACPI tables (64 KiB of ACPI reclaim, below what is taken);
4. ``LoadImage``: the file read into a pool buffer, the PE image allocated below it (SizeOfImage plus one
   SectionAlignment, the image placed at the first 64 KiB boundary), the buffer freed;
5. the EFI stub (per generation, :class:`StubFacts`): moves the kernel to a 2 MiB boundary when it needs to,
   a pool page (the memreserve table), the initrd and a 2 MiB FDT, each with the stub's
   ``efi_allocate_pages`` rounding.

Functions here are pure; the :class:`EfiMap` they return feeds :func:`kdumplab.presets.qemu_virt`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from kdumplab.errors import KdumplabError
from kdumplab.profiles import ProfileTable
from kdumplab.ranges import SZ_1G, SZ_2M, SZ_4K, SZ_64K, align_down, align_up, iec_hex

__all__ = ["Kind", "EfiRegion", "Edk2Build", "StubFacts", "EfiMap", "EDK2_2022_11", "EDK2_2022_11_DT", "STUB_FACTS",
           "edk2_boot", "stub_kernel_slots", "stub_nokaslr_choice", "FLASH_RANGE", "STUB_CHOSEN_PROPERTIES",
           "handed_dt_extra_properties", "pei_table_gibs",
           "dxe_table_pages"]


class Kind(Enum):
    """EFI memory types (UEFI spec 2.10 §7.2, EFI_MEMORY_TYPE), as Linux's efi=debug names them."""

    CONVENTIONAL = "Conventional"
    BOOT_CODE = "Boot Code"
    BOOT_DATA = "Boot Data"
    LOADER_CODE = "Loader Code"
    LOADER_DATA = "Loader Data"
    RUNTIME_CODE = "Runtime Code"
    RUNTIME_DATA = "Runtime Data"
    ACPI_RECLAIM = "ACPI Reclaim"
    MMIO = "MMIO"

    @property
    def usable(self) -> bool:
        """efi-init.c ``is_usable_memory``: free for Linux once boot services have exited."""
        return self in (Kind.CONVENTIONAL, Kind.BOOT_CODE, Kind.BOOT_DATA, Kind.LOADER_CODE, Kind.LOADER_DATA)

    @property
    def nomap(self) -> bool:
        """Memory Linux keeps but never maps: runtime services and MMIO the map calls memory."""
        return self in (Kind.RUNTIME_CODE, Kind.RUNTIME_DATA, Kind.MMIO)


@dataclass(frozen=True, slots=True)
class EfiRegion:
    """One EFI memory map entry, [start, end)."""

    kind: Kind
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end <= self.start or self.start % SZ_4K or self.end % SZ_4K:
            raise KdumplabError("EFI memory map", f"bad entry {self.kind.value} {self.start:#x}-{self.end:#x}")


#: QEMU virt's first flash bank (the EFI variable store), which EDK2 maps as write-combining MMIO with the
#: runtime attribute: Linux counts it as memory (efi-init.c ``is_memory``: WB, WT or WC) and marks it NOMAP,
#: so /proc/iomem starts with ``04000000-07ffffff : reserved`` and ZONE_DMA with 0x4000000.
FLASH_RANGE = (0x0400_0000, 0x0800_0000)
#: The PL031 RTC page, mapped uncached for the runtime services: MMIO, not memory
RTC_RANGE = (0x0901_0000, 0x0901_1000)


@dataclass(frozen=True, slots=True)
class Edk2Build:
    """One EDK2 build for QEMU virt: its fixed regions and the sizes its boot path allocates.

    ``top`` holds the firmware's own regions at the top of the first memory node as (kind, start, end)
    offsets below that node's end; ``low`` the PEI regions at fixed addresses. ``bin`` is the free part
    of the boot-services data bin (offsets below the top) that the kernel file goes into when it fits;
    ``default_top`` the offset below which everything else is allocated (just under the lower runtime
    regions). ``late_data`` are the boot-services data allocations made after the ACPI tables and before
    LoadImage (into the bin's rest when they fit, else below).
    """

    package: str
    version: str
    sha256: str
    top: tuple[tuple[Kind, int, int], ...]
    low: tuple[tuple[Kind, int, int], ...]
    bin: tuple[int, int]
    default_top: int
    late_data: tuple[int, ...]
    #: QEMU's ACPI tables, installed by EDK2 as ACPI reclaim pages (0: -M virt,acpi=off, the DT is handed over)
    acpi_size: int = SZ_64K
    #: boot-services data pages allocated one at a time after the stub's pool page when the memory attributes
    #: table was rebuilt into a fresh pool page (not ``memattr_quiet``): the first fills the hole the table's
    #: memory-map copy left above the table (on 4K, in the bin: the table then sits one page below it; on 16K,
    #: whose bin is full, the stub's loader-data pool page has taken that hole, so the table is right below
    #: that page and these go below the table). Counted in the efi=debug maps, 4K and 16K, ACPI and acpi=off
    memattr_after: int = 2
    #: an EDK2 pool too large for its free lists takes whole pages for the requested size plus its header
    #: and tail (MdeModulePkg/Core/Dxe/Mem/Pool.c); the kernel file is read into such pools
    pool_overhead: int = 0x30
    #: PE/COFF SectionAlignment of Debian's arm64 Images (SEGMENT_ALIGN, 64 KiB): EDK2 allocates one more
    #: SectionAlignment than SizeOfImage and places the image at the first boundary inside
    section_align: int = SZ_64K
    #: where EDK2's memory attributes table lands (a small pool: a header and one descriptor per runtime
    #: region, rebuilt while the stub runs) when the command line is short: in the free chunk of the pool page
    #: LoadImage grew (``loadimage_pool``), at this offset into that page, taking no page of its own, unless
    #: the command line is long enough (``memattr_cmdline``) that EDK2's copy of it has used that chunk: then
    #: the table is rebuilt into a fresh pool page (``memattr_after``). None: always a fresh page (acpi=off).
    #: ``memattr_fresh``: with virtio-rng, where the table is in a ``late_data[2]`` pool at this offset. The
    #: ``MEMATTR=`` of every ACPI boot, 5.10 to 7.2, 4K and 16K (tests/ground_truth/test_efi_map.py); on 4K
    #: that page is in the bin right below ``late_data[0]`` (first read as 0x1518 from a page lower), on 16K
    #: with a 1 MB initrd right above the PE image (0x139f8d518 in 6.12-16k-u-dbg-initrd1M-4G-512M, whose map
    #: shows it). The table is a 1,064-byte request of Pool.c's 1,664-byte list: a block a page's carve left at
    #: 0x500, data after the 0x18-byte POOL_HEAD (docs/model.md, "Four of the bin's pages")
    memattr_quiet: int | None = 0x518
    memattr_fresh: int = 0x1018
    #: the shortest command line (as the kernel sees it, with EDK2's `` initrd=initrd``) whose fw_cfg copy
    #: moves the memory attributes table to a fresh pool. OvmfPkg GenericQemuLoadImageLib copies QEMU's
    #: -append (its length plus a NUL) into a pool: up to 88 bytes that is a block of the 128-byte list,
    #: from 89 one of the 256-byte list (MdeModulePkg/Core/Dxe/Mem/Pool.c: the size aligned to 8 plus the
    #: 40-byte head and tail, mPoolSizeTable), which the table's chunk then serves. Boots of 99 and 101
    #: characters had the table in the chunk, 102 and 105 in a fresh pool, with and without efi=debug
    #: (tests/data/boots-uefi/6.1-u-len*)
    memattr_cmdline: int = 102
    #: page-table pages DXE allocates (boot-services data, top down, before the kernel file arrives) on the
    #: boots ``top`` and ``bin`` were read on (whole GiBs, first node of 2 GiB or more): it splits the 1 GiB
    #: block PEI mapped the first node's top GiB with, the level-2 table and a level-3 table for the 2 MiB
    #: block that holds that table (ArmPkg ArmMmuLib ``UpdateRegionMappingRecursive`` maps a region covering
    #: the page table it writes with a table, not a block). Where DXE makes fewer (:func:`dxe_table_pages`)
    #: the bin's allocations sit that much higher, where it makes more, lower
    dxe_split_tables: int = 0x2000
    #: boot-services data DXE allocates after the kernel and initrd files arrive, before ``late_data[0]``: on a
    #: finished map its pages look like the bottom of DXE's own data in the bin (``top``), but they are taken
    #: after the files. Seen on 16K, whose bin the files fill: a 1 MB initrd (246 pages) still fits beside the
    #: kernel file, where the default initrd (242) leaves these pages and LoadImage's two (``loadimage_pool``,
    #: ``loadimage_after``) in the bin; with the 1 MB initrd they go below (with ACPI two more above the
    #: ``late_data[0]`` pages under the tables, the image 3 pages lower: 6.12-16k-u-dbg-initrd1M-4G-512M; under
    #: acpi=off above ``late_data[0]`` at the top: 6.12-16k-u-dbg-initrd1M-dma1G-4G-256M). On 4K the bin has
    #: room: the same pages, in another order
    dxe_after_files: int = 0
    #: the boot-services data page LoadImage's pools grow into while it reads the file (after the file's
    #: buffer, before the PE image's pages): the quiet memory attributes table's chunk (``memattr_quiet``).
    #: With ACPI only: under acpi=off no page shows between the buffer and the image (its pool had room)
    loadimage_pool: int = 0
    #: boot-services data LoadImage allocates after the PE image's pages, before image protection's tables
    loadimage_after: int = 0
    #: boot-services data pages EDK2 adds when QEMU gives it a virtio-rng device (``-device virtio-rng-pci``:
    #: VirtioRngDxe binds it and offers EFI_RNG_PROTOCOL): (before the memory attributes table, after it).
    #: Measured in the EFI maps of 6.12 4 GiB boots with and without the device (tests/data/boots-uefi/
    #: 6.12-rng-cal-*): the same map but 5 more boot-data pages in the firmware's bin, the memattr table
    #: 3 pages lower
    rng_data: tuple[int, int] = (0x3000, 0x2000)
    #: properties EDK2 adds to the DT it hands over (acpi=off): ``status = "disabled"`` on the devices its
    #: runtime services own, /pl031@9010000 and /flash@0 (the first kernel's /sys/firmware/fdt of the acpi=off
    #: cycles against QEMU's tree of the DT cycles, tests/data/cycles-uefi/*dma*, tests/data/cycles/*dma*)
    dt_properties: int = 0


#: EDK2 2022.11-6+deb12u2 (Debian bookworm qemu-efi-aarch64, QEMU_EFI.fd), the lab's ``--firmware uefi``.
#: Offsets read from the EFI memory map (``efi=debug``) of every lab UEFI boot (tests/data/boots-uefi/*-cal-*):
#: identical below the end of the first node on 4, 8 and 4+4 GiB, all kernels, cortex-a57 and neoverse-n1.
EDK2_2022_11 = Edk2Build(
    package="qemu-efi-aarch64", version="2022.11-6+deb12u2",
    sha256="1794df260f8a1b1c938b5cee48f277327d8ce901a07ff44d2cd86ca043dae96a",
    top=(  # DXE's own data in the bin less the 4 pages taken after the files (dxe_after_files, LoadImage's two)
        (Kind.BOOT_DATA, 0x1000, 0),
        (Kind.RUNTIME_DATA, 0x270000, 0x20000),
        (Kind.RUNTIME_CODE, 0x400000, 0x270000),
        (Kind.BOOT_CODE, 0x7FB000, 0x400000),
        (Kind.BOOT_DATA, 0x1344000, 0x9DC000),  # DXE's own boot-services data
        (Kind.RUNTIME_CODE, 0x3980000, 0x38D0000),
        (Kind.RUNTIME_DATA, 0x3B40000, 0x3980000),
        (Kind.RUNTIME_CODE, 0x3BC0000, 0x3B40000),
    ),
    low=((Kind.BOOT_DATA, 0x4400_0000, 0x4402_0000), (Kind.BOOT_DATA, 0x4771_A000, 0x4773_B000),
         (Kind.BOOT_CODE, 0x4773_B000, 0x4777_2000), (Kind.BOOT_DATA, 0x4777_2000, 0x47EF_2000),
         (Kind.BOOT_CODE, 0x47EF_2000, 0x47EF_6000), (Kind.BOOT_DATA, 0x47EF_6000, 0x47FF_7000),
         (Kind.BOOT_CODE, 0x47FF_7000, 0x47FF_A000), (Kind.BOOT_DATA, 0x47FF_A000, 0x4800_0000)),
    bin=(0x38BC000, 0x1344000),
    default_top=0x3BC0000,
    late_data=(0x1E000, 0x1000, 0x3000),
    dxe_after_files=0x2000, loadimage_pool=0x1000, loadimage_after=0x1000,
)

#: The same build booted with ``-M virt,acpi=off`` (``--firmware uefi --dma-window``): no ACPI tables, so the
#: PE image and everything after it sit 64 KiB higher; PEI's low regions and the boot-code bin at the top are
#: laid out a little differently (tests/data/boots-uefi/*-u-cal-dma*), and four pages that look like DXE's own
#: data in the bin are allocated later (``dxe_after_files``: two, and LoadImage's two).
EDK2_2022_11_DT = replace(
    EDK2_2022_11,
    top=tuple((Kind.BOOT_CODE, 0x7EE000, hi) if kind is Kind.BOOT_CODE else
              (kind, lo, hi) for kind, lo, hi in EDK2_2022_11.top),
    low=((Kind.BOOT_DATA, 0x4400_0000, 0x4402_0000), (Kind.BOOT_DATA, 0x4781_2000, 0x4783_3000),
         (Kind.BOOT_CODE, 0x4783_3000, 0x4786_A000), (Kind.BOOT_DATA, 0x4786_A000, 0x47FE_A000),
         (Kind.BOOT_CODE, 0x47FE_A000, 0x47FE_E000), (Kind.BOOT_DATA, 0x47FE_E000, 0x47FF_7000),
         (Kind.BOOT_CODE, 0x47FF_7000, 0x47FF_A000), (Kind.BOOT_DATA, 0x47FF_A000, 0x4800_0000)),
    acpi_size=0, late_data=(0x1E000, 0x1000, 0x3000), loadimage_pool=0, loadimage_after=0, memattr_quiet=None,
    memattr_fresh=0x2018,
    dt_properties=2,
)

#: The /chosen properties every arm64 EFI stub sets besides ``bootargs`` and (5.10) the initrd's:
#: linux,uefi-system-table, -mmap-start, -mmap-size, -mmap-desc-size, -mmap-desc-ver and linux,uefi-secure-boot
#: (libstub/fdt.c update_fdt, Debian 5.10.223, 6.1.192, 6.12.117; ``kaslr-seed`` only overwrites QEMU's)
STUB_CHOSEN_PROPERTIES = 6


def handed_dt_extra_properties(build: Edk2Build, cmdline: bool, initrd: bool, stub_sets_initrd: bool) -> int:
    """How many more properties the kernel unflattens from the tree EDK2 hands over (acpi=off) than from the
    same QEMU tree on a direct boot: EDK2's own (``Edk2Build.dt_properties``) and the stub's /chosen
    (``bootargs``, 5.10's ``linux,initrd-start``/``-end``, :data:`STUB_CHOSEN_PROPERTIES`), less the
    ``bootargs`` and ``linux,initrd-start``/``-end`` QEMU writes into /chosen only when it starts the kernel
    itself. Checked against the unflattened tree's size in the memblock=debug boots (5.10: 9 more
    properties, 6.12: 7, with the dma-ranges one: tests/data/boots-uefi/*-u-cal-dma1G-*)."""
    stub = int(cmdline) + 2 * int(initrd and stub_sets_initrd) + STUB_CHOSEN_PROPERTIES
    return build.dt_properties + stub - int(cmdline) - 2 * int(initrd)


#: Where PEI's own page tables are (its memory, the ``low`` regions): the GiB from 0x40000000
PEI_TABLES_GIB = 0x4000_0000


def pei_table_gibs(start: int, top: int) -> tuple[bool, bool]:
    """How PEI maps the first node [start, top) (ArmVirtPkg QemuVirtMemInfoLib: RAM is that node alone; ArmPkg
    ArmMmuLib): a 1 GiB block for every whole GiB, except that a GiB holding the page tables being written
    gets a level-2 table, as does a GiB RAM covers only in part.

    Returns (whether PEI makes one more level-2 table than on a node of whole GiB, one page of its memory;
    whether the GiB holding the node's top, where DXE runs, already has a table, so DXE need not split
    it). Checked in the EFI map of a 1.5 GiB boot (tests/data/boots-uefi/6.1-u-dbg-1536M-128M: PEI's regions
    one page lower) and in the memory attributes table's place on every first node of 1, 1.5 and 2.5 GiB."""
    top_gib = align_down(top - 1, SZ_1G)
    partial = top % SZ_1G != 0
    return partial and top_gib != PEI_TABLES_GIB, partial or top_gib == PEI_TABLES_GIB


def dxe_table_pages(start: int, top: int, other_nodes: tuple[tuple[int, int], ...]) -> int:
    """The page-table pages DXE allocates (boot-services data, top down, before the kernel file arrives): 2 to
    split the top GiB of the first node when PEI left it a block (:func:`pei_table_gibs`; the level-2 table
    and the level-3 table for the 2 MiB block holding it), and one level-2 table for every GiB the other
    nodes (ArmVirtPkg HighMemDxe adds them and sets their attributes) cover only in part and that has no
    table yet. The build's offsets were read where this is 2. A first node of 1 GiB with a second of 1.5 GiB
    has 1 (the held-out 6.1-holdout2-uefi-numa-1G-1536M-256M, whose table sat one page lower than the model
    without it); NUMA 1.5+2.5 GiB shares the partial GiB with the first node: 0."""
    tabled = {PEI_TABLES_GIB}
    if top % SZ_1G:
        tabled.add(align_down(top - 1, SZ_1G))
    pages = 0 if align_down(top - 1, SZ_1G) in tabled else 2
    for lo, hi in other_nodes:
        for gib in range(align_down(lo, SZ_1G), hi, SZ_1G):
            if gib not in tabled and (lo > gib or hi < gib + SZ_1G):
                tabled.add(gib)
                pages += 1
    return pages


@dataclass(frozen=True, slots=True)
class StubFacts:
    """What one generation's arm64 EFI stub does when the firmware has no EFI_RNG_PROTOCOL.

    ``align_after_rng``: the minimum kernel alignment is chosen after learning there is no RNG (6.6+:
    libstub/kaslr.c ``efi_kaslr_relocate_kernel`` asks ``efi_get_kimg_min_align`` once ``efi_nokaslr`` is
    set, so 2 MiB) rather than before it (5.10/6.1 arm64-stub.c ``handle_kernel_image`` computes
    ``min_kimg_align`` first, while ``efi_nokaslr`` is still false: 64 KiB, so the kernel runs where
    EDK2 loaded it). ``fdt_base``: the stub's DT without its bootargs (bytes; the DT is reserved whole).
    """

    align_after_rng: bool
    fdt_base: int
    #: boot-services data pages EDK2 adds to its memory-map descriptor pool while this stub loads the initrd
    #: (counted in the EFI memory maps of the calibration boots: none on 5.10/6.1, one on 6.12, two on 7.2,
    #: with ACPI tables and under acpi=off alike; where the page goes is seen on 16K 4 GiB, ACPI and acpi=off,
    #: where the firmware's bin is full: in the initrd's head slack)
    boot_data_pages: int = 0
    #: loader-data pages of the pool the stub gets the final memory map in (5.10: two pages below the
    #: memreserve page, and efi_init reserves the map's page). 0: the map is an ACPI reclaim pool (6.1+:
    #: "MemMap Address" inside the ACPI tables' pages; with acpi=off a 64 KiB ACPI reclaim pool of its own
    #: below the DT, whose first page efi_init reserves)
    memmap_pages: int = 0
    #: what the stub adds to a DT the firmware hands over (acpi=off: QEMU's tree from the config table), on
    #: top of its bootargs: /chosen's initrd, uefi-* and memreserve properties (bytes, from the memblock dumps)
    fdt_dt_extra: int = 537
    #: with an EFI RNG the stub draws the kernel's place over all conventional memory (libstub/randomalloc.c
    #: ``efi_random_alloc`` with the 64 KiB minimum alignment, the footprint rounded to 64 KiB): 6.1.192 and
    #: later. None: 5.10's stub, which adds a random sub-2 MiB offset on top of a 2 MiB draw: not modelled (refused).
    #: False: a build without RANDOMIZE_BASE (the lab's own), whose stub never draws
    random_alloc: bool | None = True
    #: the Image's PE/COFF section table as EDK2 reads it (arch/arm64/kernel/efi-header.S): ``.text`` starts at
    #: ``pe_text`` (the headers' end) and ``.data`` at ``pe_data`` (``__initdata_begin - _text``) and runs to
    #: SizeOfImage. EDK2 protects the loaded image along these lines (:func:`image_protection_splits`).
    #: 0: not read (one 2 MiB block split, as on the calibration boots)
    pe_text: int = SZ_64K
    pe_data: int = 0


#: Each kernel's stub facts, a view of its profile (``KernelProfile.efi_stub``). Read in Debian's
#: linux-source-5.10 (5.10.223), -6.1 (6.1.192) and -6.12 (6.12.117) libstub; the DT sizes from the memblock dumps
#: of the calibration boots (0x255 bytes on 5.10 with their 105-character command line, 108 bytes with its NUL and
#: padding; artifacts.efi_stub_fdt builds the same tree byte for byte).
STUB_FACTS = ProfileTable(lambda p: (p.name, p.efi_stub) if p.efi_stub is not None else None)

MIN_KIMG_ALIGN = SZ_2M  # arch/arm64/include/asm/boot.h
EFI_ALLOC_ALIGN = SZ_64K  # arch/arm64/include/asm/efi.h
MAX_FDT_SIZE = SZ_2M  # libstub/efistub.h
#: MdeModulePkg/Core/Dxe/Mem/Pool.c POOL_HEAD: a pool block's data starts this far into it (a fresh pool page
#: serves its first block from the page's start)
POOL_HEAD = 0x18


@dataclass(frozen=True, slots=True)
class EfiMap:
    """What EDK2 and the stub leave behind: the memory map and where everything the kernel reserves is."""

    regions: tuple[EfiRegion, ...]
    kernel_text: int  # physical address of _text
    initrd: tuple[int, int] | None  # [start, end) of the initrd bytes
    fdt: tuple[int, int]  # the stub's DT, [start, start + its size)
    memreserve: tuple[int, int]  # the LINUX_EFI_MEMRESERVE table (16 bytes in the stub's pool page)
    memattr: tuple[int, int] | None  # EDK2's memory attributes table (efi_memattr_init reserves it)
    memmap: tuple[int, int] | None = None  # the page efi_init reserves for the map, when outside ACPI reclaim
    #: with an EFI RNG: the conventional memory the stub's random placement draws from, [start, end) each
    random_from: tuple[tuple[int, int], ...] = ()

    @property
    def nomap(self) -> tuple[tuple[int, int], ...]:
        """NOMAP memory, neighbours joined (as memblock merges them)."""
        out: list[tuple[int, int]] = []
        for r in sorted(self.regions, key=lambda r: r.start):
            if r.kind.nomap and r.kind is not Kind.MMIO:
                if out and out[-1][1] == r.start:
                    out[-1] = (out[-1][0], r.end)
                else:
                    out.append((r.start, r.end))
        return tuple(out)

    @property
    def acpi_reclaim(self) -> tuple[tuple[int, int], ...]:
        return tuple((r.start, r.end) for r in self.regions if r.kind is Kind.ACPI_RECLAIM)


class _Pages:
    """EDK2's free page list inside one node, handing out pages top down (MdeModulePkg/Core/Dxe/Mem/Page.c
    ``CoreFindFreePages``: the highest free range at or below the limit that holds the request)."""

    def __init__(self, start: int, end: int) -> None:
        self.free: list[tuple[int, int]] = [(start, end)]
        self.used: list[EfiRegion] = []

    def take(self, kind: Kind, start: int, end: int) -> None:
        out = []
        for lo, hi in self.free:
            if hi <= start or lo >= end:
                out.append((lo, hi))
                continue
            if lo < start:
                out.append((lo, start))
            if end < hi:
                out.append((end, hi))
        self.free = out
        self.used.append(EfiRegion(kind, start, end))

    def give_back(self, start: int, end: int) -> None:
        keep = []
        for r in self.used:
            if r.end <= start or r.start >= end:
                keep.append(r)
                continue
            if r.start < start:
                keep.append(EfiRegion(r.kind, r.start, start))
            if end < r.end:
                keep.append(EfiRegion(r.kind, end, r.end))
        self.used = keep
        self.free = _join(sorted(self.free + [(start, end)]))

    def top_down(self, kind: Kind, size: int, limit: int, align: int = SZ_4K, floor: int = 0) -> int | None:
        """Allocate ``size`` bytes as high as possible below ``limit`` (and at or above ``floor``)."""
        best = None
        for lo, hi in self.free:
            hi = min(hi, limit)
            base = align_down(hi - size, align)
            if base >= max(lo, floor) and (best is None or base > best):
                best = base
        if best is not None:
            self.take(kind, best, best + size)
        return best


def _join(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if out and out[-1][1] >= lo:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _pages(size: int) -> int:
    return align_up(size, SZ_4K)


def _stub_allocate(pages: _Pages, size: int, align: int, limit: int, kind: Kind,
                   between: Callable[[], object] | None = None) -> int:
    """libstub ``efi_allocate_pages_aligned``: ask for the size (64 KiB-rounded) plus align - 4 KiB of slack
    below ``limit``, keep the aligned part, give the slack on either side back (the head first).

    ``between`` runs after the head is given back: EDK2 grows its pool of memory-map descriptors by a
    boot-data page when a free splits a range and none is left (MdeModulePkg/Core/Dxe/Mem/Page.c
    ``AllocateMemoryMapEntry``), and that page is taken top down at that moment."""
    align = max(align, EFI_ALLOC_ALIGN)
    size = align_up(size, EFI_ALLOC_ALIGN)
    raw = pages.top_down(kind, size + align - SZ_4K, limit)
    if raw is None:
        raise KdumplabError("--firmware uefi", f"the EFI stub finds no {iec_hex(size)} for the kernel/initrd",
                            "give the machine more memory")
    base = align_up(raw, align)
    if base > raw:
        pages.give_back(raw, base)
    if between is not None:
        between()
    if base + size < raw + size + align - SZ_4K:
        pages.give_back(base + size, raw + size + align - SZ_4K)
    return base


def image_protection_splits(alloc: tuple[int, int], image: tuple[int, int], pe_text: int, pe_data: int) -> int:
    """How many 2 MiB blocks EDK2 splits when it protects a loaded PE image: level-3 tables, a boot-data page each.

    With ArmVirtPkg's ``PcdImageProtectionPolicy`` 0x3, CoreLoadImageCommon ends with ``ProtectUefiImage``
    (MdeModulePkg/Core/Dxe/Misc/MemoryProtection.c ``SetUefiImageProtectionAttributes``): the headers and the
    sections between code sections XP, each code section RO, the rest up to SizeOfImage XP. ArmPkg's ArmMmuLib
    (``UpdateRegionMappingRecursive``) changes a 2 MiB block a range covers whole in place, but one a range's
    edge falls inside must become a table of 4K entries, a page it allocates (boot-services data). The blocks
    holding an unaligned end of the image's allocation ``alloc`` were split already, when it was taken from
    free memory (``PcdDxeNxMemoryProtectionPolicy`` 0xC000000000007FD5: free memory XP, loader code not:
    ``ApplyMemoryProtectionPolicy``). So what is left is, in practice, the block holding ``.data``'s start,
    unless that start is 2 MiB aligned: then none (6.1's ``_text + 0x1740000`` on 0x1384c0000, 4 GiB).
    ``image`` is [base, base + SizeOfImage); ``pe_data`` 0: not read, one split (the calibration boots').
    """
    if not pe_data:
        return 1
    base, end = image
    done = {edge // SZ_2M for edge in alloc if edge % SZ_2M}
    edges = (base, base + pe_text, base + pe_data, end)
    return len({edge // SZ_2M for edge in edges if edge % SZ_2M} - done)


def stub_kernel_slots(regions: tuple[EfiRegion, ...], size: int, align: int) -> tuple[int, ...]:
    """Where the stub's randomized placement could put a kernel of ``size`` bytes (libstub/randomalloc.c
    ``efi_random_alloc``): every ``align``-aligned start inside one conventional region, lowest first.

    The seeded choice takes the slot the random number's share of this list names; without an RNG there is
    no choice (:func:`stub_nokaslr_choice`). Returned for a caller that draws.
    """
    out: list[int] = []
    for r in sorted(regions, key=lambda r: r.start):
        if r.kind is not Kind.CONVENTIONAL:
            continue
        first = align_up(r.start, align)
        last = align_down(r.end - size, align)
        out.extend(range(first, last + 1, align))
    return tuple(out)


def _stub_random_take(pages: _Pages, at: int, image_size: int) -> int:
    """The stub's random placement allocates the chosen slot by address (EFI_ALLOCATE_ADDRESS, LoaderCode, the
    kernel's footprint rounded up to 64 KiB); the PE image LoadImage made stays allocated beside it."""
    size = align_up(image_size, EFI_ALLOC_ALIGN)
    if at % EFI_ALLOC_ALIGN or not any(lo <= at and at + size <= hi for lo, hi in pages.free):
        raise KdumplabError("--kernel-at", f"{at:#x} is not a place the EFI stub can choose: it needs "
                            f"{iec_hex(size)} of conventional memory there, 64 KiB aligned",
                            "give the start of \"Kernel code\" in /proc/iomem of an --rng boot")
    pages.take(Kind.LOADER_CODE, at, at + size)
    return at


def stub_nokaslr_choice(loaded_text: int, align_after_rng: bool, nokaslr: bool) -> tuple[int, bool]:
    """The alignment the stub requires with no RNG, and whether the image as loaded already meets it.

    Returns (alignment, runs in place). A kernel loaded on such a boundary runs where it is; otherwise it is
    copied into a fresh top-down allocation of that alignment (libstub ``efi_allocate_pages_aligned``).
    """
    align = MIN_KIMG_ALIGN if (align_after_rng or nokaslr) else EFI_ALLOC_ALIGN
    return align, loaded_text % align == 0


def edk2_boot(build: Edk2Build, node0: tuple[int, int], other_nodes: tuple[tuple[int, int], ...],
              kernel_file_size: int, image_size: int, initrd_size: int, generation: str, cmdline: str,
              dtb_size: int = 0, rng: bool = False, kernel_at: int | None = None) -> EfiMap:
    """Replay EDK2's and the stub's allocations for one boot (see the module docstring, steps 1-5).

    ``node0`` is [start, end) of the first memory node, ``kernel_file_size`` the Image file's size,
    ``image_size`` the Image header's (the kernel's footprint, _end - _text), ``cmdline`` the command line
    the kernel gets (EDK2 appends `` initrd=initrd`` for QEMU's -initrd), ``dtb_size`` the size of the DT
    the firmware hands over (acpi=off; 0: the stub makes an empty one). ``rng``: the firmware offers
    EFI_RNG_PROTOCOL (QEMU's virtio-rng); the stub then draws the kernel's place from ``random_from`` unless
    the command line says nokaslr. ``kernel_at``: the place it drew (one of :func:`stub_kernel_slots` over
    ``random_from``); without it the map describes the no-RNG place (what ``nokaslr`` gives).
    """
    stub = STUB_FACTS.get(generation)
    if stub is None:
        raise KdumplabError("--kernel", f"no EFI stub facts for {generation!r}", ", ".join(STUB_FACTS))
    start, top = node0
    if top - start < build.default_top + 0x800_0000:
        raise KdumplabError("--mem", f"{iec_hex(top - start)} in the first node is too little for EDK2 here",
                            "give the first node at least 128 MiB more than the firmware's 60 MiB")
    pages = _Pages(start, top)
    pei_table, _ = pei_table_gibs(start, top)
    low = build.low
    if pei_table:  # PEI's allocations below its last region (the table comes first) sit one page lower
        low = low[:1] + tuple((k, lo - SZ_4K, hi - SZ_4K) for k, lo, hi in low[1:-1]) + (
            (low[-1][0], low[-1][1] - SZ_4K, low[-1][2]),)
    for kind, lo, hi in low:
        if start <= lo and hi <= top:
            pages.take(kind, lo, hi)
    spared = build.dxe_split_tables - dxe_table_pages(start, top, other_nodes) * SZ_4K
    for kind, below_start, below_end in build.top:
        if (kind, below_start) == (Kind.BOOT_DATA, build.bin[1]):  # DXE's own data, less the tables it spared
            below_start -= spared
        pages.take(kind, top - below_start, top - below_end)
    default = top - build.default_top
    bin_lo, bin_hi = top - build.bin[0], top - build.bin[1] + spared

    def boot_data(size: int) -> int:
        """A boot-services data pool: into the bin when it fits there, else the highest default memory."""
        size = _pages(size)
        got = pages.top_down(Kind.BOOT_DATA, size, bin_hi, floor=bin_lo)
        if got is None:
            got = pages.top_down(Kind.BOOT_DATA, size, default)
        if got is None:
            raise KdumplabError("--mem", "EDK2 finds no room for the kernel file", "give the machine more memory")
        return got

    blob = boot_data(kernel_file_size + build.pool_overhead)
    if initrd_size:
        boot_data(initrd_size + build.pool_overhead)
    acpi = pages.top_down(Kind.ACPI_RECLAIM, build.acpi_size, default, align=SZ_64K) if build.acpi_size else 0
    if build.dxe_after_files:
        boot_data(build.dxe_after_files)
    boot_data(build.late_data[0])
    # LoadImage: the file into a pool buffer, a page its small pools grow into, the PE image below the
    # buffer, a page after it, the buffer freed
    buf_size = _pages(kernel_file_size + build.pool_overhead)
    buf = pages.top_down(Kind.BOOT_DATA, buf_size, default)
    pool_page = boot_data(build.loadimage_pool) if build.loadimage_pool else None
    pe_size = _pages(image_size + build.section_align)
    pe = pages.top_down(Kind.LOADER_CODE, pe_size, buf if buf is not None else default)
    if buf is None or pe is None or acpi is None:
        raise KdumplabError("--mem", "EDK2 cannot load the kernel in this little memory", "give it more memory")
    loaded_text = align_up(pe, build.section_align)
    if build.loadimage_after:
        boot_data(build.loadimage_after)
    for _ in range(image_protection_splits((pe, pe + pe_size), (loaded_text, loaded_text + image_size),
                                           stub.pe_text, stub.pe_data)):
        boot_data(SZ_4K)
    boot_data(build.late_data[1])
    pages.give_back(buf, buf + buf_size)
    nokaslr = "nokaslr" in cmdline.split()
    align, in_place = stub_nokaslr_choice(loaded_text, stub.align_after_rng, nokaslr)
    random = rng and bool(stub.random_alloc) and not nokaslr
    if rng and stub.random_alloc is None and not nokaslr:
        raise KdumplabError("--rng", f"the {generation} EFI stub's random placement (a 2 MiB draw plus a random "
                            "offset) is not modelled", "use 6.1 or later, or add nokaslr")
    random_from = tuple(sorted(pages.free + list(other_nodes))) if random else ()
    if kernel_at is not None and not random:
        raise KdumplabError("--kernel-at", "the EFI stub places this kernel itself: it draws a place only with an "
                            "EFI RNG (--rng), on 6.1 and later, without nokaslr")
    if kernel_at is not None:
        text = _stub_random_take(pages, kernel_at, image_size)
    else:
        text = loaded_text if in_place else _stub_allocate(pages, image_size, align, default, Kind.LOADER_CODE)
    # the memory attributes table EDK2 installs while the stub runs (Edk2Build.memattr_quiet): in a free chunk
    # when the command line is short, else rebuilt into a fresh pool page at ReadyToBoot, which ArmVirtPkg's
    # TryRunningQemuKernel signals between LoadImage and StartImage, so before the stub's first pool
    # (Edk2Build.memattr_after): the copy of the memory map goes first (a page of its own, top down), the
    # table below it, the copy freed; the next page allocated of any type fills that hole
    quiet = build.memattr_quiet is not None and not rng and len(cmdline) < build.memattr_cmdline
    rebuilt = not quiet and not rng
    if rebuilt:
        copy = boot_data(SZ_4K)
        memattr = boot_data(SZ_4K) + POOL_HEAD
        pages.give_back(copy, copy + SZ_4K)
    pool = pages.top_down(Kind.LOADER_DATA, SZ_4K, default)
    memmap = pages.top_down(Kind.LOADER_DATA, stub.memmap_pages * SZ_4K, default) if stub.memmap_pages else None
    assert pool is not None
    if rebuilt:
        for _ in range(build.memattr_after):
            boot_data(SZ_4K)
    elif quiet:
        assert pool_page is not None, "memattr_quiet needs loadimage_pool"
        memattr = pool_page + build.memattr_quiet
    else:  # with virtio-rng the table gets a fresh pool on every boot (the RNG protocol's pool frees come
        # first: the MEMATTR= of all six --rng recordings that print it)
        boot_data(build.rng_data[0])
        memattr = boot_data(build.late_data[2]) + build.memattr_fresh
        boot_data(build.rng_data[1])
    initrd = None
    if initrd_size:
        at = _stub_allocate(pages, initrd_size, EFI_ALLOC_ALIGN, default, Kind.LOADER_DATA,
                            lambda: [boot_data(SZ_4K) for _ in range(stub.boot_data_pages)])
        initrd = (at, at + initrd_size)
    fdt_at = _stub_allocate(pages, MAX_FDT_SIZE, EFI_ALLOC_ALIGN, default, Kind.LOADER_DATA)
    fdt_size = (dtb_size + stub.fdt_dt_extra if dtb_size else stub.fdt_base) + align_up(len(cmdline) + 1, 4)
    if not build.acpi_size and not stub.memmap_pages:  # the map's ACPI reclaim pool has no tables to join
        memmap = pages.top_down(Kind.ACPI_RECLAIM, SZ_64K, default, align=SZ_64K)
    regions = [EfiRegion(Kind.CONVENTIONAL, lo, hi) for lo, hi in pages.free]
    regions += pages.used
    regions += [EfiRegion(Kind.CONVENTIONAL, lo, hi) for lo, hi in other_nodes]
    regions.append(EfiRegion(Kind.MMIO, *FLASH_RANGE))
    regions.append(EfiRegion(Kind.MMIO, *RTC_RANGE))
    del blob
    return EfiMap(tuple(sorted(regions, key=lambda r: r.start)), text, initrd, (fdt_at, fdt_at + fdt_size),
                  (pool + 0xF98, pool + 0xFA8), (memattr, memattr + 0x400),
                  None if memmap is None else (memmap, memmap + SZ_4K), random_from)
