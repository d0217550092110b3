"""Debian's arm64 kernels the lab boots: bullseye 5.10, bookworm 6.1, trixie 6.12 (4K and its 16K flavour), sid 7.2.

Each profile holds what was read from that package: the Image as QEMU -M virt loads it (the header's
image_size, section offsets from ``_text`` as /proc/iomem's "Kernel code" / "Kernel data" and the memblock
dump show them, tests/data/memblock), the early allocations of its ``memblock=debug`` boots, and what it
does on both sides of ``kexec -p`` (tests/data/cycles). QEMU loads the Image at RAM base + 2 MiB.
"""

from __future__ import annotations

from dataclasses import replace

from kdumplab.crashview import CrashKernelFacts
from kdumplab.efi import StubFacts
from kdumplab.kexec import KernelKexecFacts
from kdumplab.machine import KernelImage
from kdumplab.policy import EarlyProfile, LateProfile
from kdumplab.profiles import KernelProfile

__all__ = ["PROFILES", "CRASH_OLD_LOG", "CRASH_NEW_LOG"]

CRASH_OLD_LOG = "Reserving {kib}KB of memory at {addr:#x} for elfcorehdr"
CRASH_NEW_LOG = "OF: fdt: Reserving {kib} KiB of memory at {addr:#x} for elfcorehdr"

# The crash kernel (crashview.CrashKernelFacts): which usable ranges it reads and how it words its elfcorehdr
# line. Its MemTotal, swiotlb, CMA and hashes need no numbers of their own: kdumplab.crashboot boots the same
# profile (image, early and late facts) on the memory kexec-tools gives it (tests/test_crashboot.py).
# The running kernel (kexec.KernelKexecFacts): see that class for where each field was read.

V5_10 = KernelProfile(
    efi_stub=StubFacts(align_after_rng=False, fdt_base=0x255 - 108, memmap_pages=2, fdt_dt_extra=613,
                       random_alloc=None, pe_data=0x132_0000),
    image_file_size=27_468_288, virtio_pci_builtin=False,
    name="5.10", arch="arm64", policy="5.10", release="5.10.223-1", suite="bullseye",
    apt_package=r"^linux-image-5\.10\.0-\d+-{deb}(-unsigned)?$",
    package="linux-image-5.10.0-32-arm64-unsigned 5.10.223-1", page_size=4096,
    image=KernelImage(
        load_address=0x4020_0000, stext=0x10000, init_begin=0x128_0000, sdata=0x17d_0000, end=0x1ad_0000,
        image_size=0x1ad_0000, init_pg_dir=0x1ac_8000, init_pg_end=0x1ac_d000),
    early=EarlyProfile(pt_extra_pages=-2, dt_unflatten=0x8b14, dt_per_extra_node=0x2d8, numa_distance=True,
                       node_data=0x2500, cpumask=0, cpumask_per_extra_node=0, section_bits=30,
                       section_roots=0x4000, usemap_per_section=336, vmemmap_pt_pages=2, dt_per_property=88,
                       # _etext: "11712K kernel code" (_etext - _stext) and /proc/kallsyms; __inittext_end: the
                       # Image's .altinstructions table ends at 0x131e44c (after _einittext 0x12eb32c in
                       # /proc/kallsyms), rounded up to SEGMENT_ALIGN (64 KiB) as vmlinux.lds.S does
                       kernel_segments=(0, 0xb8_0000, 0x128_0000, 0x132_0000, 0x17d_0000, 0x1ad_0000)),
    # tests/data/memblock/5.10-*: "percpu: Embedded 33 pages/cpu s95576 r8192 d31400 u135168", a 144-byte
    # chunk header (136 + the populated bitmap) and 544 bytes of slot lists
    late=LateProfile(95576, 8192, 31400, 135168, percpu_chunk_struct=136, percpu_slot_lists=544,
                     swiotlb_meta="list+orig", bounce_when_low_only=False),
    kexec=KernelKexecFacts("5.10", False, 48, 0xFFFF800010000000, False, efi_stub_initrd_in_dt=True,
                           efi_stub_fdt_last_comp=2, vmcoreinfo_note=2920),
    crash=CrashKernelFacts("5.10", 1, CRASH_OLD_LOG),
)

V6_1 = KernelProfile(
    efi_stub=StubFacts(align_after_rng=False, fdt_base=0x209 - 108, pe_data=0x174_0000),
    image_file_size=32_954_880, virtio_pci_builtin=False,
    name="6.1", arch="arm64", policy="6.1", release="6.1.176-1", suite="bookworm",
    apt_package=r"^linux-image-6\.1\.0-\d+-{deb}-unsigned$",
    package="linux-image-6.1.0-56-arm64-unsigned 6.1.192-2", page_size=4096,
    image=KernelImage(
        load_address=0x4020_0000, stext=0x10000, init_begin=0x166_0000, sdata=0x1cb_0000, end=0x201_0000,
        image_size=0x201_0000, init_pg_dir=0x200_b000, init_pg_end=0x201_0000),
    early=EarlyProfile(pt_extra_pages=2, dt_unflatten=0x9c7c, dt_per_extra_node=0x330, numa_distance=True,
                       node_data=0x2c80, cpumask=0, cpumask_per_extra_node=0, section_bits=27,
                       section_roots=0x20000, usemap_per_section=56, vmemmap_pt_pages=2, dt_per_property=96,
                       # text from _stext (map_kernel, 6.1); _etext: "13248K kernel code" and /proc/kallsyms;
                       # __inittext_end: .altinstructions ends at 0x173214f (_einittext 0x16d5f98), rounded up
                       # to 64 KiB (6.1.192-3's Image; the same sections as the profile's Kernel code/data)
                       kernel_segments=(0x1_0000, 0xd0_0000, 0x166_0000, 0x174_0000, 0x1cb_0000, 0x201_0000)),
    # tests/data/memblock/6.1-*: "percpu: Embedded 31 pages/cpu s87272 r8192 d31512 u126976", 288 bytes of slot
    # lists; swiotlb_init_remap's slot and area arrays
    late=LateProfile(87272, 8192, 31512, 126976, percpu_chunk_struct=136, percpu_slot_lists=288,
                     swiotlb_meta="slots+areas", swiotlb_halves=True, bounce_when_low_only=False),
    kexec=KernelKexecFacts("6.1", False, 48, 0xFFFF800008000000, False, vmcoreinfo_note=3504),
    crash=CrashKernelFacts("6.1", 2, CRASH_NEW_LOG),
)

V6_12 = KernelProfile(
    efi_stub=StubFacts(align_after_rng=True, fdt_base=0x209 - 108, boot_data_pages=1, pe_data=0x1e2_0000),
    image_file_size=37_730_816, virtio_pci_builtin=True,
    name="6.12", arch="arm64", policy="6.12", release="6.12.107-1", suite="trixie",
    apt_package=r"^linux-image-6\.12\.\d+\+deb13-{deb}-unsigned$",
    package="linux-image-6.12.117+deb13-arm64-unsigned 6.12.117-1", page_size=4096,
    image=KernelImage(
        load_address=0x4020_0000, stext=0x10000, init_begin=0x1d3_0000, sdata=0x204_0000, end=0x250_0000,
        image_size=0x250_0000),
    early=EarlyProfile(pt_extra_pages=-13, dt_unflatten=0xa524, dt_per_extra_node=0x360, numa_distance=False,
                       node_data=0x3740, cpumask=0x40, cpumask_per_extra_node=0x40, section_bits=27,
                       section_roots=0x20000, usemap_per_section=56, vmemmap_pt_pages=2, dt_per_property=104),
    # tests/data/memblock/6.12-*: "percpu: Embedded 34 pages/cpu s101528 r8192 d29544 u139264", a 200-byte chunk
    # header; the kmalloc bounce buffer with low memory only (6.5+); hashes sized by calc_nr_kernel_pages
    late=LateProfile(101528, 8192, 29544, 139264, percpu_chunk_struct=192, percpu_slot_lists=304,
                     swiotlb_meta="slots+areas", swiotlb_halves=True, bounce_when_low_only=True,
                     kernel_pages_from_free=True),
    kexec=KernelKexecFacts("6.12", False, 52, 0xFFFF800080000000, True, vmcoreinfo_note=3444),
    crash=CrashKernelFacts("6.12", 2, CRASH_NEW_LOG),
)

V7_2 = KernelProfile(
    # fdt_dt_extra as 6.12's 537: the stub's tree of a one-node acpi=off boot is 0x1fe2 bytes from QEMU's 7553
    # and a 70-character command line (memblock=debug, tests/data/boots-uefi/7.2-u-dbg-dma1G-4G-512M); the
    # two-node calibration boot's is 104 bytes more (0x20f3 from 7686 bytes), which is not understood
    efi_stub=StubFacts(align_after_rng=True, fdt_base=0x209 - 108, boot_data_pages=2, pe_data=0x262_0000),
    image_file_size=48_271_296, virtio_pci_builtin=True,
    name="7.2", arch="arm64", policy="7.2", release="7.2.8-1", suite="sid",
    apt_package=r"^(linux-binary-7\.2\.\d+\+deb14-{deb}|linux-image-7\.2\.\d+\+deb14-{deb}(-unsigned)?)$",
    package="linux-binary-7.2.13+deb14-arm64 7.2.13-1", page_size=4096,
    image=KernelImage(
        load_address=0x4020_0000, stext=0x10000, init_begin=0x251_0000, sdata=0x28e_0000, end=0x2f0_0000,
        image_size=0x2f0_0000),
    early=EarlyProfile(pt_extra_pages=1, dt_unflatten=0xadcc, dt_per_extra_node=0x390, numa_distance=False,
                       node_data=0x3800, cpumask=0x40, cpumask_per_extra_node=0x40, section_bits=27,
                       section_roots=0x20000, usemap_per_section=88, vmemmap_pt_pages=2, dt_per_property=112,
                       usemap_near_pgdat=False),
    # tests/data/memblock/7.2-*: "percpu: Embedded 36 pages/cpu s109144 r8192 d30120 u147456", a 136-byte chunk
    # header. The usemap (memblock=debug: 5632 bytes on 8 GiB): NR_PAGEBLOCK_BITS rounded up to 8 bits per
    # pageblock (64 bytes per section) + 24 bytes of mem_section_usage, from sparse_usage_init without a goal.
    # printk_info: 7.2 prints "printk: log buffer data + meta data: 131072 + 557056" on every boot, 136 bytes of
    # descriptor and info per 32 bytes of text where 6.x has 24 + 88; which of the two grew is not read (only
    # their sum moves a line: they are allocated one after the other)
    late=LateProfile(109144, 8192, 30120, 147456, percpu_chunk_struct=128, percpu_slot_lists=304,
                     swiotlb_meta="slots+areas", swiotlb_halves=True, bounce_when_low_only=True,
                     kernel_pages_from_free=True, printk_info=112),
    kexec=KernelKexecFacts("7.x", False, 52, 0xFFFF800080000000, True, vmcoreinfo_note=3396),
    crash=CrashKernelFacts("7.x", 2, CRASH_NEW_LOG),
)

# Debian's linux-image-6.12.N+deb13-arm64-16k (read in 6.12.117): 6.12's reservation code; what moves the
# result is the page size. With 16K pages a page-table page holds 2048 entries, so PMD_SIZE is 32 MiB: the
# linear map needs one PTE page per 32 MiB and one PMD page per 64 GiB, the pageblock is 32 MiB
# (pageblock_order = min(PMD order 11, MAX_PAGE_ORDER 11)) and so is CMA's alignment
# (CMA_MIN_ALIGNMENT_BYTES), and sparse_init's memmap buffer reserves 32 MiB per 128 MiB section before
# freeing all but 512 KiB of each (kdumplab.early._sparse). The section stays 128 MiB
# (arch/arm64/include/asm/sparsemem.h: SECTION_SIZE_BITS 27 for 4K and 16K pages). Sizes of the small early
# allocations read from memblock=debug boots on -cpu neoverse-n1 (tests/data/memblock/6.12-16k-*.log.gz).
# Image: header flags page size 16K, image_size 0x25b0000; /proc/iomem Kernel code 40200000-41f6ffff,
# Kernel data 422c0000-427affff (tests/data/boots/6.12-16k-*).
# As the crash kernel: /proc/vmcore's ELF header and notes are rounded to 16K (recorded: 24 KiB more than with 4K
# rounding); its MemTotal follows from the 16K boot model (kdumplab.crashboot). The running kernel: the same
# layout as 6.12
# (recorded 6.12-16k cycles: va_bits 52, page_offset 0xfff0000000000000).
V6_12_16K = replace(
    V6_12,
    name="6.12-16k", release="6.12.117-1", page_size=16 << 10,
    image_file_size=38_277_632, efi_stub=replace(V6_12.efi_stub, pe_data=0x1e6_0000),
    apt_package=r"^linux-image-6\.12\.\d+\+deb13-{deb}-16k-unsigned$",
    package="linux-image-6.12.117+deb13-arm64-16k-unsigned 6.12.117-1",
    image=KernelImage(
        load_address=0x4020_0000, stext=0x10000, init_begin=0x1d7_0000, sdata=0x20c_0000, end=0x25b_0000,
        image_size=0x25b_0000),
    # node_data: the 16K build's pg_data_t is 0x3880 bytes ("NODE_DATA(0) allocated [mem 0x23fbee240-0x23fbf1abf]"
    # in every tests/data/memblock/6.12-16k-* boot), not the 4K build's 0x3740 this row first borrowed; found by
    # lab calibrate reading those boots
    early=EarlyProfile(pt_extra_pages=0, dt_unflatten=0xa524, dt_per_extra_node=0x360, numa_distance=False,
                       node_data=0x3880, cpumask=0x40, cpumask_per_extra_node=0x40, section_bits=27,
                       section_roots=0x8000, usemap_per_section=32, vmemmap_pt_pages=2, dt_per_property=104),
    # tests/data/memblock/6.12-16k-*: "percpu: Embedded 15 pages/cpu s200024 r8192 d37544 u245760"
    late=LateProfile(200024, 8192, 37544, 245760, percpu_chunk_struct=192, percpu_slot_lists=304,
                     swiotlb_meta="slots+areas", swiotlb_halves=True, bounce_when_low_only=True,
                     kernel_pages_from_free=True),
    kexec=replace(V6_12.kexec, generation="6.12-16k", vmcoreinfo_note=3448),
    crash=replace(V6_12.crash, generation="6.12-16k", page_size=16 << 10),
    cma_align=32 << 20,  # PAGE_SIZE << pageblock_order (mm/cma.c CMA_MIN_ALIGNMENT_BYTES)
    description="Debian 13 trixie, 16K pages: as 6.12; 32 MiB pageblocks, CMA alignment and memmap buffer",
    citations={"cma_align": "mm/cma.c: CMA_MIN_ALIGNMENT_BYTES = PAGE_SIZE * pageblock_nr_pages (32 MiB with 16K)",
               "page_size": "Debian config arm64-16k: CONFIG_ARM64_16K_PAGES"},
)

PROFILES = (V5_10, V6_1, V6_12, V7_2, V6_12_16K)
