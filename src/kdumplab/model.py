"""The whole chain for one scenario: command line -> memblock -> reservation -> iomem, linear map, kexec.

``run(Scenario) -> Result`` is pure: the scenario holds every input (machine, command line, kernel
generation, optionally a kexec-tools version), and each stage is a function of the one before.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from typing import Any, Final

from kdumplab import cmdline as cmdline_mod
from kdumplab import early, iomem_build, iomem_x86, kexec, late
from kdumplab.early import BootFacts
from kdumplab.errors import KdumplabError
from kdumplab.frozen import maker
from kdumplab.iomem import Resource
from kdumplab.linearmap import LinearMap, linear_map
from kdumplab.machine import Machine
from kdumplab.memblock import Memblock
from kdumplab.memparse import memparse
from kdumplab.outcome import BootOutcome, CrashRegion, EarlyAlloc, Role, Verdict
from kdumplab.policy import EarlyStep, Feature, PolicyData, for_kernel
from kdumplab.ranges import SZ_4G, PhysRange
from kdumplab.reserve import Placement, reserve_crashkernel

__all__ = ["Scenario", "Result", "run", "outcome", "boot_facts", "crash_side"]


@dataclass(frozen=True, slots=True)
class Scenario:
    """Every input of one prediction."""

    machine: Machine
    cmdline: str
    kernel: str = "6.1"
    kexec_tools: str | None = None
    crash_initrd_size: int | None = None  # ``kexec -p --initrd`` (a kdump initramfs); None: the machine's own
    #: the crash kernel's command line (``kexec -p --append``); None: the lab's, ``kexec.CRASH_APPEND``. arm64: its
    #: cma= and rodata= move its boot (kdumplab.crashboot), its length the DTB segment
    crash_cmdline: str | None = None
    #: arm64 KASLR's page-table pages beyond the unrandomised layout, (vmemmap, kernel map): a boot's random
    #: seed decides them (early.BootFacts.kaslr_tables); they move only /proc/iomem's late reserved lines
    kaslr_tables: tuple[int, int] = (0, 0)


@dataclass(frozen=True, slots=True)
class Result:
    scenario: Scenario
    policy: PolicyData
    outcome: BootOutcome
    memblock: Memblock  # right after the crash reservation
    final_memblock: Memblock  # when /proc/iomem's reserved children are made (arch_initcall)
    iomem: tuple[Resource, ...]
    kexec_crash_size: int
    deferred: bool
    kexec: Any = None
    #: when the early steps are done (what memblock=debug's dump at the end of bootmem_init shows); the same
    #: as ``memblock`` where the reservation is the last step, later where it comes first (the lab kernels)
    early_memblock: Memblock | None = None
    # Made on first use (a sweep reads none of them): each is a function of the fields above, so they take
    # no part in ``==``; tests/test_model_reuse.py compares them explicitly.
    _iomem_text: str | None = field(default=None, compare=False, repr=False)
    _crash_view: Any = field(default=..., compare=False, repr=False)
    _linear_map: LinearMap | None = field(default=None, compare=False, repr=False)
    #: what the linear map needs besides the fields above: (rodata_full or debug_pagealloc, crashkernel= given as
    #: an early_param), both read from the scenario's command line
    _linear_map_facts: tuple[bool, bool] = field(default=(False, False), compare=False, repr=False)

    @property
    def linear_map(self) -> LinearMap:
        """How the running kernel maps RAM (``kdumplab.linearmap``); made on first use."""
        if self._linear_map is None:
            machine = self.scenario.machine
            firmware_nomap = tuple(r.range for r in machine.reserved if r.nomap) + tuple(
                bank.range for bank in machine.banks if bank.nomap)
            pages_everywhere, early_param = self._linear_map_facts
            object.__setattr__(self, "_linear_map", linear_map(self.policy, self.outcome, firmware_nomap,
                                                               pages_everywhere, False, early_param, self.deferred))
        return self._linear_map  # type: ignore[return-value]

    @property
    def iomem_text(self) -> str:
        """/proc/iomem as the kernel prints it (rendered from ``iomem`` on first use)."""
        if self._iomem_text is None:
            from kdumplab.iomem import render  # noqa: PLC0415

            object.__setattr__(self, "_iomem_text", render(self.iomem))
        return self._iomem_text  # type: ignore[return-value]

    @property
    def crash_view(self) -> Any:
        """What the crash kernel sees after a successful load (None without one); made on first use."""
        if self._crash_view is ...:
            view = _CRASH_VIEW_BY_ARCH.get(self.scenario.machine.arch) or functools.partial(
                _crash_view, cmdline=self.scenario.crash_cmdline or "")
            object.__setattr__(self, "_crash_view", view(self.policy, self.kexec, self.scenario.machine))
        return self._crash_view


def _native_result(scenario: Scenario, policy: PolicyData, outcome: BootOutcome, memblock: Memblock,
                   final_memblock: Memblock, iomem: tuple[Resource, ...], kexec_crash_size: int, deferred: bool,
                   _crash_view: Any, kexec: Any = None, early_memblock: Memblock | None = None,
                   _iomem_text: str | None = None, _linear_map: LinearMap | None = None,
                   _linear_map_facts: tuple[bool, bool] = (False, False)) -> Result:
    """``Result(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = Result.__new__(Result)
    o.scenario = scenario  # type: ignore[misc]
    o.policy = policy  # type: ignore[misc]
    o.outcome = outcome  # type: ignore[misc]
    o.memblock = memblock  # type: ignore[misc]
    o.final_memblock = final_memblock  # type: ignore[misc]
    o.iomem = iomem  # type: ignore[misc]
    o.kexec_crash_size = kexec_crash_size  # type: ignore[misc]
    o.deferred = deferred  # type: ignore[misc]
    o._crash_view = _crash_view  # type: ignore[misc]
    o.kexec = kexec  # type: ignore[misc]
    o.early_memblock = early_memblock  # type: ignore[misc]
    o._iomem_text = _iomem_text  # type: ignore[misc]
    o._linear_map = _linear_map  # type: ignore[misc]
    o._linear_map_facts = _linear_map_facts  # type: ignore[misc]
    return o


#: ``Result(...)`` by keyword, with Result's defaults but for ``_crash_view``, always given (``...``: not made yet;
#: mypyc cannot write that default into the compiled function's signature) (kdumplab.frozen; Result checks nothing)
_make_result: Final = maker(Result, ("scenario", "policy", "outcome", "memblock", "final_memblock", "iomem",
                                     "kexec_crash_size", "deferred", "_crash_view", "kexec", "early_memblock",
                                     "_iomem_text", "_linear_map", "_linear_map_facts"), _native_result)


_CMA = re.compile(r"(?:^|\s)cma=(\S+)")
_RODATA = re.compile(r"(?:^|\s)rodata=(\S+)")


def boot_facts(policy: PolicyData, machine: Machine, cmdline: str) -> BootFacts:
    """Command-line parameters, other than crashkernel=, that move the early allocations."""
    return _boot_facts(policy.grammar, machine.build.rodata_full, cmdline)


def _boot_facts(grammar: tuple[str, str], rodata_full: bool, cmdline: str) -> BootFacts:
    cma = None
    flavour = cmdline_mod.GRAMMARS[grammar].memparse
    for m in _CMA.finditer(cmdline):  # the last cma= wins (early_param handlers overwrite)
        cma = memparse(m.group(1), flavour)[0]  # kernel/dma/contiguous.c early_cma: memparse of the size
    for m in _RODATA.finditer(cmdline):
        rodata_full = m.group(1) == "full"
    debug_pagealloc = bool(re.search(r"(?:^|\s)debug_pagealloc=(on|1)(?:\s|$)", cmdline))
    return BootFacts(cma_bytes=cma, pages_everywhere=rodata_full or debug_pagealloc)


def _deferred(policy: PolicyData, machine: Machine) -> bool:
    """Is the reservation made after the linear map, memmap and CMA (bootmem_init), or before them?"""
    if policy.has(Feature.RESERVE_EARLY):
        return False
    if policy.has(Feature.DEFER_ONLY_WITH_DMA_ZONES):
        return machine.build.zone_dma or machine.build.zone_dma32
    return True


def _late_allocations(policy: PolicyData, mb: Memblock, machine: Machine, low_max: int, cmdline: str,
                      free_after_sparse: int | None) -> Memblock:
    """What memblock still hands out after the reservation, up to the point /proc/iomem is built
    (``kdumplab.late``; x86 builds /proc/iomem from e820 and needs none of it)."""
    if policy.late is None:
        return mb
    return late.late_allocations(policy.late, mb, machine, low_max, cmdline,
                                 resources_done=EarlyStep.RESOURCES in policy.early_steps,
                                 free_after_sparse=free_after_sparse)


@dataclass(frozen=True, slots=True)
class _EarlyState:
    """memblock just before the crash reservation, and what was allocated on the way there."""

    memblock: Memblock
    low_max: int
    allocs: tuple[EarlyAlloc, ...]
    rest: tuple[EarlyStep, ...]  # the steps still to run, the crash reservation first
    #: memblock's free pages right after sparse_init (None: it has not run yet), what 6.12+'s
    #: calc_nr_kernel_pages counts in free_area_init (kdumplab.late sizes the boot-time hashes by it)
    free_after_sparse: int | None = None


def _native_early_state(memblock: Memblock, low_max: int, allocs: tuple[EarlyAlloc, ...], rest: tuple[EarlyStep, ...],
                        free_after_sparse: int | None = None) -> _EarlyState:
    """``_EarlyState(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = _EarlyState.__new__(_EarlyState)
    o.memblock = memblock  # type: ignore[misc]
    o.low_max = low_max  # type: ignore[misc]
    o.allocs = allocs  # type: ignore[misc]
    o.rest = rest  # type: ignore[misc]
    o.free_after_sparse = free_after_sparse  # type: ignore[misc]
    return o


#: ``_EarlyState(...)`` (kdumplab.frozen)
_make_early_state: Final = maker(_EarlyState, tuple(f.name for f in dataclasses.fields(_EarlyState)),
                                 _native_early_state)


def _early_state(policy: PolicyData, machine: Machine, facts: BootFacts, deferred: bool) -> _EarlyState:
    """Everything before the crash reservation. It depends on the machine, the policy and the few command-line
    facts in ``facts``, never on crashkernel=, so a sweep of command lines or a second call reuses it."""
    draft = early.boot_draft(policy, machine)
    steps = list(policy.early_steps)
    if not deferred and EarlyStep.CRASHKERNEL in steps:
        steps.remove(EarlyStep.CRASHKERNEL)
        steps.insert(0, EarlyStep.CRASHKERNEL)
    low_max = early.low_limit(policy, draft, machine)
    now = steps.index(EarlyStep.CRASHKERNEL) if EarlyStep.CRASHKERNEL in steps else len(steps)
    mb, allocs, free_after_sparse = early.run_steps(steps[:now], policy, draft, machine, facts, low_max)
    return _make_early_state(mb, low_max, tuple(allocs), tuple(steps[now:]), free_after_sparse)


#: Reuse across calls (``run(..., reuse=True)``): bounded caches of pure functions, keyed by their whole
#: inputs, so a reused value is the value a fresh computation gives (tests/test_model_reuse.py proves it).
_REUSE_ENTRIES: Final = 1024
_early_state_reused: Final = functools.lru_cache(maxsize=_REUSE_ENTRIES)(_early_state)
_parse_reused: Final = functools.lru_cache(maxsize=_REUSE_ENTRIES)(cmdline_mod.parse_crashkernel)


_boot_facts_reused: Final = functools.lru_cache(maxsize=_REUSE_ENTRIES)(_boot_facts)


_CRASHKERNEL_PARAM = re.compile(r"(?:^|\s)crashkernel(?:=|\s|$)")


def _low_1m_line(policy: PolicyData, cmdline: str) -> tuple[str, ...]:
    """x86 5.10 crash_reserve_low_1M (arch/x86/kernel/crash.c, called from reserve_real_mode): any
    crashkernel option reserves all of the first MiB, with this line, before the reservation itself."""
    if policy.has(Feature.X86_RESERVE_LOW_1M) and _CRASHKERNEL_PARAM.search(cmdline):
        return ("kexec: Reserving the low 1M of memory for crashkernel",)
    return ()


@dataclass(frozen=True, slots=True)
class _Boot:
    """The boot up to the end of the early steps: what ``run`` goes on from, and all ``outcome`` needs."""

    machine: Machine  # the scenario's, with the kernel's page size
    policy: PolicyData
    facts: BootFacts
    deferred: bool
    parsed: Any  # cmdline.ParseResult
    outcome: BootOutcome
    at_reservation: Memblock
    early_done: Memblock
    low_max: int
    free_after_sparse: int | None


def _boot(scenario: Scenario, reuse: bool, cache: bool) -> _Boot:
    """Policy, early steps, the crash reservation and the early steps after it (see ``run``)."""
    machine = scenario.machine
    policy = for_kernel(scenario.kernel, machine.arch)
    if machine.page_size != policy.page_size:  # the page size is the kernel's (CONFIG_ARM64_*K_PAGES)
        machine = dataclasses.replace(machine, page_size=policy.page_size)
    if reuse:
        facts = _boot_facts_reused(policy.grammar, machine.build.rodata_full, scenario.cmdline)
    else:
        facts = _boot_facts(policy.grammar, machine.build.rodata_full, scenario.cmdline)
    if scenario.kaslr_tables != (0, 0):
        facts = dataclasses.replace(facts, kaslr_tables=scenario.kaslr_tables)
    grammar = cmdline_mod.GRAMMARS[policy.grammar]
    deferred = _deferred(policy, machine)
    # direct calls, not through a chosen callable: a compiled module then calls the compiled functions natively
    if cache:
        state = _early_state_reused(policy, machine, facts, deferred)
    else:
        state = _early_state(policy, machine, facts, deferred)
    mb, low_max = state.memblock, state.low_max
    free_after_sparse = state.free_after_sparse
    allocs = state.allocs
    rest = state.rest
    assert rest and rest[0] is EarlyStep.CRASHKERNEL
    system_ram = mb.phys_mem_size()
    if cache:
        parsed = _parse_reused(scenario.cmdline, grammar, system_ram)
    else:
        parsed = cmdline_mod.parse_crashkernel(scenario.cmdline, grammar, system_ram)
    req = parsed.request
    if req is None:
        placement = Placement((), (), parsed.reason, mb, attempted=False)
    else:
        placement = reserve_crashkernel(policy, mb, req.size, req.base, req.high, req.low_size,
                                        low_max, machine.page_size)
        mb = placement.memblock
    at_reservation = mb
    main = None
    for r in placement.regions:  # a loop, not next() over a generator
        if r.role is Role.MAIN:
            main = r
            break
    if main is not None and policy.has(Feature.RESERVE_EARLY) and not deferred:
        facts = _make_facts(facts.cma_bytes, facts.pages_everywhere, (main.start, main.end), facts.kaslr_tables,
                            facts.memoryless_nodes)  # dataclasses.replace(facts, crash_mapped_alone=...)
    if len(rest) > 1:  # the early steps after the reservation
        mb, new, after_sparse = early.run_steps(rest[1:], policy, mb, machine, facts, low_max)
        allocs = allocs + tuple(new)
        if after_sparse is not None:
            free_after_sparse = after_sparse

    parse_log = tuple([line.text for line in parsed.log]) if parsed.log else ()
    log = _low_1m_line(policy, scenario.cmdline) + parse_log + placement.log
    if placement.regions:
        verdict = Verdict.RESERVED
    elif req is None and not parse_log:
        verdict = Verdict.NONE
    else:
        verdict = Verdict.FAILED
    reason = placement.reason if req is not None else parsed.reason
    outcome = _make_outcome(policy.name, verdict, placement.regions, log, reason, low_max, policy.high_max,
                            system_ram, allocs)
    return _make_boot(machine, policy, facts, deferred, parsed, outcome, at_reservation, mb, low_max,
                      free_after_sparse)


def _native_outcome(policy: str, verdict: Verdict, regions: tuple[CrashRegion, ...], log: tuple[str, ...],
                    reason: str, low_max: int, high_max: int, system_ram: int,
                    early: tuple[EarlyAlloc, ...]) -> BootOutcome:
    """``BootOutcome(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = BootOutcome.__new__(BootOutcome)
    o.policy = policy  # type: ignore[misc]
    o.verdict = verdict  # type: ignore[misc]
    o.regions = regions  # type: ignore[misc]
    o.log = log  # type: ignore[misc]
    o.reason = reason  # type: ignore[misc]
    o.low_max = low_max  # type: ignore[misc]
    o.high_max = high_max  # type: ignore[misc]
    o.system_ram = system_ram  # type: ignore[misc]
    o.early = early  # type: ignore[misc]
    return o


def _native_boot(machine: Machine, policy: PolicyData, facts: BootFacts, deferred: bool, parsed: Any,
                 outcome: BootOutcome, at_reservation: Memblock, early_done: Memblock, low_max: int,
                 free_after_sparse: int | None) -> _Boot:
    """``_Boot(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = _Boot.__new__(_Boot)
    o.machine = machine  # type: ignore[misc]
    o.policy = policy  # type: ignore[misc]
    o.facts = facts  # type: ignore[misc]
    o.deferred = deferred  # type: ignore[misc]
    o.parsed = parsed  # type: ignore[misc]
    o.outcome = outcome  # type: ignore[misc]
    o.at_reservation = at_reservation  # type: ignore[misc]
    o.early_done = early_done  # type: ignore[misc]
    o.low_max = low_max  # type: ignore[misc]
    o.free_after_sparse = free_after_sparse  # type: ignore[misc]
    return o


def _native_facts(cma_bytes: int | None, pages_everywhere: bool, crash_mapped_alone: tuple[int, int] | None,
                  kaslr_tables: tuple[int, int], memoryless_nodes: tuple[int, ...]) -> BootFacts:
    """``BootFacts(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = BootFacts.__new__(BootFacts)
    o.cma_bytes = cma_bytes  # type: ignore[misc]
    o.pages_everywhere = pages_everywhere  # type: ignore[misc]
    o.crash_mapped_alone = crash_mapped_alone  # type: ignore[misc]
    o.kaslr_tables = kaslr_tables  # type: ignore[misc]
    o.memoryless_nodes = memoryless_nodes  # type: ignore[misc]
    return o


#: BootOutcome and _Boot from every field in order, made once per boot (kdumplab.frozen; neither checks its
#: fields in a __post_init__): they refuse to be built if a class gains a field _boot does not fill
_make_outcome: Final = maker(BootOutcome, tuple(f.name for f in dataclasses.fields(BootOutcome)), _native_outcome)
_make_boot: Final = maker(_Boot, tuple(f.name for f in dataclasses.fields(_Boot)), _native_boot)
#: BootFacts by position, for the one field a reservation-first boot changes per point (it has no __post_init__;
#: it refuses to be built if BootFacts gains a field)
_make_facts: Final = maker(BootFacts, ("cma_bytes", "pages_everywhere", "crash_mapped_alone", "kaslr_tables",
                                       "memoryless_nodes"), _native_facts)


def outcome(scenario: Scenario, cache: bool = True) -> BootOutcome:
    """``run(scenario).outcome`` without the stages after the early ones (late allocations, /proc/iomem, the
    linear map, kexec-tools): what a sweep reads when it does not ask kexec-tools. Same stages, same code;
    ``cache`` as in ``run``."""
    return _boot(scenario, True, cache).outcome


def run(scenario: Scenario, reuse: bool = True, cache: bool | None = None) -> Result:
    """Predict one boot.

    With ``reuse`` (the default) what does not depend on the changed inputs is taken from earlier calls:
    the early memblock state per (machine, policy, cmdline facts) and the parsed crashkernel= per
    (command line, grammar, RAM), and kexec-tools reads the lines from the /proc/iomem tree rather than its
    printed text. ``reuse=False`` computes every stage afresh; both give equal results. ``cache=False``
    leaves the early-state and crashkernel= caches alone (the cmdline facts are still reused): a sweep over
    RAM sizes, whose keys there never repeat, would only pay for hashing each new machine (None: ``reuse``).
    """
    b = _boot(scenario, reuse, reuse if cache is None else cache)
    machine, policy, facts, deferred, parsed, outcome = (b.machine, b.policy, b.facts, b.deferred, b.parsed,
                                                         b.outcome)
    low_max, early_done = b.low_max, b.early_done
    final = _late_allocations(policy, early_done, machine, low_max, scenario.cmdline, b.free_after_sparse)
    if machine.arch == "x86_64":  # x86 builds /proc/iomem from e820, not from memblock
        tree = iomem_x86.build_iomem_x86(machine, outcome)
    else:
        tree = iomem_build.build_iomem(policy, machine, final, outcome)
    crash_size = 0  # /sys/kernel/kexec_crash_size: the main region, and the low one where the kernel counts it
    with_low = policy.has(Feature.CRASH_SIZE_INCLUDES_LOW)
    for r in outcome.regions:  # a loop over the regions (no generator; the role compared by identity)
        if with_low or r.role is Role.MAIN:
            crash_size += r.size
    load = iomem_text = None
    if scenario.kexec_tools:
        if reuse:  # kexec-tools reads the lines from the tree itself: the text need not be printed and parsed
            iomem_in: Any = tree
        else:  # the reference path: print /proc/iomem and let kexec-tools read the text
            from kdumplab.iomem import render  # noqa: PLC0415

            iomem_in = iomem_text = render(tree)
        other_arch = _KEXEC_BY_ARCH.get(machine.arch)
        if other_arch is not None:
            load = other_arch(policy, machine, iomem_in, outcome, scenario.kexec_tools, scenario.crash_initrd_size)
        else:
            load = _kexec(policy, machine, iomem_in, outcome, scenario.kexec_tools, scenario.crash_initrd_size,
                          scenario.cmdline, scenario.crash_cmdline)
    res = _make_result(scenario=scenario, policy=policy, outcome=outcome, memblock=b.at_reservation,
                       final_memblock=final, early_memblock=early_done, iomem=tree, kexec_crash_size=crash_size,
                       deferred=deferred, kexec=load, _iomem_text=iomem_text, _crash_view=...,
                       _linear_map_facts=(facts.pages_everywhere, parsed.early_param))
    if not reuse:  # computed at once, as before
        res.linear_map  # noqa: B018
        res.crash_view  # noqa: B018
    return res


def _crash_view(policy: PolicyData, load: Any, machine: Machine,
                nomap: tuple[tuple[int, int], ...] | None = None, cmdline: str = "") -> Any:
    """The crash kernel's view of a successful load (None when kexec-tools was not asked or refused);
    ``nomap``: the EFI no-map regions it keeps under UEFI (``crashview.efi_nomap_ranges``); None: the
    machine's own no-map memory when it boots through UEFI (the crash kernel reads the same EFI memory map),
    nothing on a DT boot (the cap there comes before /reserved-memory marks anything no-map). ``cmdline``: the
    crash kernel's command line (kexec-tools ``--append``; "" for the lab's, ``kexec.CRASH_APPEND``)."""
    if load is None or not load.loaded:
        return None
    from kdumplab import crashview  # noqa: PLC0415

    if nomap is None:
        nomap = _efi_nomap(machine) if machine.firmware == "uefi" else ()

    nodes = crashview.numa_nodes_seen(tuple((b.start, b.start + b.size, b.node) for b in machine.banks), nomap)
    notes = crashview.crash_notes_bytes(kexec.KERNEL_KEXEC[policy.kexec_generation].vmcoreinfo_note, machine.cpus)
    return crashview.crash_view(crashview.CRASH_KERNELS[policy.kexec_generation], load, policy, machine,
                                notes_bytes=notes, nodes=nodes, nomap=nomap, cmdline=cmdline or kexec.CRASH_APPEND)


def _efi_nomap(machine: Machine) -> tuple[tuple[int, int], ...]:
    """The memory a UEFI machine's kernels keep no-map, as (start, last): no-map banks and reservations."""
    ranges = [r.range for r in machine.reserved if r.nomap] + [b.range for b in machine.banks if b.nomap]
    return tuple(sorted((r.start, r.end - 1) for r in ranges))


def _kexec(policy: PolicyData, machine: Machine, iomem: str | tuple[Resource, ...], outcome: BootOutcome,
           version: str, crash_initrd_size: int | None, cmdline: str = "",
           crash_cmdline: str | None = None) -> kexec.KexecLoad:
    """``kexec -p`` of the same kernel (with the given kdump initrd, else the machine's own) against the
    predicted /proc/iomem (its text, or the tree it is printed from). kexec-tools starts from the
    running kernel's tree: under UEFI with ACPI the EFI stub's own (``artifacts.efi_stub_fdt`` with the
    kernel's ``cmdline``); from a QEMU ``-dtb`` file (``machine.qemu_dtb``) that file as QEMU loads it and,
    under UEFI (acpi=off), as EDK2 and the stub amend it (``kdumplab.firmware_fdt``). The crash kernel's
    command line is ``crash_cmdline``, else the lab's (``kexec.CRASH_APPEND``, which the DT default size assumes)."""
    main = outcome.main
    base: Any = None
    initrd = machine.initrd
    facts = None  # the kernel's facts, read only where the running kernel's tree is not QEMU's built-in one
    if (machine.qemu_dtb is not None or machine.firmware == "uefi") and policy.kexec_generation:
        facts = kexec.KERNEL_KEXEC[policy.kexec_generation]
    if machine.qemu_dtb is not None and facts is not None:
        from kdumplab import firmware_fdt  # noqa: PLC0415

        uefi = machine.firmware == "uefi"
        base = firmware_fdt.qemu_loaded(machine.qemu_dtb, cmdline, initrd=not uefi and initrd is not None)
        if uefi:
            base = firmware_fdt.efi_stub_amended(firmware_fdt.edk2_handed(base), cmdline,
                                                 initrd_in_dt=facts.efi_stub_initrd_in_dt and initrd is not None,
                                                 kaslr_seed=machine.efi_rng)
        base = firmware_fdt.as_the_kernel_keeps_it(base)
    elif machine.firmware == "uefi" and facts is not None:
        from kdumplab import artifacts  # noqa: PLC0415

        base = artifacts.efi_stub_fdt(
            cmdline, last_comp_version=facts.efi_stub_fdt_last_comp,
            initrd=(initrd.start, initrd.end) if facts.efi_stub_initrd_in_dt and initrd is not None else None)
    return _load(policy, machine, iomem, main.range if main else None, version, crash_initrd_size, base,
                 crash_cmdline or kexec.CRASH_APPEND)


def _load(policy: PolicyData, machine: Machine, iomem: str | tuple[Resource, ...], crashk_res: PhysRange | None,
          version: str, crash_initrd_size: int | None, base_fdt: Any = None, bootargs: str = "") -> kexec.KexecLoad:
    if not policy.kexec_generation:
        raise KdumplabError("--kexec-tools", f"kexec-tools is modelled for arm64 only, not {policy.arch}")
    tools = kexec.kexec_tools(version)
    k = machine.kernel
    initrd = crash_initrd_size if crash_initrd_size is not None else (machine.initrd.size if machine.initrd else None)
    # The DTB segment is the running kernel's flattened tree as kexec-tools rewrites it, not the firmware's
    # placement of it (QEMU reserves 1 MiB): 7,750 bytes in the recorded cycles, KexecInputs' default size,
    # or counted from the running kernel's own tree when it is known.
    if base_fdt is not None:
        from kdumplab import artifacts  # noqa: PLC0415

        dtb_size = artifacts.crash_dtb_size(base_fdt, 1, bool(initrd), bootargs, where="first kernel fdt")
    else:  # QEMU's built-in tree: the measured default size, with the lab's bootargs and one CPU
        dtb_size = kexec.DTB_SIZE
        if machine.cpus > 1:  # a cpu node and core per further CPU
            from kdumplab.firmware_fdt import qemu_cpu_bytes  # noqa: PLC0415

            dtb_size += qemu_cpu_bytes(machine.cpus, len({b.node for b in machine.banks}) > 1)
        if bootargs and bootargs != kexec.CRASH_APPEND:  # another crash command line: a NUL-ended, 4-byte padded value
            from kdumplab import artifacts  # noqa: PLC0415

            dtb_size += len(artifacts.bootargs_value(bootargs)) - len(artifacts.bootargs_value(kexec.CRASH_APPEND))
    image = None if k is None else (k.image_size or k.end, k.text_offset,
                                    k.stext if policy.has(Feature.KERNEL_FROM_STEXT) else 0, k.init_begin - k.stext)
    inputs = _kexec_inputs(initrd, machine.page_size, machine.cpus, dtb_size, image)
    return kexec.load_crash_kernel(tools, kexec.KERNEL_KEXEC[policy.kexec_generation], iomem, crashk_res, inputs)


@functools.lru_cache(maxsize=256)
def _kexec_inputs(initrd: int | None, page_size: int, cpus: int, dtb_size: int,
                  image: tuple[int, int, int, int] | None) -> kexec.KexecInputs:
    """``kexec -p``'s KexecInputs for ``_load``; ``image``: (image_size, text_offset, _stext - _text, __init_begin -
    _stext) of the kernel, None for the defaults. A value of its arguments alone, made once per distinct set
    (a sweep asks the same one at every RAM size)."""
    kernel: dict[str, Any] = {} if image is None else dict(zip(_IMAGE_INPUTS, image, strict=True))
    # possible_cpus: one PT_NOTE per CPU kexec-tools finds (one with -smp 1: the recorded runs)
    return kexec.KexecInputs(initrd_size=initrd, page_size=page_size, possible_cpus=cpus, dtb_size=dtb_size, **kernel)


_IMAGE_INPUTS = ("image_size", "text_offset", "stext_minus_text", "init_begin_minus_stext")


def crash_side(policy: PolicyData, machine: Machine, iomem_text: str, crashk_res: Any, version: str,
               crash_initrd_size: int | None, *, base_fdt: bytes | None = None, bootargs: str = "",
               efi: bool = False):
    """``kexec -p`` of the same kernel against a first kernel's state, and the crash kernel it boots:
    (KexecLoad, CrashView or None).

    The first kernel is its /proc/iomem (``iomem_text``), its main crash region (``crashk_res``, the kernel's
    crashk_res) and, when known, its /sys/firmware/fdt (``base_fdt``: the DTB segment is then that tree as
    kexec-tools rewrites it, ``artifacts.crash_dtb_size`` with ``bootargs``, the crash kernel's command line;
    else 7,750 bytes, QEMU's tree as the recorded DT cycles had it). ``efi``: the first kernel was started by
    the EFI stub, so the crash kernel also reads the EFI memory map and keeps its no-map regions
    (``crashview.efi_nomap_ranges``). A recorded first kernel (lab cycle.json) or a predicted one both fit.
    """
    from kdumplab import crashview  # noqa: PLC0415

    load = _load(policy, machine, iomem_text, crashk_res, version, crash_initrd_size, base_fdt, bootargs)
    nomap = crashview.efi_nomap_ranges(iomem_text) if efi else ()
    return load, _crash_view(policy, load, machine, nomap, bootargs)


def _kexec_x86(policy: PolicyData, machine: Machine, iomem: Any, outcome: BootOutcome, version: str,
               crash_initrd_size: int | None):
    """x86_64: ``kexec -p`` of the same bzImage (kexec_x86) against the predicted /proc/iomem (its text, or the
    tree it is printed from)."""
    from kdumplab import kexec_x86  # noqa: PLC0415

    if not isinstance(iomem, str):
        iomem = kexec.iomem_lines(iomem)

    kernel = kexec_x86.X86_KERNELS.get(policy.name)
    if kernel is None:
        raise KdumplabError("--kexec-tools", f"kexec-tools on x86_64 is modelled for the Debian amd64 kernels "
                            f"({', '.join(kexec_x86.X86_KERNELS)}), not {policy.name}")
    inputs = kexec_x86.X86Inputs(
        initrd_size=crash_initrd_size if crash_initrd_size is not None else
        (machine.initrd.size if machine.initrd else None),
        acpi_rsdp=kexec_x86.seabios_rsdp(any(end > SZ_4G for _, end in machine.ram_ranges())),
        efi_runtime_map=kexec_x86.OVMF_RUNTIME_MAP if machine.firmware == "uefi" else 0)
    return kexec_x86.load_crash_kernel_x86(kexec_x86.x86_kexec_tools(version), kernel, iomem, inputs)


def _crash_view_x86(policy: PolicyData, load: Any, machine: Machine, nomap: tuple[tuple[int, int], ...] = ()) -> Any:
    """x86_64: the crash kernel booted with what kexec_x86 handed it (crashview_x86); None when nothing loaded."""
    if load is None or not load.loaded:
        return None
    from kdumplab import crashview, crashview_x86, kexec_x86  # noqa: PLC0415

    nodes = tuple((b.start, b.start + b.size, b.node) for b in machine.banks)
    kernel = kexec_x86.X86_KERNELS[policy.name]
    notes = crashview.crash_notes_bytes(kernel.vmcoreinfo_note, machine.cpus, crashview.PRSTATUS_NOTE_X86_64)
    return crashview_x86.crash_view_x86(crashview_x86.X86_CRASH_KERNELS[policy.name], kernel, load,
                                        notes_bytes=notes, nodes=nodes)


#: kexec -p and the crash kernel per architecture (arm64, the default: _kexec/_crash_view with kexec.py and
#: crashview.py; x86_64: kexec_x86.py and crashview_x86.py)
_KEXEC_BY_ARCH = {"x86_64": _kexec_x86}
_CRASH_VIEW_BY_ARCH = {"x86_64": _crash_view_x86}
