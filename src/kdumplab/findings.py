"""A Capture -> Findings: what is wrong with kdump on that machine, with the exact lines that show it.

Pure: no I/O. First the captured texts are read backwards into the kernel generations and kexec-tools versions
that could have produced them (style.md, "the table also runs backwards"), then each check looks at them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from kdumplab import iomem, policy
from kdumplab.capture import Capture
from kdumplab.errors import KdumplabError
from kdumplab.inputfile import one_line
from kdumplab.machine import Machine
from kdumplab.policy import Feature
from kdumplab.ranges import SZ_1M, SZ_4G
from kdumplab.recommend import usual_need

__all__ = ["Severity", "Finding", "Analysis", "analyze", "kexec_version"]



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


@dataclass(frozen=True, slots=True)
class CrashLine:
    start: int
    end: int
    name: str
    where: str
    text: str


@dataclass(frozen=True, slots=True)
class Analysis:
    source: str
    arch: str
    release: str | None
    generations: tuple[str, ...]
    kexec_versions: tuple[str, ...]
    regions: tuple[CrashLine, ...]
    findings: tuple[Finding, ...]

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)


_LINE_MAX = 1024  # kernel/printk: a record's text is shorter than 1 KiB


def _lines(cap: Capture, field: str, pattern: str) -> list[str]:
    text = getattr(cap, field) or ""
    where = cap.where(field)
    rx = re.compile(pattern)
    # A printk record is at most 1 KiB; searching only a line's head keeps the patterns linear on garbage.
    return [f"{where}:{n}: {one_line(line.strip())}" for n, line in enumerate(text.splitlines(), 1)
            if rx.search(line, 0, _LINE_MAX)]


def kexec_version(text: str | None) -> tuple[int, ...] | None:
    m = re.search(r"kexec-tools\s+([0-9]{1,9})\.([0-9]{1,9})\.([0-9]{1,9})(?![0-9])", text or "")
    return tuple(int(x) for x in m.groups()) if m else None


def _crash_lines(cap: Capture) -> tuple[CrashLine, ...]:
    where = cap.where("iomem")
    iomem.parse(cap.iomem or "", where)  # refuses garbage with file:line
    out = []
    for n, raw in enumerate((cap.iomem or "").splitlines(), 1):
        m = re.match(r"^\s*([0-9a-fA-F]+)-([0-9a-fA-F]+) : (Crash kernel.*)$", raw)
        if m:
            out.append(CrashLine(int(m.group(1), 16), int(m.group(2), 16) + 1, m.group(3), f"{where}:{n}",
                                 one_line(raw.strip())))
    return tuple(out)


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def _dma_limit(cap: Capture) -> int | None:
    """The end of ZONE_DMA from the 'Zone ranges' lines of the boot log (arm64's CRASH_ADDR_LOW_MAX)."""
    m = re.search(r"^\S*\s*(?:\[[^\]]*\]\s*)?DMA\s+\[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]", cap.kernel_log or "",
                  re.M)
    return int(m.group(2), 16) + 1 if m else None


def _probe_machine(cap: Capture, arch: str, regions: tuple[CrashLine, ...]) -> Machine | None:
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


def _generations(cap: Capture, arch: str, regions: tuple[CrashLine, ...], crash_size: int | None) -> tuple[str, ...]:
    rows = policy.all_policies(arch)
    probe = _probe_machine(cap, arch, regions)
    if cap.release:
        try:
            return (policy.for_kernel(cap.release, arch).name,)
        except KdumplabError:
            pass  # a release between generations: fall back to what the texts show
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


def analyze(cap: Capture) -> Analysis:
    """Every finding for one capture, worst first."""
    if cap.iomem is None:
        raise KdumplabError(cap.source, "no proc/iomem in the capture", "it is the one file check needs")
    arch = cap.arch or "arm64"
    regions = _crash_lines(cap)
    crash_size = _int(cap.kexec_crash_size)
    loaded = _int(cap.kexec_crash_loaded)
    kver = kexec_version(cap.kexec_version)
    gens = _generations(cap, arch, regions, crash_size)
    if kver:
        kexecs: tuple[str, ...] = (".".join(map(str, kver)),)
    elif len(regions) == 2 and loaded == 1:
        kexecs = ("2.0.24+ (two regions were loaded; 2.0.20 refuses them)",)
    else:
        kexecs = ("unknown",)
    cmd = _lines(cap, "cmdline", r"crashkernel=") or ([f"{cap.where('cmdline')}:1: {one_line(cap.cmdline.strip())}"]
                                                       if cap.cmdline else [])
    logl = _lines(cap, "kernel_log", r"(?i)crashkernel|crash kernel")
    # MemTotal leaves the crash regions out; add them back to get near the RAM size the range tables match
    ram = cap.memtotal + sum(r.end - r.start for r in regions) if cap.memtotal else None
    out: list[Finding] = []
    low_max = _dma_limit(cap) or SZ_4G
    hidden = [r for r in regions if r.start == 0 and r.end == 1]
    if hidden and iomem.addresses_hidden(iomem.parse(cap.iomem, cap.where("iomem"))):
        out.append(Finding(Severity.WARNING, "ADDRESSES_HIDDEN", "/proc/iomem was read without root: all "
                           "addresses are 0", tuple(r.where + ": " + r.text for r in hidden),
                           "capture /proc/iomem as root"))
        regions = ()
    if not regions:
        if crash_size:
            out.append(Finding(Severity.ERROR, "REGION_NOT_IN_IOMEM",
                               f"kexec_crash_size is {crash_size} but /proc/iomem has no Crash kernel line: a "
                               "region of a byte or so is reserved but never inserted (6.12+ inserts only if "
                               "start < end), and kexec -p has nothing to load into",
                               (f"{cap.where('kexec_crash_size')}:1: {crash_size}", *cmd, *logl),
                               "give crashkernel= a real size, e.g. crashkernel=512M"))
        else:
            need = usual_need(arch, ram) if ram else 0
            out.append(Finding(Severity.ERROR, "NO_REGION", "no crash kernel region is reserved",
                               tuple(cmd + logl) or (f"{cap.where('iomem')}: no 'Crash kernel' line",),
                               f"add crashkernel={need // SZ_1M}M (kdump-utils default for this RAM)" if need
                               else "add crashkernel=512M to the kernel command line"))
    else:
        ev = tuple(f"{r.where}: {r.text}" for r in regions)
        if loaded == 0:
            out.append(Finding(Severity.ERROR, "NOT_LOADED", "a crash region is reserved but no crash kernel "
                               "is loaded into it (kexec_crash_loaded is 0)",
                               (*ev, f"{cap.where('kexec_crash_loaded')}:1: 0"),
                               "start the loader: systemctl enable --now kdump-tools (Debian/Ubuntu) or kdump "
                               "(Fedora/RHEL/SUSE), then check its log for the kexec error"))
        if len(regions) >= 2 and kver and kver < (2, 0, 24):
            out.append(Finding(Severity.ERROR, "KEXEC_TWO_REGIONS",
                               f"kexec-tools {'.'.join(map(str, kver))} with two crash regions: before 2.0.24 "
                               "kexec -p on arm64 uses only one Crash kernel range and fails to load",
                               (*ev, f"{cap.where('kexec_version')}:1: {one_line((cap.kexec_version or '').strip())}"),
                               "upgrade kexec-tools to 2.0.24 or newer, or use a single crashkernel=X below the "
                               "DMA limit"))
        main = max(regions, key=lambda r: r.end - r.start)
        lows = [r for r in regions if r.end <= low_max]
        if main.start >= low_max and not lows:
            out.append(Finding(Severity.WARNING, "HIGH_WITHOUT_LOW",
                               f"the crash region lies above {low_max:#x} and no low region exists: the crash "
                               "kernel's swiotlb and 32-bit DMA find no low memory (6.1 ,high gives no default "
                               ",low)", (*ev, *cmd), "add crashkernel=128M,low"))
        size = sum(r.end - r.start for r in regions)
        need = usual_need(arch, ram) if ram else 0
        if need and size < need:
            out.append(Finding(Severity.WARNING, "SMALL_REGION",
                               f"{size // SZ_1M} MiB reserved; the kdump-utils default for {ram // (1 << 30)} GiB "
                               f"{arch} is {need // SZ_1M} MiB", ev,
                               f"crashkernel={need // SZ_1M}M"))
        if loaded != 0 and len(gens) == 1 and kver:
            out.extend(_vmcore_findings(cap, arch, gens[0], kver))
    fail = _lines(cap, "kernel_log", r"(?i)crashkernel.*(fail|cannot|in use|not enough|too)"
                  r"|(fail|cannot).*crash")
    if fail:
        out.append(Finding(Severity.ERROR if not regions else Severity.WARNING, "RESERVATION_FAILED_LOG",
                           "the boot log reports a crash reservation problem", tuple(fail),
                           "run `kdumplab explain` with this machine and cmdline for the smallest change"))
    cma = _lines(cap, "kernel_log", r"(?i)cma: Reserved|created CMA memory pool")
    if cma:
        sev = Severity.WARNING if (fail or not regions) else Severity.INFO
        out.append(Finding(sev, "CMA_PLACEMENT", "a CMA area was reserved at boot"
                           + ("; where CMA goes before the crash reservation (5.10-7.2 defer the crash "
                              "reservation past it when DMA zones exist) it can take the low window" if sev else ""),
                           tuple(cma), "cma=0 or a smaller cma= frees the window" if sev else None))
    if not out:
        out.append(Finding(Severity.INFO, "OK", "a crash region is reserved and a crash kernel is loaded",
                           tuple(f"{r.where}: {r.text}" for r in regions)))
    out.sort(key=lambda f: -f.severity)
    return Analysis(cap.source, arch, cap.release, gens, kexecs, regions, tuple(out))
