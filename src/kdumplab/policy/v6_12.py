"""arm64, Debian 6.12 (trixie, read in 6.12.107): the generic reservation with fallbacks and a default low.

Plain ``crashkernel=X`` that does not fit below the DMA limit retries above it and adds a 128 MiB low region;
``,high`` that finds no high memory retries low. No page rounding. Fixed-base failures read "memory is in
use". The crash resources enter /proc/iomem at early_initcall and only when start < end. No crash-specific
linear mapping and no protect/unprotect any more (removed in 6.4/6.5).
"""

from dataclasses import replace

from kdumplab.policy import Feature, v6_1

ROW = replace(
    v6_1.ROW,
    name="6.12",
    grammar=("arm64", "6.12"),
    features=frozenset({
        Feature.FIXED_BASE_IN_USE_MESSAGE,
        Feature.PLAIN_FALLS_BACK_HIGH,
        Feature.HIGH_FALLS_BACK_LOW,
        Feature.CRASH_SIZE_INCLUDES_LOW,
        Feature.IOMEM_ONLY_IF_NONEMPTY,
        Feature.DMA_LIMIT_AS_ADDRESS,
        Feature.CMA_BOTTOM_UP_ABOVE_4G,
    }),
    # PHYS_MASK_SHIFT is 48 even with Debian's VA_BITS 52 / PA_BITS 52 config: a real boot logs the high
    # window as max_addr=0x0001000000000000 (tests/data/memblock/6.12-8G-1Gh.log.gz)
    high_max=1 << 48,
    default_low_size=128 << 20,  # DEFAULT_CRASH_KERNEL_LOW_SIZE on arm64
    description="Debian 13 trixie: generic reservation, fallback high/low, default 128 MiB low",
    citations={
        "PLAIN_FALLS_BACK_HIGH": "arm64: kdump: simplify the reservation behaviour of crashkernel=,high (6.5)",
        "HIGH_FALLS_BACK_LOW": "arm64: kdump: simplify the reservation behaviour of crashkernel=,high (6.5)",
        "default_low_size": "arm64: kdump: simplify the reservation behaviour of crashkernel=,high (6.5)",
        "CRASH_MEM_MAP": "arm64: kdump: take off the protection on crashkernel memory region (6.4) removed it",
        "PROTECT_CRASHKRES": "arm64: kdump: take off the protection on crashkernel memory region (6.4) removed it",
        "IOMEM_ONLY_IF_NONEMPTY": "crash: use macro to add crashk_res into iomem early for specific arch (6.9)",
        "DMA_LIMIT_AS_ADDRESS": "arm64: mm: Fix zone_dma_limit calculation (Debian 6.12.5)",
        "FIXED_BASE_IN_USE_MESSAGE": "arm64: kdump: use generic interface to simplify crashkernel reservation (6.7)",
    },
)
