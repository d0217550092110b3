"""arm64, Debian 6.1 (bookworm, read in 6.1.176): ``,high`` exists but has no default low and no fallback.

``crashkernel=X,high`` searches the whole address space from 0, top-down; a low region is made only from an
explicit ``crashkernel=Y,low`` and only if the main region ended above the DMA limit. Fixed-base failures all
read "cannot allocate crashkernel". Size still page-rounded; kexec_crash_size counts the main region only.
"""

from dataclasses import replace

from kdumplab.policy import Feature, v5_10

ROW = replace(
    v5_10.ROW,
    name="6.1",
    grammar=("arm64", "6.1"),
    features=(v5_10.ROW.features - {Feature.FIXED_BASE_CHECKS})
    | {Feature.HIGH_SEARCH_FROM_ZERO, Feature.CMA_BOTTOM_UP_ABOVE_4G, Feature.KERNEL_FROM_STEXT},
    cma_align=2 << 20,  # one pageblock: CMA_MIN_ALIGNMENT_BYTES (5.19)
    description="Debian 12 bookworm: crashkernel=X,high (no default low), ,low only when given",
    citations={
        "HIGH_SEARCH_FROM_ZERO": "arm64: kdump: Reimplement crashkernel=X (5.19)",
        "CMA_BOTTOM_UP_ABOVE_4G": "mm/cma: use bottom-up allocation above 4 GiB first (5.10 stable? present in 6.1)",
        "cma_align": "mm: cma: allow alignment of pageblock_order (5.19)",
    },
)
