"""A Capture -> Findings: what is wrong with kdump on that machine, with the exact lines that show it.

Pure: no I/O. The texts are first read leniently and combined (``kdumplab.evidence``: which kernel wrote them,
the crash regions and where each comes from, the family of kernels), then read backwards into the modelled
generations and kexec-tools versions that could have produced them (style.md, "the table also runs
backwards"), then each check looks at them. Every finding has a stable code (docs/tools.md); codes renamed
in this release keep their old name in ``Finding.aliases`` for one release.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import re
from dataclasses import dataclass

from kdumplab import evidence, policy
from kdumplab.capture import Capture
from kdumplab.errors import KdumplabError
from kdumplab.evidence import Evidence, Region
from kdumplab.family import FamilyGuess, Trait
from kdumplab.inputfile import one_line
from kdumplab.logscan import Kind
from kdumplab.machine import Machine
from kdumplab.policy import Feature
from kdumplab.ranges import SZ_1G, SZ_1M, SZ_4G
from kdumplab.recommend import usual_need

__all__ = ["Severity", "Finding", "Analysis", "analyze", "kexec_version", "ALIASES"]

#: old code -> new code (kept in ``Finding.aliases`` for one release)
ALIASES = {"RESERVATION_FAILED_LOG": "RESERVATION_FAILED", "HIGH_WITHOUT_LOW": "OUTSIDE_DMA_ZONE",
           "CMA_PLACEMENT": "CMA_COMPETES"}


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    code: str
    title: str
    evidence: tuple[str, ...] = ()
    fix: str | None = None

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(old for old, new in ALIASES.items() if new == self.code)


@dataclass(frozen=True, slots=True)
class Analysis:
    source: str
    arch: str
    release: str | None
    generations: tuple[str, ...]
    kexec_versions: tuple[str, ...]
    regions: tuple[Region, ...]
    findings: tuple[Finding, ...]
    view: str = "first kernel"
    outcome: str = "unknown"
    family: FamilyGuess | None = None

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)




def kexec_version(text: str | None) -> tuple[int, ...] | None:
    m = re.search(r"kexec-tools\s+([0-9]{1,9})\.([0-9]{1,9})\.([0-9]{1,9})(?![0-9])", text or "")
    return tuple(int(x) for x in m.groups()) if m else None


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def _probe_machine(cap: Capture, arch: str, regions: tuple[Region, ...]) -> Machine | None:
    """A QEMU virt machine with about the captured RAM (MemTotal plus the crash regions, whole GiB), used
    only to ask each generation how many regions the captured cmdline gives."""
    if arch != "arm64" or not cap.memtotal or not cap.cmdline or "crashkernel=" not in cap.cmdline:
        return None
    from kdumplab import presets

    ram = cap.memtotal + sum(r.end - r.start for r in regions)
    gib = max(1, round(ram / (1 << 30)))
    try:
        return presets.qemu_virt(mem=gib << 30)
    except (ValueError, KdumplabError):  # more RAM than a virt board holds: no probe, the texts decide
        return None


def _region_count(name: str, machine: Machine, cmdline: str) -> int | None:
    from kdumplab import model

    try:
        return sum(r.in_iomem for r in model.run(model.Scenario(machine, cmdline, name)).outcome.regions)
    except (KdumplabError, ValueError):  # ValueError: a probe the virt board cannot hold (RAM over PCIe)
        return None


def _generations(cap: Capture, arch: str, regions: tuple[Region, ...], crash_size: int | None,
                 release: str | None = None, guess: FamilyGuess | None = None) -> tuple[str, ...]:
    rows = policy.all_policies(arch)
    probe = _probe_machine(cap, arch, regions)
    release = release or cap.release
    if release:
        try:
            return (policy.for_kernel(release, arch).name,)
        except KdumplabError:
            pass  # a release between generations: fall back to the family, then to what the texts show
    if guess is not None and guess.family is not None and not guess.inferred:
        return (guess.family.policy,) if guess.family.policy else ()
    keep = []
    names = {r.name for r in regions}
    total = sum(r.end - r.start for r in regions)
    main = max(regions, key=lambda r: r.end - r.start, default=None)
    for row in rows:
        if "Crash kernel (low)" in names and row.low_name != "Crash kernel (low)":
            continue
        if len(regions) == 2 and row.low_name not in names:
            continue
        count = _region_count(row.name, probe, (cap.cmdline or "").strip()) if probe is not None else None
        if count not in (None, len(regions)):
            continue  # this generation makes a different number of regions from the same cmdline
        if len(regions) == 2 and crash_size is not None:
            if row.has(Feature.CRASH_SIZE_INCLUDES_LOW) and crash_size != total:
                continue
            if not row.has(Feature.CRASH_SIZE_INCLUDES_LOW) and main and crash_size != main.end - main.start:
                continue
        if not regions and crash_size and not row.has(Feature.IOMEM_ONLY_IF_NONEMPTY):
            continue  # before 6.12 every reserved region, even one byte, is inserted into /proc/iomem
        keep.append(row.name)
    return tuple(keep)


# The modelled kexec-tools release whose elfcorehdr a version writes: (first version, row). 2.0.21-2.0.24 are
# not modelled (the 2.0.24 rework changed how the crash ranges are read; page_offset handling in between
# was not read).
_KEXEC_ROWS = (((2, 0, 0), "2.0.20"), ((2, 0, 21), None), ((2, 0, 25), "2.0.25"), ((2, 0, 29), "2.0.29"),
               ((2, 0, 32), "2.0.32"))


def _kexec_row(kver: tuple[int, ...]) -> str | None:
    row = None
    for first, name in _KEXEC_ROWS:
        if kver >= first:
            row = name
    return row


def _vmcore_findings(cap: Capture, arch: str, gen: str, kver: tuple[int, ...]) -> list[Finding]:
    """What the elfcorehdr kexec-tools writes for this kernel will look like (model; both problems were seen
    in recorded cycles: tests/data/cycles)."""
    from kdumplab import model, presets  # noqa: PLC0415
    from kdumplab.verdict import problems  # noqa: PLC0415

    row = _kexec_row(kver)
    if arch != "arm64" or row is None:
        return []
    try:
        probe = presets.qemu_virt(kernel=gen)
        res = model.run(model.Scenario(probe, "crashkernel=512M", gen, row))
    except KdumplabError:
        return []
    if not res.kexec.loaded:
        return []
    ev = tuple(x for x in (f"{cap.where('kexec_version')}:1: {one_line((cap.kexec_version or '').strip())}",
                           f"{cap.where('uname') if cap.uname else cap.where('version')}:1: {cap.release}"
                           if cap.release else None) if x)
    fix = ("for a usable vmcore use kexec-tools >= 2.0.25 with a kernel that lists _text in /proc/kallsyms "
           "(Debian 6.12 and later): the only pairs whose vmcore headers were right in the recorded cycles")
    out = []
    for label, text in problems(res):
        if label == "vmcore size wraps":
            out.append(Finding(Severity.ERROR, "VMCORE_SIZE_WRAPS", f"kexec-tools {'.'.join(map(str, kver))} on "
                               f"this {gen} kernel: {text}", ev, fix))
        elif label == "vmcore vaddrs wrong":
            out.append(Finding(Severity.WARNING, "VMCORE_VADDRS", f"kexec-tools {'.'.join(map(str, kver))} on this "
                               f"{gen} kernel: {text}", ev, fix))
    return out




def analyze(cap: Capture, vmcore: bool = False, release: str | None = None, arch: str | None = None,
            other: str | None = None, other_where: str = "other") -> Analysis:
    """Every finding for one capture, worst first. Any one text (iomem, log, cmdline, other) is enough."""
    if cap.iomem is None and cap.kernel_log is None and cap.cmdline is None and not other:
        raise KdumplabError(cap.source, "nothing to read: no /proc/iomem, no kernel log, no command line",
                            "give --iomem FILE or --log FILE (or a --root with proc/iomem or dmesg)")
    ev = evidence.gather(cap, vmcore=vmcore, release=release, arch=arch, other=other, other_where=other_where)
    arch = ev.arch
    this = ev.this() if ev.view == "first kernel" else ()
    crash_size = _int(cap.kexec_crash_size) if ev.view == "first kernel" else None
    loaded = _int(cap.kexec_crash_loaded) if ev.view == "first kernel" else None
    kver = kexec_version(cap.kexec_version)
    gens = _generations(cap, arch, this, crash_size, ev.release, ev.family)
    if kver:
        kexecs: tuple[str, ...] = (".".join(map(str, kver)),)
    elif len(this) == 2 and loaded == 1:
        kexecs = ("2.0.24+ (two regions were loaded; 2.0.20 refuses them)",)
    else:
        kexecs = ("unknown",)
    cmd = [f"{ev.cmdline_where}: {one_line(ev.cmdline)}"] if ev.cmdline else []
    ram = cap.memtotal + sum(r.size for r in this) if cap.memtotal else None
    out: list[Finding] = []
    out += _input_findings(ev)
    if ev.view == "crash kernel":
        out += _capture_kernel(ev)
    else:
        out += _reservation_findings(ev, cap, cmd, crash_size, ram)
        out += _kaslr_findings(ev, cmd)
        if this:
            out += _loaded_findings(ev, cap, this, loaded, kver, gens, ram, arch)
    out += _cma_findings(ev)
    quiet = not [f for f in out if f.severity > Severity.INFO or f.code in ("CAPTURE_KERNEL", "FIXED_BASE")]
    if quiet and ev.outcome == "reserved":
        out.append(Finding(Severity.INFO, "OK", "a crash region is reserved" + (
                " and a crash kernel is loaded" if loaded == 1 else ""),
                tuple(r.evidence[0] for r in this)))
    out.sort(key=lambda f: -f.severity)
    return Analysis(cap.source, arch, ev.release, gens, kexecs, ev.regions, tuple(out), ev.view, ev.outcome,
                    ev.family)


def _input_findings(ev: Evidence) -> list[Finding]:
    out = []
    if ev.partial:
        out.append(Finding(Severity.INFO, "PARTIAL_INPUT", "the evidence was cut or mangled: read what could be",
                           ev.partial))
    if ev.iomem is not None and ev.iomem.hidden:
        out.append(Finding(Severity.WARNING, "ADDRESSES_HIDDEN", "/proc/iomem was read without root: all "
                           "addresses are 0", tuple(f"{ev.iomem.where}:{e.lineno}: {e.text}"
                                                    for e in ev.iomem.entries if e.is_crash)[:3],
                           "capture /proc/iomem as root"))
    if ev.conflicts:
        out.append(Finding(Severity.WARNING, "EVIDENCE_CONFLICT", "the log and /proc/iomem disagree about the crash "
                           "regions: they come from different boots (the log's side is listed as boot 'other')",
                           ev.conflicts, "capture the log and /proc/iomem of the same boot"))
    return out


def _capture_kernel(ev: Evidence) -> list[Finding]:
    firsts = [r for r in ev.regions if r.boot == "other"]
    shown = ", ".join(f"[{r.start:#x}, {r.end:#x}) {r.size // SZ_1M} MiB" for r in firsts)
    title = ("this evidence was written inside the crash kernel, not by the kernel that reserves: "
             + (f"the first kernel's crash region(s): {shown}" if firsts else "it does not show the first "
                "kernel's regions"))
    out = [Finding(Severity.INFO, "CAPTURE_KERNEL", title, ev.capture_reasons + tuple(r.evidence[0] for r in firsts),
                   "to check the reservation, capture /proc/iomem and dmesg after a normal boot")]
    inherited = ev.events(*FAILURES_RESERVE)
    if inherited:
        out.append(Finding(Severity.INFO, "CAPTURE_KERNEL", "the crash kernel inherited crashkernel= and could not "
                           "reserve inside its own small memory (harmless)",
                           tuple(ev.line(e) for e in inherited)))
    low_ok = _crash_kernel_has_dma(ev)
    if low_ok is False:
        out.append(Finding(Severity.WARNING, "OUTSIDE_DMA_ZONE", "the crash kernel has no memory in its DMA zone: "
                           "swiotlb and devices limited to 32-bit (or 30-bit) DMA fail",
                           tuple(ev.line(e) for e in ev.events(Kind.ZONE, Kind.NO_LOW_MEM)),
                           "reserve a low region in the first kernel (crashkernel=Y,low on kernels with ,high)"))
    return out


def _crash_kernel_has_dma(ev: Evidence) -> bool | None:
    if ev.this_boot is None:
        return None
    if ev.events(Kind.NO_LOW_MEM):
        return False
    zones = {e.value: e for e in ev.events(Kind.ZONE)}
    if "DMA" in zones and "DMA32" not in zones and zones["DMA"].end is None:
        return False
    return None


FAILURES_RESERVE = (Kind.CANNOT_ALLOCATE, Kind.CANNOT_ALLOCATE_LOW, Kind.NOT_MEMORY, Kind.OVERLAPS,
                    Kind.NOT_ALIGNED, Kind.IN_USE, Kind.NO_AREA, Kind.LOW_FAILED_X86)


def _window(ev: Evidence) -> tuple[int, int] | None:
    """The window the low (default) search looks in: [0, DMA end) on arm64, [16 MiB, 4 GiB) on x86."""
    if ev.arch == "x86_64":
        return 16 * SZ_1M, SZ_4G
    end = _dma_end(ev)
    if end is None:
        return None
    if ev.family.family is not None and ev.family.family.has(Trait.DMA_FIXED_1G):
        end = max(end, _ram_start(ev) + SZ_4G if _ram_start(ev) >= SZ_4G else SZ_4G)
    return 0, end


def _ram_start(ev: Evidence) -> int:
    return min((s for s, _ in ev.ram), default=0)


def _dma_end(ev: Evidence) -> int | None:
    """ZONE_DMA's end: the log's Zone ranges; else the family's rule on the RAM the evidence shows."""
    if ev.dma_end is not None:
        return ev.dma_end
    f = ev.family.family
    start = _ram_start(ev)
    if ev.arch == "x86_64":
        return SZ_4G
    if f is not None and f.has(Trait.DMA_FIXED_1G):
        return (start & ~(SZ_1G - 1)) + SZ_1G
    if start >= SZ_4G:
        return None  # all RAM is "low" when it starts above 4 GiB and nothing limits DMA
    return SZ_4G


def _reservation_findings(ev: Evidence, cap: Capture, cmd: list[str], crash_size: int | None,
                          ram: int | None) -> list[Finding]:
    out: list[Finding] = []
    this = ev.this()
    req = ev.request
    fails = ev.events(*FAILURES_RESERVE, Kind.PARSE_ERROR, Kind.SIZE_ZERO)
    fail_lines = tuple(ev.line(e) for e in fails)
    if not this:
        if crash_size:
            out.append(Finding(Severity.ERROR, "REGION_NOT_IN_IOMEM",
                               f"kexec_crash_size is {crash_size} but /proc/iomem has no Crash kernel line: a "
                               "region of a byte or so is reserved but never inserted (6.12+ inserts only if "
                               "start < end), and kexec -p has nothing to load into",
                               (f"{cap.where('kexec_crash_size')}:1: {crash_size}", *cmd, *fail_lines),
                               "give crashkernel= a real size, e.g. crashkernel=512M"))
        elif ev.outcome in ("failed", "not requested"):
            need = usual_need(ev.arch, ram) if ram else 0
            size = f"crashkernel={need // SZ_1M}M" if need else "crashkernel=512M"
            fix = None if req is not None and req.requested else f"add {size} to the kernel command line"
            out.append(Finding(Severity.ERROR, "NO_REGION", "no crash kernel region is reserved" +
                               (" (none was requested)" if ev.outcome == "not requested" else ""),
                               tuple(cmd) + fail_lines + ev.tools_none
                               or ("no 'Crash kernel' line and no reservation in the log",), fix))
    if ev.outcome == "failed" or (fails and not this):
        out.append(_failed(ev, fails, cmd))
    elif fails and this:
        out.append(Finding(Severity.WARNING, "RESERVATION_FAILED", "part of the crash reservation failed",
                           fail_lines, None))
    if req is not None and req.base is not None:
        at = next((r for r in this if r.start == req.base), None)
        if at is not None:
            out.append(Finding(Severity.INFO, "FIXED_BASE", f"the fixed base @{req.base:#x} was honoured",
                               (*cmd, at.evidence[0])))
        elif ev.outcome == "failed":
            out.append(Finding(Severity.ERROR, "FIXED_BASE", f"the fixed base @{req.base:#x} was refused: that range "
                               "is not free memory", (*cmd, *fail_lines),
                               "drop the @offset and let the kernel place the region"))
    main = [r for r in this if not r.inferred]
    end = _dma_end(ev)
    if main and end is not None:
        low = [r for r in main if r.start < end]
        if not low:
            out.append(_outside(ev, main, end, cmd))
        elif len(main) >= 2 and any(r.start >= end for r in main):
            lo = min(main, key=lambda r: r.start)
            if req is not None and req.requested and req.low is None:
                out.append(Finding(Severity.INFO, "LOW_AUTO", f"the kernel added a low region of {lo.size // SZ_1M} "
                                   "MiB by itself (no crashkernel=,low on the command line)", (*cmd, lo.evidence[0])))
            elif req is None and lo.size in _default_lows(ev):
                out.append(Finding(Severity.INFO, "LOW_AUTO", f"a low region of {lo.size // SZ_1M} MiB, the size the "
                                   "kernel adds by itself when the main region is high (inferred: the command line "
                                   "is not in the evidence)", (lo.evidence[0],)))
    return out


def _default_lows(ev: Evidence) -> set[int]:
    """Low sizes the kernel picks by itself: x86 max(swiotlb 64 MiB + 8 MiB, 256 MiB) (arch/x86/kernel/setup.c
    reserve_crashkernel_low, also reused by the 2019 arm64 series); arm64 6.5+ DEFAULT_CRASH_KERNEL_LOW_SIZE
    128 MiB."""
    f = ev.family.family
    if ev.family.inferred or f is None:
        return {128 * SZ_1M, 256 * SZ_1M}
    if ev.arch == "x86_64" or f.has(Trait.SERIES_2019):
        return {256 * SZ_1M}
    return {128 * SZ_1M} if f.has(Trait.DEFAULT_LOW) else set()


def _failed(ev: Evidence, fails: tuple, cmd: list[str]) -> Finding:
    lines = tuple(ev.line(e) for e in fails)
    size = next((e.size for e in fails if e.size), None)
    win = _window(ev)
    parts = ["the crash reservation failed"]
    if size:
        parts.append(f"{size // SZ_1M} MiB asked")
    if win is not None:
        parts.append(f"low window [{win[0]:#x}, {win[1]:#x})")
    occ = _occupants(ev, win)
    if occ:
        parts.append("in it: " + "; ".join(occ))
    free = _largest_free(ev, win)
    if free is not None:
        parts.append(f"largest free block in /proc/iomem there: [{free[0]:#x}, {free[1]:#x}) "
                     f"{(free[1] - free[0]) // SZ_1M} MiB")
    elif win is not None:
        parts.append("largest free block: not in this evidence")
    if not fails:
        parts.append("the kernel printed no reason (a crashkernel= form this kernel ignores, e.g. ,high before 5.19 "
                     "on arm64)")
    fix = _checked_fix(ev, _failed_candidates(ev, size, free)) or _failed_fix(ev, size, free)
    return Finding(Severity.ERROR, "RESERVATION_FAILED", ": ".join(parts[:1]) + (" (" + "; ".join(parts[1:]) + ")"
                   if parts[1:] else ""), lines + tuple(cmd), fix)


def _model_for(ev: Evidence) -> tuple[Machine, str] | None:
    """The machine the evidence describes (kdumplab.infer) and the modelled policy of its family; None when
    either cannot be had (then fixes are offered unchecked, and say so)."""
    from kdumplab.infer import machine_from  # noqa: PLC0415

    f = ev.family.family
    if f is None or f.policy is None or f.arch != ev.arch or ev.family.inferred:
        return None
    pol = f.policy
    if ev.arch == "x86_64":  # one x86 family holds several modelled generations: take the release's own
        with contextlib.suppress(KdumplabError):
            pol = policy.for_kernel(ev.release or "", ev.arch).name
    try:
        return machine_from(ev), pol
    except KdumplabError:
        return None


#: the x86 decompressor's output without KASLR: LOAD_PHYSICAL_ADDR = CONFIG_PHYSICAL_START (16 MiB on every
#: distribution build we know; arch/x86/Kconfig's default)
LOAD_PHYSICAL_ADDR = 16 * SZ_1M


def _kaslr_model(ev: Evidence):  # noqa: ANN202 - (model.Scenario, Machine) or None
    """x86 with physical KASLR: the scenario of the machine inferred from the evidence with its kernel at the
    decompressor's own output (16 MiB), from which kdumplab.kaslr draws the places; and the pinned machine."""
    import dataclasses  # noqa: PLC0415

    from kdumplab import kaslr, model  # noqa: PLC0415

    if ev.arch != "x86_64" or ev.cmdline is None or ev.request is None or not ev.request.requested:
        return None
    if ev.efi_boot:  # the EFI stub drew the place from the EFI memory map, which the evidence does not hold
        return None
    got = _model_for(ev)
    if got is None or got[0].kernel is None or not kaslr.placement_is_random(got[0], ev.cmdline):
        return None
    machine, pol = got
    free = dataclasses.replace(machine, kernel=dataclasses.replace(machine.kernel, load_address=LOAD_PHYSICAL_ADDR))
    return model.Scenario(free, ev.cmdline, pol), machine


def _kaslr_findings(ev: Evidence, cmd: list[str]) -> list[Finding]:
    """x86 with physical KASLR: the kernel's place is random at every boot and the crash region goes around it,
    so one boot's outcome is one draw. On the machine inferred from the evidence (the kernel's own decompressor
    facts), the reservation is run for every place the kernel can land (kdumplab.kaslr): KASLR_VARIES says how
    often it fails, with a size that reserves on every boot; KASLR_OK that it never fails."""
    from kdumplab import kaslr  # noqa: PLC0415

    got = _kaslr_model(ev)
    if got is None:
        return []
    scn, machine = got
    try:
        dist = kaslr.distribution(scn)
    except (KdumplabError, ValueError):
        return []
    k = machine.kernel
    code = [f"{ev.iomem.where}: {k.load_address:x}-... : Kernel code (this boot's place)"] if ev.iomem else []
    lines = (*cmd, *code)
    facts = next((n for n in machine.notes if "decompressor" in n), "").removeprefix("inferred: ")
    if dist.failed_share == 0:
        return [Finding(Severity.INFO, "KASLR_OK", "the kernel's physical address is random (KASLR); the crash "
                        f"region is {kaslr.share_text(dist)}", lines)]
    if dist.failed_share == 1:
        return []  # fails wherever the kernel is: RESERVATION_FAILED / NO_REGION say it
    req = ev.request
    fix = _everywhere_fix(scn, req.size) if req.size and not req.high and req.base is None else None
    return [Finding(Severity.WARNING, "KASLR_VARIES",
                    f"{' '.join('crashkernel=' + w for w in req.words)} {kaslr.share_text(dist, ' of this machine')}: "
                    "the kernel's physical address is random (KASLR) and the crash region goes around it (this "
                    f"boot {'reserved' if ev.this() else 'failed'}; the {scn.kernel} model of the machine inferred "
                    f"from this evidence, {facts})", lines, fix)]


def _everywhere_fix(scn, size: int) -> str | None:  # noqa: ANN001 - a model.Scenario
    """The first of 3/4, 1/2, 1/4 of ``size`` (whole 64 MiB) that reserves wherever the kernel lands: a
    failing size stops at its first failing place, so only the answer costs a pass over every place."""
    import dataclasses  # noqa: PLC0415

    from kdumplab import kaslr  # noqa: PLC0415

    for part in (3, 2, 1):
        mib = size * part // 4 // SZ_1M // 64 * 64
        if mib and kaslr.reserves_everywhere(dataclasses.replace(
                scn, cmdline=_replace_crashkernel(scn.cmdline, f"crashkernel={mib}M"))):
            return (f"crashkernel={mib}M (reserves on every boot, wherever KASLR puts the kernel, on the "
                    f"{scn.kernel} model of the machine inferred from this evidence), or nokaslr to keep the kernel "
                    "at 16 MiB")
    return None


def _replace_crashkernel(cmdline: str, words: str) -> str:
    kept = [w for w in cmdline.split() if not w.startswith("crashkernel=")]
    return " ".join([*kept, *words.split()])


def _checked_fix(ev: Evidence, candidates: list[str]) -> str | None:
    """The first candidate the model reserves with on the machine inferred from this evidence; never one that is
    already on the command line."""
    from kdumplab import model  # noqa: PLC0415

    have = set(ev.request.words) if ev.request else set()
    got = _model_for(ev)
    if got is None:
        return None
    machine, pol = got
    for cand in candidates:
        if {w.removeprefix("crashkernel=") for w in cand.split() if w.startswith("crashkernel=")} <= have:
            continue
        try:
            res = model.run(model.Scenario(machine, _replace_crashkernel(ev.cmdline or "", cand), pol))
        except (KdumplabError, ValueError):
            continue
        if res.outcome.regions:
            random = _kaslr_model(ev)
            if random is not None:  # x86 KASLR: a fix must reserve wherever the kernel lands, not just here
                from kdumplab import kaslr  # noqa: PLC0415

                scn = dataclasses.replace(random[0], cmdline=res.scenario.cmdline)
                if not kaslr.reserves_everywhere(scn):
                    continue
            where = ", ".join(f"[{r.start:#x}, {r.end:#x})" for r in res.outcome.regions)
            return (f"{cand} (reserves {where} on the {pol} model of the machine inferred from this evidence"
                    f"{', and on every place KASLR can put the kernel' if random else ''}; "
                    "check it with `kdumplab explain --from`)")
    return None


def _checked_low(ev: Evidence, end: int) -> str | None:
    """``crashkernel=128M,low`` added, if the model of the inferred machine then puts a region below ``end``."""
    from kdumplab import model  # noqa: PLC0415

    got = _model_for(ev)
    if got is None or not ev.cmdline:
        return None
    machine, pol = got
    try:
        res = model.run(model.Scenario(machine, f"{ev.cmdline} crashkernel=128M,low", pol))
    except (KdumplabError, ValueError):
        return None
    low = [r for r in res.outcome.regions if r.start < end]
    if not low:
        return None
    return (f"add crashkernel=128M,low (the {pol} model of the machine inferred from this evidence then reserves "
            f"[{low[0].start:#x}, {low[0].end:#x}) below {end:#x})")


def _failed_candidates(ev: Evidence, size: int | None, free: tuple[int, int] | None) -> list[str]:
    """Changes to try, smallest change first: the same size without @offset, ,high with a low region, half
    and a quarter of the size, the largest free block."""
    out = []
    f = ev.family.family
    req = ev.request
    size = size or (req.size if req is not None else None)
    mib = (size or 0) // SZ_1M
    if mib and req is not None and req.base is not None:
        out.append(f"crashkernel={mib}M")
    if mib and f is not None and f.has(Trait.HIGH_LOW):
        out.append(f"crashkernel={mib}M,high crashkernel=128M,low")
    if free is not None and free[1] - free[0] >= 128 * SZ_1M and (not mib or free[1] - free[0] < size):
        out.append(f"crashkernel={(free[1] - free[0]) // SZ_1M // 2 * 2}M")
    for part in (2, 4):
        if mib // part >= 128:
            out.append(f"crashkernel={mib // part}M")
    return out


def _failed_fix(ev: Evidence, size: int | None, free: tuple[int, int] | None) -> str | None:
    req = ev.request
    words = " ".join(req.words) if req else ""
    f = ev.family.family
    if any(e.kind is Kind.PARSE_ERROR for e in ev.events(Kind.PARSE_ERROR)):
        return "correct the crashkernel= syntax (e.g. crashkernel=512M); the kernel rejected the value"
    if free is not None and size and free[1] - free[0] < size:
        fit = (free[1] - free[0]) // SZ_1M // 2 * 2
        if fit >= 128 and f"crashkernel={fit}M" not in words:
            return f"crashkernel={fit}M fits the largest free block (not rerun on a model of this machine)"
    if f is not None and f.has(Trait.HIGH_LOW) and not (req and req.high) and ev.arch == "arm64":
        return "crashkernel=SIZE,high crashkernel=128M,low (not rerun on a model of this machine)"
    if f is not None and not f.has(Trait.HIGH_LOW) and ev.arch == "arm64":
        return "a smaller crashkernel=, or cma= smaller; ,high needs 5.19 or later (not rerun on a model)"
    return "run `kdumplab explain --from` with this evidence for changes checked on the model"


def _occupants(ev: Evidence, win: tuple[int, int] | None) -> list[str]:
    if win is None:
        return []
    out = []
    for e in ev.events(Kind.CMA_RESERVED, Kind.CMA_POOL, Kind.SWIOTLB):
        if e.start is not None and e.end is not None and e.start < win[1] and e.end > win[0]:
            out.append(f"{'CMA' if e.kind is not Kind.SWIOTLB else 'swiotlb'} [{e.start:#x}, {e.end:#x})")
    if ev.iomem is not None:
        for e in ev.iomem.of("this"):
            if e.name in ("Kernel code", "Kernel data") and e.start < win[1]:
                out.append(f"{e.name} [{e.start:#x}, {e.end:#x})")
    return out[:6]


def _largest_free(ev: Evidence, win: tuple[int, int] | None) -> tuple[int, int] | None:
    io = ev.iomem
    if win is None or io is None or not io.whole:
        return None
    best = None
    for ram in io.named("System RAM"):
        if ram.depth != 0:
            continue
        cur = max(ram.start, win[0])
        kids = sorted((e for e in io.of("this") if e.depth == 1 and ram.start <= e.start < ram.end),
                      key=lambda e: e.start)
        for k in kids + [None]:
            stop = min(k.start if k else ram.end, win[1])
            if stop > cur and (best is None or stop - cur > best[1] - best[0]):
                best = (cur, stop)
            if k is not None:
                cur = max(cur, k.end)
    return best


def _outside(ev: Evidence, main: list[Region], end: int, cmd: list[str]) -> Finding:
    f = ev.family.family
    if ev.dma_source:
        src = ev.dma_source
    elif f is not None and f.has(Trait.DMA_FIXED_1G):
        src = f"the {f.name} rule"
    else:
        src = "4 GiB: no Zone ranges in the evidence"
    why = (f"no crash region lies below the end of ZONE_DMA at {end:#x} ({src}): the crash kernel will have no "
           "DMA-zone memory for swiotlb and devices limited to 32-bit (or 30-bit) DMA")
    fix: str | None
    req = ev.request
    if f is not None and f.has(Trait.DMA_FIXED_1G):
        fix = ("kernel 5.10.22+ / 5.11+ places the region inside ZONE_DMA; on this kernel a crashkernel=SIZE@OFFSET "
               f"below {end:#x} keeps it there")
    elif req is not None and req.low is not None:
        fix = None  # a ,low is already asked for; nothing simpler to offer
    elif f is not None and not f.has(Trait.HIGH_LOW):
        fix = "a smaller crashkernel= that fits below the DMA limit (,low needs 5.19 or later on arm64)"
    else:
        fix = _checked_low(ev, end) or "add crashkernel=128M,low (not rerun on a model of this machine)"
    return Finding(Severity.WARNING, "OUTSIDE_DMA_ZONE", why, (*(r.evidence[0] for r in main), *cmd,
                                                               *((ev.dma_source,) if ev.dma_source else ())), fix)


def _loaded_findings(ev: Evidence, cap: Capture, regions: tuple[Region, ...], loaded: int | None,
                     kver: tuple[int, ...] | None, gens: tuple[str, ...], ram: int | None, arch: str) -> list[Finding]:
    out = []
    ev_lines = tuple(r.evidence[0] for r in regions)
    if loaded == 0:
        out.append(Finding(Severity.ERROR, "NOT_LOADED", "a crash region is reserved but no crash kernel "
                           "is loaded into it (kexec_crash_loaded is 0)",
                           (*ev_lines, f"{cap.where('kexec_crash_loaded')}:1: 0"),
                           "start the loader: systemctl enable --now kdump-tools (Debian/Ubuntu) or kdump "
                           "(Fedora/RHEL/SUSE), then check its log for the kexec error"))
    if len(regions) >= 2 and kver and kver < (2, 0, 24):
        out.append(Finding(Severity.ERROR, "KEXEC_TWO_REGIONS",
                           f"kexec-tools {'.'.join(map(str, kver))} with two crash regions: before 2.0.24 "
                           "kexec -p on arm64 uses only one Crash kernel range and fails to load",
                           (*ev_lines, f"{cap.where('kexec_version')}:1: "
                                       f"{one_line((cap.kexec_version or '').strip())}"),
                           "upgrade kexec-tools to 2.0.24 or newer, or use a single crashkernel=X below the "
                           "DMA limit"))
    size = sum(r.size for r in regions)
    need = usual_need(arch, ram) if ram else 0
    if need and size < need:
        out.append(Finding(Severity.WARNING, "SMALL_REGION",
                           f"{size // SZ_1M} MiB reserved; the kdump-utils default for {ram // (1 << 30)} GiB "
                           f"{arch} is {need // SZ_1M} MiB", ev_lines,
                           f"crashkernel={need // SZ_1M}M"))
    if loaded != 0 and len(gens) == 1 and kver:
        out.extend(_vmcore_findings(cap, arch, gens[0], kver))
    return out


def _cma_findings(ev: Evidence) -> list[Finding]:
    out = []
    failed = ev.events(Kind.CMA_FAILED)
    if failed and ev.view == "first kernel":
        out.append(Finding(Severity.WARNING, "CMA_FAILED", "a CMA area could not be reserved",
                           tuple(ev.line(e) for e in failed), "a smaller cma= (or crashkernel=) so both fit"))
    cma = [e for e in ev.events(Kind.CMA_RESERVED, Kind.CMA_POOL) if e.start is not None]
    if not cma or ev.view != "first kernel":
        return out
    end = _dma_end(ev)
    in_low = [e for e in cma if end is None or (e.start or 0) < end]
    this = [r for r in ev.this() if not r.inferred]
    high = ev.request is not None and ev.request.high
    squeezed = ev.outcome == "failed" or (this and end is not None and not high and all(r.start >= end for r in this))
    if in_low and squeezed and ev.arch == "arm64":
        out.append(Finding(Severity.WARNING, "CMA_COMPETES", "a CMA area was placed in the low window before the "
                           "crash reservation (5.10-7.2 reserve CMA first when DMA zones exist) and takes room the "
                           "crash region needs", tuple(ev.line(e) for e in in_low),
                           "cma=0 or a smaller cma= frees the window"))
    return out
