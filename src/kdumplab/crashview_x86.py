"""The x86_64 crash (kdump) kernel's view of memory, from what kexec handed it (``kexec_x86.X86KexecLoad``).

It knows RAM only from the e820 table in its boot_params: the first 640 KiB (kexec_load; the first MiB's RAM
with kexec_file_load), the low crash region, and the crash region less the backup and ELF-header segments.
/proc/iomem shows those entries as System RAM, with a setup_data block the kernel marks E820_TYPE_RESERVED_KERN
shown as a line of its own (5.10: the whole block; 6.1-6.12: an RNG seed's 16-byte header only, its length
being zeroed by parse_setup_data first; 7.x: no longer split). /proc/vmcore is one page of ELF header, the notes
(one page here) and every PT_LOAD of the elfcorehdr, page-rounded. MemTotal is what is left of the e820 RAM's
whole pages after the boot-time allocations, each a mechanism of its own (checked on 16 recorded cycles,
tests/data/cycles-x86, to within 12 KiB):

- 6.1+ reserve all of the first MiB (commit f1d4d47c5851, 5.13), so its RAM never counts;
- the kernel image less init (code + rwdata + rodata + bss of each generation's "Memory:" line);
- the memmap: 2 MiB of struct pages per present 128 MiB section (SPARSEMEM_VMEMMAP with 2 MiB pages);
- the dentry and inode hashes as alloc_large_system_hash sizes them (equal to the crash kernels' own "hash
  table entries" lines);
- swiotlb when it has RAM above 4 GiB (pci_swiotlb_detect): 64 MiB below 4 GiB and its slot array (5.10: an int
  and a phys_addr_t per 2 KiB slot, 384 KiB; 6.1+: a 24-byte struct io_tlb_slot each, 768 KiB);
- a fixed remainder per generation (page tables, percpu, early ACPI/e820 tables ...), the one fitted number:
  2271/4627/5353/5036 KiB, the same within 12 KiB on every recorded size from 256 MiB to 1.25 GiB.
- with its RAM on more than one NUMA node (it reads the SRAT): the hashes come from vmalloc (hashdist), not
  memblock, so they stay in MemTotal, and each further node costs its pg_data_t and a page (176 KiB: both
  recorded two-node cycles, 6.1 and 7.2, 2896 KiB above the one-node mechanism).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kdumplab.crashview import CrashView
from kdumplab.errors import KdumplabError
from kdumplab.kexec_x86 import E820_RAM, X86KernelFacts, X86KexecLoad
from kdumplab.profiles import ProfileTable
from kdumplab.ranges import SZ_1M, SZ_4G, align_down, align_up

__all__ = ["X86CrashKernelFacts", "X86_CRASH_KERNELS", "crash_view_x86", "crash_system_ram"]

PAGE = 0x1000
SECTION = 1 << 27  # SECTION_SIZE_BITS 27 on x86_64
SECTION_MEMMAP_KIB = (SECTION // PAGE) * 64 // 1024  # 2 MiB of struct page per section
SWIOTLB_KIB = 64 << 10
_HASHES = ((13, 8), (14, 8))  # dentry cache and inode cache: (scale, bytes per bucket), sized from free pages
NODE_DATA_KIB = 176  # a further NUMA node's pg_data_t (0x2b000-0x2b080, read in the x86 calibration boots) + a page


def _early_hashes_kib(pages: int) -> int:
    """alloc_large_system_hash for the boot-time VFS hashes: pages rounded up to 1 MiB, one bucket per
    2^scale bytes, rounded up to a power of two; memblock memory, so outside MemTotal."""
    pages = -(-pages // 256) * 256
    total = 0
    for scale, bucket in _HASHES:
        entries = max(pages >> (scale - 12), 1)
        total += (1 << (entries - 1).bit_length()) * bucket
    return total // 1024


@dataclass(frozen=True, slots=True)
class X86CrashKernelFacts:
    """One Debian amd64 generation booted as the kdump kernel (numbers from its recorded "Memory:" lines)."""

    generation: str
    static_kib: int  # kernel code + rwdata + rodata + bss
    swiotlb_slots_kib: int  # the slot array beside the 64 MiB buffer
    fixed_kib: int  # the rest, fitted (see the module docstring)


#: Every Debian amd64 kernel as the kdump kernel, by kernel name: a view of the x86_64 kernel profiles
#: (kdumplab.profiles.debian_x86).
X86_CRASH_KERNELS: Mapping[str, X86CrashKernelFacts] = ProfileTable(
    lambda p: (p.name, p.crash) if p.crash is not None else None, arch="x86_64")


def _merged_ram(load: X86KexecLoad) -> list[tuple[int, int]]:
    """The e820 RAM entries (start, last), sorted and joined where they touch (e820__update_table)."""
    out: list[tuple[int, int]] = []
    for s, e, t in sorted(load.e820):
        if t != E820_RAM:
            continue
        if out and out[-1][1] + 1 == s:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def crash_system_ram(kernel: X86KernelFacts, load: X86KexecLoad) -> tuple[tuple[int, int], ...]:
    """The crash kernel's top-level System RAM resources (start, last), split around setup_data blocks."""
    cuts: list[tuple[int, int]] = []
    for sd in load.setup_data:
        if kernel.setup_data_split == "none":
            continue
        size = 16 if kernel.setup_data_split == "rng-header" and sd.kind == "rng" else sd.size
        cuts.append((sd.start, sd.start + size - 1))
    out: list[tuple[int, int]] = []
    for s, e in _merged_ram(load):
        for cs, ce in sorted(cuts):
            if s <= cs and ce <= e:
                if s < cs:
                    out.append((s, cs - 1))
                out.append((cs, ce))
                s = ce + 1
        if s <= e:
            out.append((s, e))
    return tuple(out)


def crash_view_x86(facts: X86CrashKernelFacts, kernel: X86KernelFacts, load: X86KexecLoad,
                   notes_bytes: int = PAGE, nodes: tuple[tuple[int, int, int], ...] = ()) -> CrashView:
    """What the crash kernel has after ``load`` (see the module docstring); ``nodes``: the machine's NUMA
    memory as (start, end, nid), which the crash kernel learns from the SRAT."""
    if not load.loaded or load.elfcorehdr is None:
        raise KdumplabError("crash view", "no crash kernel was loaded", "check the kexec load first")
    ram = _merged_ram(load)
    usable = tuple(ram)
    lines = tuple(f"{s:08x}-{e:08x} : System RAM" for s, e in crash_system_ram(kernel, load))
    pages = sum(max(0, (e + 1) // PAGE - -(-s // PAGE)) for s, e in ram)
    total = pages * PAGE // 1024
    first = sum(max(0, min(e + 1, SZ_1M) // PAGE - -(-s // PAGE)) for s, e in ram if s < SZ_1M)
    first_kib = first * PAGE // 1024 if kernel.reserves_first_mib else 0
    sections = {n for s, e in ram for n in range(s // SECTION, e // SECTION + 1)}
    memmap = len(sections) * SECTION_MEMMAP_KIB
    seen = {nid for lo, hi, nid in nodes for s, e in ram if s < hi and lo <= e}
    extra_nodes = max(len(seen) - 1, 0)
    hashes = 0 if extra_nodes else _early_hashes_kib((total - memmap) // 4)  # hashdist: vmalloc'd
    high, low = any(e >= SZ_4G for _, e in ram), any(s < SZ_4G for s, _ in ram)
    swiotlb = SWIOTLB_KIB if high and low else 0
    estimate = (total - first_kib - facts.static_kib - memmap - hashes - swiotlb
                - (facts.swiotlb_slots_kib if swiotlb else 0) - facts.fixed_kib - extra_nodes * NODE_DATA_KIB)
    loads = [p for p in load.phdrs if p.type == "PT_LOAD"]
    body = sum(align_up(p.paddr + p.size, PAGE) - align_down(p.paddr, PAGE) for p in loads)
    vmcore = PAGE + align_up(notes_bytes, PAGE) + body
    log = f"Kernel command line: {load.cmdline}"
    max_kib = sum(e + 1 - s for s, e in ram) // 1024
    return CrashView(usable, lines, max_kib, max(estimate, 0), swiotlb, hashes, 0, vmcore, log, low)
