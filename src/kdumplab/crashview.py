"""The crash (kdump) kernel's view of memory after a kexec-tools load (kernel-spec.md E, vectors E1-E3).

Checked against every recorded full cycle (tests/data/cycles*, designs-cycles: Debian's and the lab's kernels
booted by real kexec-tools): its System RAM is exactly the ranges of ``linux,usable-memory-range`` it reads
(one pair on 5.10, two from 6.1), /proc/vmcore's size follows from the elfcorehdr's PT_LOADs, and its
elfcorehdr line is worded per generation. Its MemTotal, swiotlb, CMA and boot-time hashes come from running
its own boot through the first kernel's memblock model (``kdumplab.crashboot``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kdumplab import crashboot
from kdumplab.errors import KdumplabError
from kdumplab.kexec import CRASH_APPEND, KexecLoad, parse_iomem_lines
from kdumplab.profiles import ProfileTable
from kdumplab.ranges import SZ_4G, align_down, align_up

if TYPE_CHECKING:
    from kdumplab.machine import Machine
    from kdumplab.policy import PolicyData

__all__ = ["CRASH_KERNELS", "CrashKernelFacts", "CrashView", "crash_view", "crash_notes_bytes", "efi_nomap_ranges",
           "numa_nodes_seen", "PRSTATUS_NOTE", "PRSTATUS_NOTE_X86_64"]

PAGE = 0x1000


@dataclass(frozen=True, slots=True)
class CrashKernelFacts:
    """How one kernel generation (Debian's arm64 build) behaves when it boots as the kdump kernel, beyond what
    its boot model (``kdumplab.crashboot``: the profile's image, early and late facts) already says."""

    generation: str
    usable_pairs: int  # 5.10: arm64 code reads the first pair; 6.1+: common FDT code reads up to two
    elfcorehdr_log: str  # printf-style, arguments (KiB, address)
    #: [PATCH v7 3/4] of the 2019 series: /chosen/linux,low-memory-range is memblock_add()ed after the cap
    reads_low_memory_range: bool = False
    #: [PATCH 3/4] of v5 fills a memblock_type whose count starts at 0 (not the empty-array convention of 1):
    #: memblock_add_range writes regions[0] and leaves the count at 0 (WARN at memblock_add_range), so with
    #: ONE usable range nothing is capped (the crash kernel keeps all RAM), and with two the second
    #: overwrites the first and is the only one kept. Seen in every v5 cycle (tests/data/designs-cycles).
    cap_quirk_2019_v5: bool = False
    page_size: int = PAGE  # /proc/vmcore's header and notes are page-rounded


#: Every kernel's facts as the crash kernel, by generation key (policy ``kexec_generation``): a view of the
#: kernel profiles (kdumplab.profiles), where each kernel's numbers and their sources are written.
CRASH_KERNELS: Mapping[str, CrashKernelFacts] = ProfileTable(lambda p: None if p.crash is None else
                                                             (p.crash.generation, p.crash))

#: One CPU's crash note on arm64 (kernel/crash_core.c crash_save_cpu: NT_PRSTATUS): a 12-byte note header,
#: "CORE\0" padded to 8 and struct elf_prstatus (392: 112 bytes of common fields, 34 registers of 8 bytes,
#: pr_fpvalid and padding). Every CPU online at the panic saves one (the crashing one in
#: machine_crash_shutdown, the others as crash_smp_send_stop stops them); empty notes of CPUs that never ran
#: count 0 (fs/proc/vmcore.c update_note_header_size_elf64 walks each PT_NOTE to its real size).
PRSTATUS_NOTE = 12 + 8 + 392


#: x86_64's (the same note; its struct elf_prstatus holds 27 registers: 336 bytes)
PRSTATUS_NOTE_X86_64 = 12 + 8 + 336


def crash_notes_bytes(vmcoreinfo_note: int, cpus: int, prstatus_note: int = PRSTATUS_NOTE) -> int:
    """The crash notes /proc/vmcore merges into its one note segment (merge_note_headers_elf64, 5.10-7.x):
    the VMCOREINFO note plus one NT_PRSTATUS note per CPU; the segment is that rounded up to a page, so a
    6.12 machine with 2 to 11 CPUs has an 8 KiB segment, not 4 KiB (recorded -smp 2 and 8 cycles: /proc/vmcore
    4,096 bytes longer than with -smp 1; 5.10 with -smp 2 still fits one page, with -smp 3 not)."""
    return vmcoreinfo_note + prstatus_note * cpus


@dataclass(frozen=True, slots=True)
class CrashView:
    usable: tuple[tuple[int, int], ...]  # (start, last) ascending
    iomem_lines: tuple[str, ...]  # top-level System RAM lines
    memtotal_kb_max: int  # upper bound: every usable byte
    memtotal_kb: int  # what its boot leaves to the page allocator (kdumplab.crashboot)
    swiotlb_kib: int  # the bounce buffer it allocates (0: none, e.g. no memory below the DMA limit)
    hashes_kib: int  # the dentry and inode cache hashes it allocates from memblock at boot
    cma_kib: int  # counted in MemTotal, but only movable (user) allocations may use it
    vmcore_size: int
    elfcorehdr_log: str
    swiotlb_low_mem: bool  # it has usable memory below 4 GiB (ZONE_DMA32)
    #: its boot as kdumplab.crashboot modelled it (memblock at memblock_free_all, its allocations, MemTotal's parts)
    boot: crashboot.CrashBoot | None = field(default=None, compare=False, repr=False)


def numa_nodes_seen(nodes: tuple[tuple[int, int, int], ...],
                    nomap: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int, int], ...]:
    """The nodes a kernel keeps after numa_init: the firmware's nodes (SRAT under ACPI) must cover all of
    memblock's memory but less than 1 MiB, or NUMA is turned off and one node is faked ("NUMA: no nodes
    coverage for 64MB of 8256MB RAM", "NUMA: Faking a node at ..."). QEMU's SRAT names only its RAM, while
    EDK2's memory map also holds 64 MiB of memory at 0x04000000 (no-map, kept by both kernels), so under UEFI
    every NUMA shape of this lab runs with one node (recorded 7.2-kt2.0.25-uefi-numa-512M: one crash-kernel
    CMA area, where the DT boot has one per node)."""
    uncovered = sum(max(0, e + 1 - s - sum(max(0, min(e + 1, hi) - max(s, lo)) for lo, hi, _ in nodes))
                    for s, e in nomap)
    if uncovered >= 1 << 20 and len({nid for _, _, nid in nodes}) > 1:
        return tuple((lo, hi, 0) for lo, hi, _ in nodes)
    return nodes


def crash_view(kernel: CrashKernelFacts, load: KexecLoad, policy: PolicyData, machine: Machine,
               notes_bytes: int = 0x1000, nodes: tuple[tuple[int, int, int], ...] = (),
               nomap: tuple[tuple[int, int], ...] = (), cmdline: str = CRASH_APPEND) -> CrashView:
    """First pair caps memblock, second (6.1+) is added; vmcore = page-rounded header + notes + PT_LOADs;
    MemTotal, swiotlb, CMA and hashes from the crash kernel's own boot (``crashboot``) of the same kernel
    (``policy``) on the first ``machine``'s board with ``cmdline`` (kexec-tools ``--append``).

    ``nodes``: the machine's memory as (start, end, nid), as the crash kernel keeps them (``numa_nodes_seen``).
    ``nomap``: (start, last) memory the crash kernel keeps besides its usable ranges: under UEFI the EFI
    memory map's no-map regions (``efi_nomap_ranges``). They are not System RAM and not in MemTotal, but their
    sections get a memmap and they count for the swiotlb decision and (up to 6.8) the hashes.
    """
    if not load.loaded or load.elfcorehdr is None:
        raise KdumplabError("crash view", "no crash kernel was loaded", "check the kexec load first")
    pairs = load.usable_memory_ranges[: kernel.usable_pairs]
    if kernel.cap_quirk_2019_v5:
        # one pair: no cap at all (all of the machine's RAM, as the DT's memory nodes give it); two: the last
        pairs = pairs[1:] if len(pairs) > 1 else tuple((lo, hi - 1) for lo, hi, _ in nodes)
    if kernel.reads_low_memory_range and load.low_memory_range is not None:
        pairs = (*pairs, load.low_memory_range)
    usable = tuple(sorted(pairs))
    lines = tuple(f"{s:08x}-{e:08x} : System RAM" for s, e in usable)
    total = sum(e + 1 - s for s, e in usable) // 1024
    loads = [p for p in load.phdrs if p.type == "PT_LOAD"]
    page = kernel.page_size
    header = align_up(64 + 56 * (1 + len(loads)), page)
    body = sum(align_up(p.paddr + p.size, page) - align_down(p.paddr, page) for p in loads)
    addr, size = load.elfcorehdr
    log = kernel.elfcorehdr_log.format(kib=size // 1024, addr=addr)
    low = any(s < SZ_4G for s, _ in usable)
    on_board = crashboot.crash_machine(machine, load, usable, nomap, nodes)
    memoryless = tuple(sorted({nid for _, _, nid in nodes} - {b.node for b in on_board.banks}))
    boot = crashboot.crash_boot(policy, on_board, cmdline, memoryless)
    return CrashView(usable, lines, total, boot.memtotal_kb, boot.swiotlb_bytes // 1024, boot.hashes_bytes // 1024,
                     boot.cma_bytes // 1024, header + align_up(notes_bytes, page) + body, log, low, boot)


def efi_nomap_ranges(first_iomem: str) -> tuple[tuple[int, int], ...]:
    """The memory a crash kernel started from an EFI-booted first kernel keeps outside its usable ranges, as
    (start, last), read from the first kernel's /proc/iomem.

    The first kernel's device tree (the EFI stub's) carries linux,uefi-system-table and linux,uefi-mmap-*,
    and kexec-tools copies them into the crash kernel's tree, so the crash kernel reads the same EFI memory
    map: efi_init -> reserve_regions adds every memory descriptor to memblock and marks the ones that are not
    usable RAM (runtime services code/data, reserved, MMIO with memory attributes) no-map; only then does
    early_init_dt_check_for_usable_mem_range cap memory to linux,usable-memory-range, and
    memblock_cap_memory_range removes only regions without the no-map flag (drivers/firmware/efi/efi-init.c,
    mm/memblock.c, Debian 6.12.117; on 5.10 arm64's own fdt_enforce_memory_region caps after efi_init, the
    same). The first kernel printed exactly those regions as top-level "reserved" lines (arm64
    request_standard_resources names a no-map memblock region "reserved", rounded out to pages), and the
    crash kernel prints them again (recorded: tests/data/cycles-uefi)."""
    return tuple((x.start, x.last) for x in parse_iomem_lines(first_iomem) if x.depth == 0 and x.name == "reserved")
