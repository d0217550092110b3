"""The lab's own kernels (``kdumplab lab build``, issue 13): Debian's linux-source-5.10 5.10.223-1 with
kernel-patches/ and the small config kernel-patches/lab.config, cross-built with gcc 12.2.0-14.

``5.10-control`` is the base patch alone (the reservation back in arm64_memblock_init); the two 2019
proposals are the same source with the posted series on top. Each is a profile of its own (its boots name
it), following the policy of the same name.
"""

from __future__ import annotations

from dataclasses import replace

from kdumplab.efi import StubFacts
from kdumplab.machine import KernelBuild, KernelImage
from kdumplab.policy import EarlyProfile, LateProfile
from kdumplab.profiles import KernelProfile, debian_arm64

__all__ = ["PROFILES", "LAB_VIRT_DEVICES"]

#: What the lab config leaves out: no RTC, GPIO or PCI drivers (only the AMBA devices and the PL011 driver's
#: claim show in /proc/iomem) and rodata=full off (CONFIG_RODATA_FULL_DEFAULT_ENABLED=n); seen in every boot
#: of tests/data/boots/5.10-control-*.
LAB_BUILD = KernelBuild(rodata_full=False)
LAB_VIRT_DEVICES = (
    "09000000-09000fff : pl011@9000000",
    "  09000000-09000fff : 9000000.pl011 pl011@9000000",
    "09010000-09010fff : pl031@9010000",
    "09030000-09030fff : pl061@9030000",
)

CONTROL = KernelProfile(
    # 5.10.223 without RANDOMIZE_BASE: the stub skips the RNG and keeps 64 KiB alignment (never booted under EDK2)
    efi_stub=StubFacts(align_after_rng=False, fdt_base=0x255 - 108, memmap_pages=2, fdt_dt_extra=613,
                       random_alloc=False),
    image_file_size=3_409_928,
    name="5.10-control", arch="arm64", policy="5.10-control", release="5.10.223-1+5.10-control",
    package="linux-source-5.10 5.10.223-1 + base (lab build 96b73c5977e46def)", page_size=4096,
    # offsets from the build's System.map and Image header (lab/build.py image_facts; build keys in
    # tests/data/lab-builds.json)
    image=KernelImage(
        load_address=0x4020_0000, stext=0x800, init_begin=0x26_0000, sdata=0x2b_0000, end=0x39_0000,
        image_size=0x39_0000, init_pg_dir=0x37_e000, init_pg_end=0x38_1000),
    # The lab build's own early allocations (allnoconfig + lab.config, not Debian's config), read from its
    # memblock=debug boots (tests/data/memblock/{5.10-control,proposal-2019-*}-*.log.gz): the unflattened DT
    # 35516 bytes, node data 0x24c0, section roots 8 KiB, usemap 1152 bytes for 8 sections, no vmemmap
    # page-table pages logged; page tables as early.page_table_pages counts them with blocks, plus 5, traced in
    # Debian 5.10.223 arch/arm64/mm/mmu.c paging_init: map_mem's PUD table for the linear map, and map_kernel's
    # PUD and PMD tables for KIMAGE_VADDR and one PTE table per 2 MiB of the image (map_kernel_segment x5, 64 KiB
    # SEGMENT_ALIGN; _end is +0x390000: two). The per-extra-node DT size is Debian 5.10's (the two-node lab
    # boots are within the test's tolerance with it; lab calibrate reads the same 0x2d8 from a two-node boot).
    early=EarlyProfile(pt_extra_pages=5, dt_unflatten=0x8abc, dt_per_extra_node=0x2d8, numa_distance=True,
                       node_data=0x24c0, cpumask=0, cpumask_per_extra_node=0, section_bits=30,
                       section_roots=0x2000, usemap_per_section=144, vmemmap_pt_pages=0,
                       usemap_near_pgdat=False),  # memblock=debug: the usemap asked for with no goal window
    # tests/data/memblock/{5.10-control,proposal-2019-*}-*: "percpu: Embedded 19 pages/cpu s49056 r0 d28768
    # u77824" (no modules: no reserved chunk), a 128-byte chunk header, 256 bytes of slot lists
    late=LateProfile(49056, 0, 28768, 77824, percpu_chunk_struct=120, percpu_slot_lists=256,
                     swiotlb_meta="list+orig", bounce_when_low_only=False),
    # _text at 0xffff800010000000 in each System.map, as Debian's 5.10
    kexec=replace(debian_arm64.V5_10.kexec, generation="5.10-lab"),
    # As the crash kernel: 5.10's reading of its usable range; its MemTotal follows from this build's own image,
    # early and late facts (kdumplab.crashboot)
    crash=replace(debian_arm64.V5_10.crash, generation="5.10-lab"),
    build=LAB_BUILD,
    virt_devices=LAB_VIRT_DEVICES,
    measured="lab build, booted 26 times and 3 full cycles (tests/data/boots/5.10-control-d-*, designs-cycles): "
             "the model agrees on every field",
)

# The two proposals' builds (44532f78687017ef, 2c615082f25050d7) have exactly the control's layout: their
# patches move no section boundary (all three Images are 3,409,928 bytes).
# v5's [PATCH 3/4] reads two pairs of linux,usable-memory-range (with the quirk, crashview.CrashKernelFacts
# cap_quirk_2019_v5); v7's [PATCH v7 3/4] adds the low range.
V5 = replace(
    CONTROL, name="proposal-2019-v5", policy="proposal-2019-v5", release="5.10.223-1+proposal-2019-v5",
    kexec=replace(CONTROL.kexec, generation="proposal-2019-v5"),
    crash=replace(CONTROL.crash, generation="proposal-2019-v5", usable_pairs=2, cap_quirk_2019_v5=True),
    measured="built from the May 2019 posting and booted (26 boots, 8 cycles): two 'Crash kernel' entries; "
             "kexec-tools 2.0.20 loads into the low one and is refused; and the v5 crash kernel does not honour "
             "linux,usable-memory-range (one range: no cap at all; two: only the second, then it panics in "
             "vmcore_init, 3 of 3 runs)",
)
REVIEW = replace(
    CONTROL, name="proposal-2019-review", policy="proposal-2019-review", release="5.10.223-1+proposal-2019-review",
    kexec=replace(CONTROL.kexec, generation="proposal-2019-review"),
    crash=replace(CONTROL.crash, generation="proposal-2019-review", reads_low_memory_range=True),
    measured="built from v7 (Dec 2019) and booted (26 boots, 7 cycles): the low region is never mapped, shows "
             "as 'Crash kernel (low)' under its own 'reserved' entry, is ignored by 2.0.20-2.0.32 and passed as "
             "linux,low-memory-range by its patched kexec-tools",
)

# in the order the policy table has always listed them
PROFILES = (V5, REVIEW, CONTROL)
