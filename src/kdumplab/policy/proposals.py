"""The two designs argued in the 2019 review of "arm64: kdump: support reserving crashkernel above 4G".

Neither shipped. Both are written over the 5.10 row (the arm64 code they patched reserved the crash kernel
in arm64_memblock_init, before the linear map, CMA and the memmap were allocated: we keep that timing, since
deferring it came only in 5.11).

``proposal-2019-v5`` (the series as posted): crashkernel=X tries low memory first and falls back high;
``,high`` goes high directly; a high main region gets a low region too (``,low`` or a default, the x86 helper's
max(swiotlb + 8 MiB, 256 MiB) = 256 MiB with the 64 MiB swiotlb); both regions are named "Crash kernel".

``proposal-2019-review`` (what the reviewer asked for): no ``,high``; crashkernel=X only below the low limit,
failing if it does not fit; ``crashkernel=Y,low`` reserves Y low first and then X may go anywhere; the low
region is NOMAP, never mapped, and named "Crash kernel (low)" so that exact-match readers ignore it.
"""

from dataclasses import replace

from kdumplab.policy import EarlyStep, Feature, v5_10

_EARLY = (EarlyStep.CRASHKERNEL, EarlyStep.PAGE_TABLES, EarlyStep.SPARSE, EarlyStep.CMA)

V5 = replace(
    v5_10.ROW,
    name="proposal-2019-v5",
    grammar=("arm64", "proposal-2019-v5"),
    features=(v5_10.ROW.features - {Feature.FIXED_BASE_CHECKS, Feature.DEFER_ONLY_WITH_DMA_ZONES})
    | {Feature.PLAIN_FALLS_BACK_HIGH, Feature.HIGH_SEARCH_FROM_ZERO, Feature.RESERVE_EARLY},
    default_low_size=256 << 20,
    early_steps=_EARLY,
    kernel_release="",
    description="2019 v5 series: low first, fall back high, default low, both named 'Crash kernel'",
    citations={"default_low_size": "x86 reserve_crashkernel_low default of the time [treated as a parameter]"},
)

REVIEW = replace(
    v5_10.ROW,
    name="proposal-2019-review",
    grammar=("arm64", "proposal-2019-review"),
    features=(v5_10.ROW.features - {Feature.FIXED_BASE_CHECKS, Feature.DEFER_ONLY_WITH_DMA_ZONES})
    | {Feature.LOW_FIRST, Feature.LOW_REGION_NOMAP, Feature.RESERVE_EARLY},
    default_low_size=None,
    low_name="Crash kernel (low)",
    early_steps=_EARLY,
    kernel_release="",
    description="2019 review: X only low; Y,low first (nomap, 'Crash kernel (low)'), then X anywhere",
)
