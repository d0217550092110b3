"""All the evidence one capture holds, combined into one reading: which kernel wrote it, the crash regions with
where each comes from, what was asked for, what happened, and which family of kernels it was.

The combiner of insights-core's pattern (style.md section 6): the lenient iomem reader
(``kdumplab.iomem_lenient``) and the log scanner (``kdumplab.logscan``) each say what they saw; here the two
are merged, and where they disagree the disagreement is kept (``conflicts``) instead of one side winning
silently. Pure: a ``Capture`` (plus whether /proc/vmcore exists) in, an ``Evidence`` out.

Which boot is "this": the last boot of the log (a paste that holds the first kernel's boot and then the crash
kernel's is read as written by the crash kernel); earlier boots and the ``-`` side of a diff are ``other``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, replace

from kdumplab import family as fam
from kdumplab import iomem_lenient, logscan
from kdumplab.capture import Capture
from kdumplab.errors import KdumplabError
from kdumplab.inputfile import one_line
from kdumplab.logscan import Kind
from kdumplab.ranges import SZ_1M, SZ_4G

__all__ = ["Region", "Evidence", "gather", "crash_request"]



@dataclass(frozen=True, slots=True)
class Region:
    """A crash region ``[start, end)``; ``source`` iomem, log or both; ``boot`` this or other."""

    name: str
    start: int
    end: int
    source: str
    boot: str = "this"
    evidence: tuple[str, ...] = ()
    #: read from the crash kernel's System RAM, not from a Crash kernel line
    inferred: bool = False

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def where(self) -> str:
        return self.evidence[0].split(": ", 1)[0] if self.evidence else self.source

    @property
    def text(self) -> str:
        return self.evidence[0].split(": ", 1)[-1] if self.evidence else ""


@dataclass(frozen=True, slots=True)
class Request:
    """What ``crashkernel=`` on a command line asks for (the words, read loosely)."""

    words: tuple[str, ...]
    high: bool = False
    low: str | None = None
    base: int | None = None
    #: the size of a plain ``crashkernel=SIZE[@BASE]`` or ``SIZE,high`` (None for range lists)
    size: int | None = None

    @property
    def requested(self) -> bool:
        return bool(self.words)


_CK = re.compile(r"(?:^|\s)crashkernel=(\S{1,200})")


def crash_request(cmdline: str | None) -> Request | None:
    """The crashkernel= words of a command line; None when the command line is unknown."""
    if cmdline is None:
        return None
    words = tuple(_CK.findall(cmdline))
    high = any(w.endswith(",high") for w in words)
    low = next((w for w in words if w.endswith(",low")), None)
    base = size = None
    for w in words:
        if w.endswith(",low"):
            continue
        head = w.removesuffix(",high")
        with contextlib.suppress(ValueError):
            size = _memparse(head.split("@", 1)[0])
        if "@" in head:
            try:
                base = _memparse(head.rsplit("@", 1)[1])
            except ValueError:
                base = None
    return Request(words, high, low, base, size)


def _memparse(text: str) -> int:
    m = re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)([KMGTPE]?)", text.strip())
    if not m:
        raise ValueError(text)
    n = int(m.group(1), 0)
    return n << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}[m.group(2)]


@dataclass(frozen=True, slots=True)
class Evidence:
    source: str
    arch: str
    release: str | None
    view: str
    outcome: str
    regions: tuple[Region, ...]
    family: fam.FamilyGuess
    cmdline: str | None
    cmdline_where: str | None
    request: Request | None
    log: logscan.LogScan | None
    iomem: iomem_lenient.IomemText | None
    this_boot: logscan.Boot | None
    #: why the writer is taken to be a crash kernel
    capture_reasons: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    partial: tuple[str, ...] = ()
    #: end of ZONE_DMA as this evidence shows it, and from where
    dma_end: int | None = None
    dma_source: str = ""
    ram: tuple[tuple[int, int], ...] = ()
    #: lines of kdump's tools saying no region is reserved
    tools_none: tuple[str, ...] = ()
    #: x86: the initrd as this boot's "RAMDISK: [mem A-B]" line gives it, [start, end) (where KASLR and memblock
    #: kept out of its way), or None
    initrd: tuple[int, int] | None = None
    #: this boot came through UEFI ("efi: EFI v2.70 by EDK II" and the like): the kernel's place was drawn from
    #: the EFI memory map, which a log shows only with efi=debug
    efi_boot: bool = False

    def events(self, *kinds: Kind) -> tuple[logscan.Event, ...]:
        return self.this_boot.of(*kinds) if self.this_boot else ()

    def line(self, e: logscan.Event) -> str:
        return f"{self.log.where if self.log else 'log'}:{e.lineno}: {one_line(e.text)}"

    def this(self) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.boot == "this")


def _release(cap: Capture, boot: logscan.Boot | None) -> tuple[str | None, str | None]:
    """(uname -r, Debian's upstream version from 'Linux version ... Debian 5.10.223-1') ."""
    rel = cap.release
    debian = None
    text = (cap.version or "")
    if boot is not None:
        v = boot.first(Kind.LINUX_VERSION)
        if v is not None:
            rel = rel or v.value
            text += " " + v.text
    m = re.search(r"Debian (\d+\.\d+\.\d+)-\S+ \(\d{4}-\d\d-\d\d\)", text)
    if m:
        debian = m.group(1)
    return rel, debian


_ARM64_WORDS = re.compile(r"Booting Linux on physical CPU|Machine model:|psci: |GICv[234]|aarch64|arm64|"
                          r"SMCCC|Ampere|ThunderX|Kunpeng|Graviton|Neoverse|Cortex-A")
_X86_WORDS = re.compile(r"BIOS-e820|x86/|e820: |x86_64|x86-64|Intel|AMD |DMI: .{0,40}(?:BIOS|Dell|HP|Lenovo)|"
                        r"smpboot: CPU0: (?:Intel|AMD)|tsc: ")


def _arch(cap: Capture, log: logscan.LogScan | None, release: str | None) -> str | None:
    """arm64 or x86_64: uname, the release's suffix, or the words of the log; None when nothing says."""
    if cap.arch:
        return cap.arch
    rel = release or ""
    if re.search(r"arm64|aarch64|raspi|-v8\b|-v8\+|rpi|-64k|tegra", rel):
        return "arm64"
    if re.search(r"amd64|x86_64|\.x86|-generic$|-aws$|-azure$", rel):
        return "x86_64"
    text = (cap.kernel_log or "")[:1 << 20]
    arm = len(_ARM64_WORDS.findall(text))
    x86 = len(_X86_WORDS.findall(text))
    if arm or x86:
        return "arm64" if arm >= x86 else "x86_64"
    return None


#: what kdump's user-space tools print when no crash region exists (kdumpctl, kdump-tools/kexec, xsos)
_TOOLS_NONE = re.compile(r"No memory reserved for crash kernel|Memory for crashkernel is not reserved|"
                         r"Memory IS NOT reserved|crashkernel param not present|"
                         r"Please reserve memory by passing")


def _other(text: str | None, where: str) -> tuple[tuple[str, ...], iomem_lenient.IomemText | None]:
    """Free text of any kind (tool output, notes): the lines where a kdump tool says nothing is reserved, and
    any /proc/iomem lines in the kernel's own format it quotes."""
    if not text:
        return (), None
    lines = text.splitlines()[:20000]
    none = tuple(f"{where}:{n}: {one_line(ln.strip())}" for n, ln in enumerate(lines, 1)
                 if _TOOLS_NONE.search(ln, 0, 400))
    quoted = "\n".join(ln if iomem_lenient.KERNEL_LINE.match(ln.strip()) else "" for ln in lines)
    io = None
    if quoted.strip():
        try:
            io = iomem_lenient.read(quoted, where)
        except KdumplabError:
            io = None
    return none, io


def gather(cap: Capture, vmcore: bool = False, release: str | None = None, arch: str | None = None,
           other: str | None = None, other_where: str = "other") -> Evidence:
    """Read every text of the capture leniently and combine them."""
    log = logscan.scan(cap.kernel_log, cap.where("kernel_log")) if cap.kernel_log else None
    io = iomem_lenient.read(cap.iomem, cap.where("iomem")) if cap.iomem is not None else None
    tools_none, other_io = _other(other, other_where)
    if io is None and other_io is not None:
        io = replace(other_io, form="grep")
    boots = log.boots if log else ()
    this_boot = boots[-1] if boots else None
    rel, debian = _release(cap, this_boot)
    rel = release or rel
    arch = arch or _arch(cap, log, rel) or "arm64"
    partial: list[str] = []
    if io is not None:
        if io.mangled:
            partial.append(f"{io.where}:{io.mangled[0]}: {len(io.mangled)} line(s) not readable as iomem, skipped")
        if io.elided:
            partial.append(f"{io.where}:{io.elided[0]}: an excerpt ('...'): lines were left out")
    if log is not None and log.repaired:
        partial.append(f"{log.where}:{log.repaired[0]}: {len(log.repaired)} wrapped line(s) joined back")

    # the command line: /proc/cmdline first, else the log's
    cmdline = cmdline_where = None
    if cap.cmdline is not None:
        cmdline = _clean_cmdline(cap.cmdline)
        cmdline_where = f"{cap.where('cmdline')}:1"
    elif this_boot is not None and this_boot.cmdline is not None:
        e = this_boot.first(Kind.CMDLINE)
        cmdline, cmdline_where = this_boot.cmdline, f"{log.where}:{e.lineno}" if log and e else None
    request = crash_request(cmdline)
    log_cmdline = this_boot.cmdline if this_boot is not None else None

    # which kernel wrote this
    reasons: list[str] = []
    if vmcore:
        reasons.append("/proc/vmcore exists: only a kernel booted with an elfcorehdr has it")
    if this_boot is not None:
        for e in this_boot.of(Kind.ELFCOREHDR):
            reasons.append(f"{log.where}:{e.lineno}: {one_line(e.text)}")
        for e in this_boot.of(Kind.KDUMP_HINT)[:2]:
            reasons.append(f"{log.where}:{e.lineno}: {one_line(e.text)}")
    for text, where in ((cmdline, cmdline_where), (log_cmdline, None)):
        if text and logscan._CRASH_CMDLINE.search(text):
            m = logscan._CRASH_CMDLINE.search(text)
            reasons.append(f"{where or 'log'}: the command line has '{m.group(0).strip()}', which kdump adds for "
                           "the crash kernel")
            break
    other_log_regions = _log_regions(log, boots[:-1], "other") if len(boots) > 1 else []
    crash_ram = _crash_view_ram(io)
    if not reasons and io is not None and other_log_regions and crash_ram:
        firsts = {(r.start, r.end) for r in other_log_regions}
        if all(any(a <= s and e <= b for a, b in firsts) for s, e in crash_ram):
            reasons.append(f"{io.where}: System RAM is exactly the first kernel's crash region(s)")
    usable = _usable_layout(io, this_boot, log)
    if not reasons and usable and not (this_boot and this_boot.of(*logscan.RESERVED, *logscan.FAILURES)) \
            and not (io is not None and io.crash()):
        reasons.append(f"{usable[0][2]}: memory is one range of a whole number of MiB at a 2 MiB-aligned base that "
                       "no DRAM bank starts at, plus small firmware ranges: the layout a crash kernel is given "
                       "(linux,usable-memory-range / memmap=), inferred")
    view = "crash kernel" if reasons else "first kernel"

    regions, conflicts = _merge(io, log, this_boot, boots, view)
    if view == "crash kernel" and this_boot is not None and not [r for r in regions if r.boot == "other"]:
        # the first two usable-memory-range pairs are crashk_res and crashk_low_res; later ones are not
        # Crash kernel resources (7.x crash CMA areas)
        for e in this_boot.of(Kind.USABLE_RANGE):
            if e.value in ("0", "1") and e.start is not None and e.end is not None:
                regions.append(Region("Crash kernel", e.start, e.end, "log", "this",
                                      (f"{log.where if log else 'log'}:{e.lineno}: {one_line(e.text)}",),
                                      inferred=True))
                usable = []
    if view == "crash kernel" and not [r for r in regions if r.boot == "other"] and usable:
        # what the crash kernel's memory shows of the first kernel's regions: kexec-tools passes the crash
        # regions as the crash kernel's usable memory (arm64 linux,usable-memory-range, x86 memmap/e820)
        for s, e, where, source in usable:
            regions.append(Region("Crash kernel", s, e, source, "this", (f"{where}: {s:x}-{e - 1:x}",),
                                  inferred=True))
    outcome = _outcome(view, regions, this_boot, request, io, tools_none)
    dma_end, dma_source = _dma_end(this_boot, boots, view, arch, io, log.where if log else "log")
    w = _wording(arch, log, this_boot, dma_end, request)
    guess = fam.decide(rel, arch, w, debian)
    ram = _ram(io, this_boot)
    if io is not None and io.hidden:
        partial.append(f"{io.where}: every address is 0 (read without root)")
    return Evidence(cap.source, arch, rel, view, outcome, tuple(regions), guess, cmdline, cmdline_where, request,
                    log, io, this_boot, tuple(reasons), tuple(conflicts), tuple(partial), dma_end, dma_source, ram,
                    tools_none, _ramdisk(cap.kernel_log, this_boot), _efi_boot(cap.kernel_log, this_boot))


#: arch/x86/kernel/setup.c early_reserve_initrd / reserve_initrd: "RAMDISK: [mem 0x7fed4000-0x7ffcffff]"
_RAMDISK = re.compile(r"RAMDISK: \[mem (0x[0-9a-f]{1,16})-(0x[0-9a-f]{1,16})\]")


_EFI_FIRMWARE = re.compile(r"\befi: EFI v\d+\.\d+ by ")


def _efi_boot(text: str | None, boot: logscan.Boot | None) -> bool:
    """Does this boot's log name the EFI firmware (drivers/firmware/efi/efi.c efi_systab_report_header)?"""
    if not text or boot is None:
        return False
    return any(_EFI_FIRMWARE.search(ln[:200]) for ln in text.splitlines()[max(boot.first_line - 1, 0):boot.last_line]
               if "EFI v" in ln)


def _ramdisk(text: str | None, boot: logscan.Boot | None) -> tuple[int, int] | None:
    """The last "RAMDISK:" line of this boot (x86 prints it once, page-rounded, end inclusive)."""
    if not text or boot is None:
        return None
    lines = text.splitlines()[max(boot.first_line - 1, 0):boot.last_line]
    hits = [m for ln in lines if "RAMDISK" in ln and (m := _RAMDISK.search(ln[:400]))]
    if not hits:
        return None
    start, end = int(hits[-1][1], 16), int(hits[-1][2], 16) + 1
    return (start, end) if start < end else None


_PROMPT = re.compile(r"^\s*(?:[#$%]|\S+@\S+[:~]\S*\s*[$#])\s")


def _clean_cmdline(text: str) -> str:
    """/proc/cmdline as pasted: prompt lines dropped, wrapped lines joined."""
    parts = [ln.strip() for ln in text.splitlines() if ln.strip() and not _PROMPT.match(ln)]
    return " ".join(p.lstrip("> ") for p in parts)


def _log_regions(log: logscan.LogScan | None, boots: tuple[logscan.Boot, ...] | list[logscan.Boot],
                 boot: str) -> list[Region]:
    out = []
    for b in boots:
        for e in b.of(*logscan.RESERVED):
            out.append(Region("Crash kernel", e.start or 0, e.end or 0, "log", boot,
                              (f"{log.where if log else 'log'}:{e.lineno}: {one_line(e.text)}",)))
    return out


def _mb_event(r: Region) -> bool:
    return "Reserving" in r.text


def _same(a: Region, b: Region) -> bool:
    if (a.start, a.end) == (b.start, b.end):
        return True
    # x86 wording has MB granularity
    mb = _mb_event(a) or _mb_event(b)
    return mb and a.start >> 20 == b.start >> 20 and a.size >> 20 == b.size >> 20


def _merge(io: iomem_lenient.IomemText | None, log: logscan.LogScan | None, this_boot: logscan.Boot | None,
           boots: tuple[logscan.Boot, ...], view: str) -> tuple[list[Region], list[str]]:
    regions: list[Region] = []
    conflicts: list[str] = []
    io_this = [Region(e.name, e.start, e.end, "iomem", e.boot, (f"{io.where}:{e.lineno}: {one_line(e.text)}",))
               for e in io.entries if e.is_crash and not (e.start == 0 and e.end == 1)] if io else []
    log_this = _log_regions(log, [this_boot], "this") if this_boot is not None else []
    log_other = _log_regions(log, list(boots[:-1]), "other") if len(boots) > 1 else []
    failures = this_boot.of(*logscan.FAILURES) if this_boot is not None else ()
    io_shows = io is not None and (bool([r for r in io_this if r.boot == "this"]) or io.form == "full")
    used: set[int] = set()
    for r in io_this:
        match = next((i for i, lr in enumerate(log_this) if i not in used and _same(r, lr)), None)
        if match is not None and r.boot == "this":
            used.add(match)
            regions.append(Region(r.name, r.start, r.end, "both", "this", r.evidence + log_this[match].evidence))
        else:
            regions.append(r)
    for i, lr in enumerate(log_this):
        if i in used:
            continue
        if any(r.boot == "other" and _same(r, lr) for r in io_this):
            continue  # the log line is the other boot's (the '-' side of a diff shows the same region)
        if io_shows and view == "first kernel" and lr.size > 1:  # 6.12+: a 1-byte region is never inserted
            conflicts.append(f"{lr.evidence[0]} is not in {io.where if io else 'iomem'}")
            regions.append(Region(lr.name, lr.start, lr.end, "log", "other", lr.evidence))
        else:
            regions.append(lr)
    if failures and [r for r in io_this if r.boot == "this"] and view == "first kernel" and not log_this:
        f = failures[0]
        conflicts.append(f"{log.where if log else 'log'}:{f.lineno}: {f.text} -- but "
                         f"{io_this[0].evidence[0]} shows a region")
    for lr in log_other:
        if not any(_same(lr, r) for r in regions):
            regions.append(lr)
    regions.sort(key=lambda r: (r.boot != "this", r.start))
    return regions, conflicts


def _usable_layout(io: iomem_lenient.IomemText | None, boot: logscan.Boot | None,
                   log: logscan.LogScan | None) -> list[tuple[int, int, str, str]]:
    """Memory ranges laid out as a crash kernel's: the big ones each a whole number of MiB at a 2 MiB-aligned
    base that is not 256 MiB-aligned (DRAM banks start at 0, 1 GiB, 2 GiB ...; crash regions anywhere 2 MiB
    aligned), every other range under 64 MiB (firmware NOMAP ranges the crash kernel keeps)."""
    cands: list[tuple[int, int, str, str]] = []
    if io is not None and io.named("System RAM"):
        cands = [(e.start, e.end, f"{io.where}:{e.lineno}", "iomem") for e in io.named("System RAM")
                 if e.depth in (0, None)]
    elif boot is not None and boot.of(Kind.NODE_RANGE):
        cands = [(e.start or 0, e.end or 0, f"{log.where if log else 'log'}:{e.lineno}", "log")
                 for e in boot.of(Kind.NODE_RANGE)]
    big = [c for c in cands if c[1] - c[0] >= 64 * SZ_1M]
    if not big or len(big) > 2:
        return []
    for s, e, _, _ in big:
        if s % (2 * SZ_1M) or not s % (256 * SZ_1M) or (e - s) % SZ_1M:
            return []
    return big


def _crash_view_ram(io: iomem_lenient.IomemText | None) -> list[tuple[int, int]]:
    if io is None:
        return []
    return [(e.start, e.end) for e in io.of("this") if e.name == "System RAM" and e.depth in (0, None)]


def _outcome(view: str, regions: list[Region], boot: logscan.Boot | None, request: object,
             io: iomem_lenient.IomemText | None, tools_none: tuple[str, ...] = ()) -> str:
    if view == "crash kernel":
        return "reserved"
    if [r for r in regions if r.boot == "this"]:
        return "reserved"
    if boot is not None and boot.of(*logscan.FAILURES, Kind.SIZE_ZERO):
        return "failed"
    req = request
    if req is not None and not req.requested:  # type: ignore[attr-defined]
        return "not requested"
    if tools_none:
        return "failed" if req is not None and req.requested else "not requested"  # type: ignore[attr-defined]
    if req is None and io is not None and io.form == "full" and boot is None:
        return "failed"  # a whole /proc/iomem with no Crash kernel line: nothing is reserved
    if req is not None and req.requested:  # type: ignore[attr-defined]
        if io is not None and io.form == "full":
            return "failed"
        if boot is not None and boot.of(Kind.MEMORY) and (boot.of(Kind.LINUX_VERSION) or boot.of(Kind.BOOTING)):
            return "failed"
    return "unknown"


def _dma_end(this_boot: logscan.Boot | None, boots: tuple[logscan.Boot, ...], view: str, arch: str,
             io: iomem_lenient.IomemText | None, where: str = "log") -> tuple[int | None, str]:
    """ZONE_DMA's end in the first kernel: its own Zone ranges lines (x86: 4 GiB, where swiotlb must be)."""
    if arch == "x86_64":
        return SZ_4G, "x86: swiotlb and 32-bit DMA need memory below 4 GiB"
    cands = [b for b in boots if not b.is_crash_kernel] if boots else []
    if view == "first kernel" and this_boot is not None:
        cands = [this_boot] + [b for b in cands if b is not this_boot]
    for b in cands:
        zones = {e.value: e for e in b.of(Kind.ZONE)}
        z = zones.get("DMA") if zones.get("DMA") and zones["DMA"].end else zones.get("DMA32")
        if z is not None and z.end:
            return z.end, f"{where}:{z.lineno}: {one_line(z.text)}"
    return None, ""


def _wording(arch: str, log: logscan.LogScan | None, boot: logscan.Boot | None, dma_end: int | None,
             request: Request | None) -> fam.Wording:
    events = log.events if log else ()
    x86 = any(e.kind in (Kind.CRASH_RESERVED_MB, Kind.CRASH_LOW_RESERVED_MB, Kind.NO_AREA, Kind.LOW_FAILED_X86)
              for e in events)
    main = any(e.kind in (Kind.CRASH_RESERVED, Kind.CRASH_LOW_RESERVED, Kind.CANNOT_ALLOCATE) for e in events)
    low = any(e.kind is Kind.CRASH_LOW_RESERVED for e in events)
    zones = {e.value: e for e in boot.of(Kind.ZONE)} if boot else {}
    dma = zones.get("DMA")
    dma32 = zones.get("DMA32")
    nodes = boot.of(Kind.NODE_RANGE) if boot else ()
    kinds = {e.kind for e in (boot.events if boot else ())}
    return fam.Wording(arch, x86, main, low, dma.start if dma else None, dma.end if dma else None,
                       bool(dma32 and dma32.end), max((e.end or 0 for e in nodes), default=None),
                       bool(request and (request.high or request.low)), frozenset(zones),
                       Kind.IN_USE in kinds, bool(kinds & {Kind.NOT_MEMORY, Kind.OVERLAPS, Kind.NOT_ALIGNED}))


def _ram(io: iomem_lenient.IomemText | None, boot: logscan.Boot | None) -> tuple[tuple[int, int], ...]:
    if boot is not None and boot.of(Kind.NODE_RANGE):
        return tuple(sorted((e.start or 0, e.end or 0) for e in boot.of(Kind.NODE_RANGE)))
    if io is not None:
        return tuple(sorted((e.start, e.end) for e in io.of("this") if e.name == "System RAM"))
    return ()
