"""The 2019 series "arm64: kdump: support reserving crashkernel above 4G" (Chen Zhou), as it was posted.

Neither version shipped. Both were read in the posted patches (kernel-patches/README.md gives the
Message-IDs), built as real kernels over Debian's 5.10 with the early reservation restored
(kernel-patches/base) and judged by the boots in tests/data/boots/*proposal-2019-*. Both are written over
the lab's control kernel (``5.10-control``: 5.10 reserving in arm64_memblock_init, before the linear map,
CMA and the memmap, as 5.2-5.5 did).

``proposal-2019-v5`` ([PATCH 2/4], 7 May 2019, the posting James Morse reviewed on 5 June 2019):
crashkernel=X tries below the DMA limit, then [0, end of DRAM) top-down; ``,high`` goes to the second window
directly; a main region at or above 4 GiB (a fixed base too) gets a low region from reserve_crashkernel_low()
(``,low`` or max(swiotlb + 8 MiB, 256 MiB) = 256 MiB, ``,low=0`` none); if the low region does not fit the
main one is freed. Both regions are named "Crash kernel". The fixed-base checks of 5.2 are unchanged.

``proposal-2019-review`` (v7, [PATCH v7 2/4], 23 Dec 2019; v6 differs only by build fixes): ``,high`` is
gone; reserve_crashkernel_low() runs first and only for an explicit ``crashkernel=Y,low``; when it succeeds
the low region is marked NOMAP, renamed "Crash kernel (low)" and X may go anywhere (top-down over all
memory). When it fails, X is still tried below the DMA limit; when X then fails, the low region stays.
"""

from dataclasses import replace

from kdumplab.policy import EarlyStep, Feature, v5_10

_EARLY = (EarlyStep.CRASHKERNEL, EarlyStep.PAGE_TABLES, EarlyStep.SPARSE, EarlyStep.CMA)

#: the lab's control kernel: Debian 5.10.223 + kernel-patches/base (reservation in arm64_memblock_init);
#: its build facts (image, early allocations, crash side) are the profile of the same name (profiles.lab_built)
CONTROL = replace(
    v5_10.ROW,
    name="5.10-control",
    features=(v5_10.ROW.features - {Feature.DEFER_ONLY_WITH_DMA_ZONES}) | {Feature.RESERVE_EARLY},
    early_steps=_EARLY,
    description="lab build: 5.10.223 reserving early (before the linear map), as 5.2-5.5 did",
    citations={"RESERVE_EARLY": "kernel-patches/base/0001 (restores the 5.5 order on 5.10)"},
)

V5 = replace(
    CONTROL,
    name="proposal-2019-v5",
    grammar=("arm64", "proposal-2019-v5"),
    features=CONTROL.features | {Feature.PLAIN_FALLS_BACK_HIGH, Feature.HIGH_SEARCH_FROM_ZERO,
                                 Feature.LOW_HELPER_2019},
    default_low_size=256 << 20,
    low_log_prefix="kexec_core: ",
    description="2019 v5 series: low first, fall back high, default low, both named 'Crash kernel'",
    citations={
        "PLAIN_FALLS_BACK_HIGH": "[PATCH 2/4] arm64: kdump: support reserving crashkernel above 4G (2019-05-07)",
        "default_low_size": "[PATCH 1/4] reserve_crashkernel_low: max(swiotlb_size_or_default() + 8M, 256M)",
        "LOW_HELPER_2019": "[PATCH 2/4]: if (crash_base >= SZ_4G && reserve_crashkernel_low()) free and return",
        "low_log_prefix": "kernel/kexec_core.c pr_fmt (KBUILD_MODNAME): real v5 boots print 'kexec_core: Reserving'",
    },
)

REVIEW = replace(
    CONTROL,
    name="proposal-2019-review",
    grammar=("arm64", "proposal-2019-review"),
    features=CONTROL.features | {Feature.LOW_FIRST, Feature.LOW_REGION_NOMAP, Feature.LOW_HELPER_2019},
    default_low_size=None,
    low_name="Crash kernel (low)",
    description="2019 review (v7): X only low; Y,low first (nomap, 'Crash kernel (low)'), then X anywhere",
    citations={
        "LOW_FIRST": "[PATCH v7 2/4] arm64: kdump: reserve crashkenel above 4G for crash dump kernel (2019-12-23)",
        "LOW_REGION_NOMAP": "[PATCH v7 2/4]: memblock_mark_nomap(crashk_low_res...)",
    },
)
