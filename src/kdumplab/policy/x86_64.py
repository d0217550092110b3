"""x86_64, for contrast and for mixed fleets (arch/x86/kernel/setup.c of each Debian release).

5.10 and 6.1 have x86's own ``reserve_crashkernel``: a plain size that is absent, malformed or zero falls
through to ``,high``; automatic placement tries [16 MiB, 4 GiB) then [16 MiB, 64 TiB) (``,high`` skips the
first), 16 MiB aligned, not page-rounded; a fixed base is 1 MiB aligned; a main region at or above 4 GiB
gets a low region sized by ``,low`` or by default max(swiotlb + 8 MiB, 256 MiB) = 256 MiB. From 6.7 x86
uses the generic reservation (as arm64 6.12) with x86's constants, and inserts the resources at once.

Before the reservation x86 allocates little (``EarlyStep.X86_SETUP``: two page-table pages at the top of RAM
and each node's pg_data_t at the top of the node, measured in the memblock=debug boots of
tests/data/x86-calibration); the kernel image, the initrd and the first MiB are the machine's reservations.
The sparse memmap comes after the reservation on x86 (paging_init), so it never moves the crash region.
"""

from dataclasses import replace

from kdumplab.policy import EarlyStep, Feature, PolicyData

_LEGACY = PolicyData(
    name="5.10",
    arch="x86_64",
    grammar=("x86_64", "5.10"),
    features=frozenset({Feature.X86_LEGACY, Feature.IOMEM_EARLY, Feature.FIXED_BASE_IN_USE_MESSAGE,
                        Feature.X86_RESERVE_LOW_1M}),
    crash_align=16 << 20,
    high_max=64 << 40,  # CRASH_ADDR_HIGH_MAX = SZ_64T
    default_low_size=256 << 20,  # max(64 MiB swiotlb + 8 MiB, 256 MiB)
    fixed_low_max=1 << 32,
    early_steps=(EarlyStep.X86_SETUP, EarlyStep.CRASHKERNEL),
    description="x86_64 Debian 11: low first then high, 16 MiB aligned, 256 MiB default low",
)

ROWS = (
    _LEGACY,
    replace(_LEGACY, name="6.1", grammar=("x86_64", "6.1"),
            features=frozenset({Feature.X86_LEGACY, Feature.IOMEM_EARLY, Feature.FIXED_BASE_IN_USE_MESSAGE}),
            citations={"X86_RESERVE_LOW_1M": "x86/setup: Always reserve the first 1M of RAM (5.13)"},
            description="x86_64 Debian 12: as 5.10"),
    replace(_LEGACY, name="6.12", grammar=("x86_64", "6.12"),
            features=frozenset({Feature.IOMEM_EARLY, Feature.FIXED_BASE_IN_USE_MESSAGE, Feature.PLAIN_FALLS_BACK_HIGH,
                                Feature.HIGH_FALLS_BACK_LOW, Feature.CRASH_SIZE_INCLUDES_LOW}),
            description="x86_64 Debian 13: generic reservation, 16 MiB aligned, 256 MiB default low",
            citations={"PLAIN_FALLS_BACK_HIGH": "x86: kdump: use generic interface to simplify crashkernel "
                                                "reservation code (6.7)"}),
    replace(_LEGACY, name="7.2", grammar=("x86_64", "7.2"),
            features=frozenset({Feature.IOMEM_EARLY, Feature.FIXED_BASE_IN_USE_MESSAGE, Feature.PLAIN_FALLS_BACK_HIGH,
                                Feature.HIGH_FALLS_BACK_LOW, Feature.CRASH_SIZE_INCLUDES_LOW}),
            description="x86_64 Debian sid: as 6.12 (crashkernel=,cma understood on x86)"),
)
