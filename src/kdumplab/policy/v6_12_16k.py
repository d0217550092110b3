"""arm64, Debian 6.12 with 16K pages (trixie's ``linux-image-6.12.N+deb13-arm64-16k``, read in 6.12.117).

The same reservation code as 6.12; what moves the result is the page size. With 16K pages a page-table
page holds 2048 entries, so PMD_SIZE is 32 MiB: the linear map needs one PTE page per 32 MiB and one PMD
page per 64 GiB, the pageblock is 32 MiB (pageblock_order = min(PMD order 11, MAX_PAGE_ORDER 11)) and so is
CMA's alignment (CMA_MIN_ALIGNMENT_BYTES), and sparse_init's memmap buffer reserves 32 MiB per 128 MiB
section before freeing all but 512 KiB of each (kdumplab.early._sparse). The section stays 128 MiB
(arch/arm64/include/asm/sparsemem.h: SECTION_SIZE_BITS 27 for 4K and 16K pages).

Sizes of the small early allocations read from memblock=debug boots on -cpu neoverse-n1
(tests/data/memblock/6.12-16k-*.log.gz).
"""

from dataclasses import replace

from kdumplab.policy import EarlyProfile, v6_12

ROW = replace(
    v6_12.ROW,
    name="6.12-16k",
    page_size=16 << 10,
    cma_align=32 << 20,  # PAGE_SIZE << pageblock_order (mm/cma.c CMA_MIN_ALIGNMENT_BYTES)
    early=EarlyProfile(pt_extra_pages=0, dt_unflatten=0xa524, dt_per_extra_node=0x360, numa_distance=False,
                       node_data=0x3740, cpumask=0x40, cpumask_per_extra_node=0x40, section_bits=27,
                       section_roots=0x8000, usemap_per_section=32, vmemmap_pt_pages=2),
    kernel_release="6.12.117-1",
    kexec_generation="6.12-16k",
    description="Debian 13 trixie, 16K pages: as 6.12; 32 MiB pageblocks, CMA alignment and memmap buffer",
    citations={**v6_12.ROW.citations,
               "cma_align": "mm/cma.c: CMA_MIN_ALIGNMENT_BYTES = PAGE_SIZE * pageblock_nr_pages (32 MiB with 16K)",
               "page_size": "Debian config arm64-16k: CONFIG_ARM64_16K_PAGES"},
)
