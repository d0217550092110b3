"""arm64, Debian 5.10 (bullseye, read in 5.10.223): plain crashkernel= only, below the DMA limit.

``,high`` and ``,low`` are not read on arm64. The size is page-rounded. A fixed base is checked by hand with
three messages. With ZONE_DMA/DMA32 (Debian) the reservation is deferred to the end of bootmem_init, after
the memmap and CMA (Debian backported "arm64: mm: Move reserve_crashkernel() into mem_init()" and its
follow-ups into 5.10.24).
"""

from kdumplab.policy import EarlyStep, Feature, PolicyData

ROW = PolicyData(
    name="5.10",
    arch="arm64",
    grammar=("arm64", "5.10"),
    features=frozenset({
        Feature.PAGE_ROUND_SIZE,
        Feature.FIXED_BASE_CHECKS,
        Feature.CRASH_MEM_MAP,
        Feature.PROTECT_CRASHKRES,
        Feature.DEFER_ONLY_WITH_DMA_ZONES,
    }),
    crash_align=2 << 20,
    high_max=1 << 48,  # VA_BITS 48 -> PA_BITS 48 in Debian's 5.10 config
    default_low_size=None,
    cma_align=4 << 20,  # PAGE_SIZE << max(MAX_ORDER - 1, pageblock_order) in mm/cma.c
    early_steps=(EarlyStep.PAGE_TABLES, EarlyStep.SPARSE, EarlyStep.CMA,
                 EarlyStep.CRASHKERNEL),
    description="Debian 11 bullseye: crashkernel=X[@Y] below 4 GiB only",
    citations={
        "DEFER_ONLY_WITH_DMA_ZONES": "arm64: mm: Move reserve_crashkernel() into mem_init() (5.11; Debian 5.10.24)",
        "cma_align": "mm/cma.c cma_declare_contiguous_nid: MAX_ORDER-1 alignment (before 5.19)",
    },
)
