"""arm64, Debian 7.2 (sid, read in 7.2.8): as 6.12, but sparse_init runs after the crash reservation.

``dma_limits_init`` and CMA come before ``arch_reserve_crashkernel`` in bootmem_init; the memmap is allocated
later by the generic mm init, so it is not yet at the top of RAM when the crash region is placed.
``crashkernel=X,cma`` is parsed as its own class but arm64 asks for no CMA part (7.2.8).
"""

from dataclasses import replace

from kdumplab.policy import EarlyStep, Feature, v6_12

ROW = replace(
    v6_12.ROW,
    name="7.2",
    grammar=("arm64", "7.2"),
    early_steps=(EarlyStep.PAGE_TABLES, EarlyStep.CMA, EarlyStep.CRASHKERNEL, EarlyStep.RESOURCES,
                 EarlyStep.SPARSE),
    features=v6_12.ROW.features | {Feature.PERNODE_CMA, Feature.MEMMAP_PER_SECTION, Feature.MEMBLOCK_RSRV_KERN,
                                   Feature.KERNEL_ALIAS_WITH_RAM},
    description="Debian sid: as 6.12; memmap allocated after the crash region",
    citations={**v6_12.ROW.citations,
               "MEMBLOCK_RSRV_KERN": "memblock: MEMBLOCK_RSRV_KERN on allocations (KHO series, 6.17/6.18; "
                                     "debugfs memblock/reserved shows RSV_KERN on every allocation, NONE on the "
                                     "kernel, initrd and DTB in tests/data/boots/7.2-*)",
               "KERNEL_ALIAS_WITH_RAM": "arm64: mm: Don't abuse memblock NOMAP to check for overlaps (Ard "
                                        "Biesheuvel, linux-arm-kernel, 2026: map_mem maps the kernel's linear alias "
                                        "first with the loop's flags); the RNG boot boots-uefi/7.2-rng-4G-512M (_text "
                                        "0xc3ed0000, 0xd0000 into its 2 MiB block) has the page tables of an aligned "
                                        "kernel",
               "early_steps": "arm64 bootmem_init no longer calls sparse_init (7.x); setup_arch calls "
                              "request_standard_resources before it (memblock=debug: 64 bytes, then the "
                              "section roots)"},
)
