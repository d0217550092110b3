"""The crash (kdump) kernel's own boot, run through the same early and late memblock model as the first kernel.

The crash kernel is an ordinary arm64 boot of the same Image on a smaller machine: the memory it is told about,
the places kexec-tools put its pieces, and its own command line. So its MemTotal is not estimated; it is what
its memblock leaves to the buddy allocator, plus what the kernel frees back later:

- **its memory**: the ``linux,usable-memory-range`` pairs the generation reads cap memblock.memory (5.10
  arm64 ``fdt_enforce_memory_region``, 6.1+ ``early_init_dt_check_for_usable_mem_range``); under UEFI the EFI
  memory map's no-map regions stay beside them (``crashview.efi_nomap_ranges``). Each range keeps the NUMA
  node of the first machine's bank it lies in (``of_numa_init`` reads the same memory nodes);
- **its reservations** (``arm64_memblock_init``/``setup_arch``): the Image where kexec-tools loaded it
  (``_text`` or ``_stext`` .. ``_end``), the initrd page-rounded (``reserve_initrd_mem``), the DTB kexec-tools
  wrote (``setup_machine_fdt``: fdt_totalsize), and the elfcorehdr (``reserve_elfcorehdr`` on 5.10,
  ``elfcorehdr_reserve`` via ``early_init_dt_check_for_elfcorehdr`` on 6.1+);
- **its early and late allocations**: exactly the first kernel's (``kdumplab.early``, ``kdumplab.late``:
  page tables, DT, node data, memmap, CMA, percpu, hashes, swiotlb) on this memblock, with no crashkernel=,
  with its own command line's ``cma=`` and ``nr_cpus=`` (:func:`possible_cpus`);
- **MemTotal** (``totalram_pages``): ``memblock_free_all`` hands the buddy allocator every whole free page of
  non-no-map memory (``__free_memory_core``: PFN_UP(start) .. PFN_DOWN(end)); the CMA area joins it when
  ``cma_init_reserved_areas`` activates it (``init_cma_reserved_pageblock`` -> ``adjust_managed_page_count``);
  ``free_initmem`` gives back ``__init_begin`` .. ``__init_end``; ``free_initrd_mem`` the initrd's whole pages
  (``free_reserved_area`` rounds its start up and its end down).

Every recorded arm64 crash kernel obeys MemTotal = physpages - reserved + init + initrd exactly, with the
numbers of its own ``Memory: ...K/...K available (... init, ... reserved, ...)`` and ``Freeing`` lines
(tests/test_crashboot.py reads them from each recording).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from kdumplab import early, late
from kdumplab.machine import Bank, Machine, Reservation
from kdumplab.memblock import Memblock
from kdumplab.outcome import EarlyAlloc
from kdumplab.policy import EarlyStep, PolicyData
from kdumplab.ranges import PhysRange, align_down, align_up, joined

__all__ = ["CrashBoot", "crash_machine", "crash_boot", "possible_cpus"]


@dataclass(frozen=True, slots=True)
class CrashBoot:
    """The crash kernel's memblock when ``memblock_free_all`` runs, and what reaches MemTotal."""

    machine: Machine
    memblock: Memblock
    allocs: tuple[EarlyAlloc, ...]
    low_max: int  # its own arm64_dma_phys_limit
    freed_pages: int  # memblock_free_all: whole free pages of mapped memory, CMA not counted
    cma_bytes: int  # activated later and counted in MemTotal
    init_bytes: int  # free_initmem
    initrd_bytes: int  # free_initrd_mem
    swiotlb_bytes: int
    hashes_bytes: int

    @property
    def memtotal_kb(self) -> int:
        page = self.machine.page_size
        return (self.freed_pages * page + self.cma_bytes + self.init_bytes + self.initrd_bytes) // 1024


def _split_by_node(nodes: tuple[tuple[int, int, int], ...], lo: int, hi: int, nomap: bool) -> list[Bank]:
    """[lo, hi) as banks, cut where the nodes ((start, end, nid), end exclusive) change; node 0 outside them."""
    cuts = sorted({lo, hi, *(x for a, b, _ in nodes for x in (a, b) if lo < x < hi)})
    out = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        nid = next((n for s, e, n in nodes if s <= a < e), 0)
        out.append(Bank(a, b - a, nid, nomap=nomap))
    return out


def _without(lo: int, hi: int, cut: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """[lo, hi) less the (start, last) ranges ``cut`` (a usable range that also names no-map memory wins)."""
    out = [(lo, hi)]
    for s, e in cut:
        out = [p for a, b in out for p in ((a, min(b, s)), (max(a, e + 1), b)) if p[1] > p[0]]
    return out


def crash_machine(first: Machine, load, usable: tuple[tuple[int, int], ...],  # noqa: ANN001 - kexec.KexecLoad
                  nomap: tuple[tuple[int, int], ...] = (),
                  nodes: tuple[tuple[int, int, int], ...] = ()) -> Machine:
    """The machine the crash kernel boots on: ``usable`` and ``nomap`` as (start, last), each piece in the NUMA
    node ``nodes`` ((start, end, nid) as the kernel keeps them, ``crashview.numa_nodes_seen``) gives it; the
    Image, initrd and DTB where kexec-tools' segments put them; the elfcorehdr reserved (its DT size)."""
    banks: list[Bank] = []
    for s, e in usable:
        banks += _split_by_node(nodes, s, e + 1, False)
    for s, end in joined((s, e + 1) for s, e in nomap):  # memblock_add of the same range twice is one region
        for lo, hi in _without(s, end - 1, usable):
            banks += _split_by_node(nodes, lo, hi, True)
    seg = {s.what: s for s in load.segments}
    kernel = first.kernel
    if kernel is not None and "kernel" in seg:
        kernel = replace(kernel, load_address=seg["kernel"].start)
    initrd = PhysRange(seg["initrd"].start, seg["initrd"].start + seg["initrd"].bufsz) if "initrd" in seg else None
    dtb = PhysRange(seg["dtb"].start, seg["dtb"].start + seg["dtb"].bufsz) if "dtb" in seg else None
    reserved = ()
    if load.elfcorehdr is not None:
        reserved = (Reservation("elfcorehdr", load.elfcorehdr[0], load.elfcorehdr[1]),)
    return replace(first, name=f"{first.name} (crash kernel)", banks=tuple(sorted(banks, key=lambda b: b.start)),
                   reserved=reserved, kernel=kernel, initrd=initrd, dtb=dtb)


_NR_CPUS = re.compile(r"(?:^|\s)nr_cpus=(\d+)(?=\s|$)")


def possible_cpus(cpus: int, cmdline: str) -> int:
    """The CPUs a kernel sets possible: every CPU its firmware names, capped by ``nr_cpus=`` (kernel/smp.c
    nr_cpu_setup -> set_nr_cpu_ids; arm64 smp_init_cpus marks only ids below nr_cpu_ids possible; the last one
    given wins, 0 is ignored). ``maxcpus=`` (the lab's crash command line) caps only the CPUs brought up, so the
    per-CPU areas still cover all of them (recorded -smp cycles, tests/data/cycles/*-smp*)."""
    given = [int(n) for n in _NR_CPUS.findall(cmdline) if int(n) > 0]
    return min(cpus, given[-1]) if given else cpus


def crash_boot(policy: PolicyData, machine: Machine, cmdline: str, memoryless_nodes: tuple[int, ...] = ()
               ) -> CrashBoot:
    """Boot ``machine`` (from :func:`crash_machine`) with ``cmdline`` up to memblock_free_all and count MemTotal;
    ``memoryless_nodes``: the nodes its firmware names that kept no memory (``early.BootFacts``)."""
    from kdumplab.model import boot_facts  # noqa: PLC0415 - model imports this module's users lazily

    facts = replace(boot_facts(policy, machine, cmdline), memoryless_nodes=memoryless_nodes)
    mb = early.boot_memblock(policy, machine)
    low_max = early.low_limit(policy, mb, machine)
    steps = [step for step in policy.early_steps if step is not EarlyStep.CRASHKERNEL]
    mb, allocs, free_after_sparse = early.run_steps(steps, policy, mb, machine, facts, low_max)
    before = mb
    if policy.late is not None:  # percpu units and swiotlb areas count the possible CPUs, which nr_cpus= caps
        mb = late.late_allocations(policy.late, mb, replace(machine, cpus=possible_cpus(machine.cpus, cmdline)),
                                   low_max, cmdline,
                                   resources_done=EarlyStep.RESOURCES in policy.early_steps,
                                   free_after_sparse=free_after_sparse)
    page = machine.page_size
    cma = sum(a.size for a in allocs if a.what.startswith("CMA"))
    k = machine.kernel
    init = 0 if k is None else k.sdata - k.init_begin
    initrd = 0
    if machine.initrd is not None:
        initrd = max(align_down(machine.initrd.end, page) - align_up(machine.initrd.start, page), 0)
    swiotlb = sum(size for what, _, size in mb.log[len(before.log):] if what == "swiotlb")
    hashes = sum(size for what, _, size in mb.log[len(before.log):] if what.endswith(" hash"))
    return CrashBoot(machine, mb, tuple(allocs), low_max, early.free_pages(mb, page), cma, init, initrd,
                     swiotlb, hashes)
