"""Kernel log text as people paste it -> boots -> events about memory and the crash reservation.

Reads every form a kernel log reaches a bug report in: plain ``dmesg`` (``[    0.000000] text``, with or
without a ``<6>`` level and a ``[  T0]`` caller field), ``dmesg -T`` / ``--time-format iso``, ``dmesg -x``
facility prefixes, no timestamps, ``journalctl -k`` (short, short-precise, short-iso, short-monotonic, with
its ``-- Boot ... --`` separators), syslog / kern.log lines (``Mar  1 10:00:00 host kernel: [ 0.0] text``),
serial consoles with escape sequences and junk before the timestamp, and mail quoting (``> ``). Lines that a
mail client wrapped are joined again where a known message was cut (a head without its tail), and in a
timestamped log a line with no timestamp after ``Kernel command line:`` is taken as its continuation.

Text holding several boots (a second ``Booting Linux`` / ``Linux version``, a timestamp that falls back to
zero, a journal boot separator) is split into boots, never merged: the crash kernel's log after the first
kernel's is a boot of its own.

Every event names its line. Time is linear in the input and memory is bounded by it: each line is cut to
``MAX_LINE`` characters, only anchored patterns and bounded ``search`` windows are used, and no pattern
nests quantifiers.

The wording matched is the kernel's (file/function of the release that prints it):

- arm64 ``reserve_crashkernel`` (arch/arm64/mm/init.c, 4.12-6.6) and ``reserve_crashkernel_generic``
  (kernel/crash_reserve.c, 6.9+; kernel/crash_core.c 6.7-6.8): ``crashkernel reserved: 0x%016llx - 0x%016llx
  (%lld MB)`` (the second address is the exclusive end), ``crashkernel low memory reserved: 0x%08llx -
  0x%08llx (%lld MB)``, ``cannot allocate crashkernel (size:0x%llx)``, ``cannot allocate crashkernel low memory
  (size:0x%llx).``, ``cannot reserve crashkernel: region is not memory`` / ``region overlaps reserved memory``
  / ``base address is not 2MB aligned`` (5.10), ``crashkernel reservation failed - memory is in use.``;
- x86 ``reserve_crashkernel`` / ``reserve_crashkernel_low`` (arch/x86/kernel/setup.c 4.x-6.6; the low half in
  kernel/crash_core.c from 5.9): ``Reserving %ldMB of memory at %ldMB for crashkernel (System RAM: %ldMB)``,
  ``Reserving %ldMB of low memory at %ldMB for crashkernel (low RAM limit: %ldMB)``, ``crashkernel reservation
  failed - No suitable area found.``, ``Cannot reserve %ldMB crashkernel low memory, please try smaller size.``;
  the 2019-20 out-of-tree arm64 series ("support reserving crashkernel above 4G on arm64 kdump", v5-v14)
  reused that wording, with a ``kexec_core:`` prefix in its early versions and ``(System low RAM: ..)``;
- the parser (kernel/crash_core.c ``parse_crashkernel_mem``/``_simple``/``_suffix``, 5.10): ``crashkernel:
  memory value expected``, ``crashkernel: Memory value expected``, bare ``Memory value expected`` and
  ``Memory value expected after '@'``, ``crashkernel: unrecognized char: %c``, ``crashkernel: '-' expected``,
  ``crashkernel: ':' expected``, ``crashkernel: end <= start``, ``crashkernel: invalid size``, ``crashkernel
  size resulted in zero bytes``; 6.12's typo ``crahskernel:``;
- mm/cma.c (``cma: Reserved %lu MiB at %pa``, ``cma: Failed to reserve %lu MiB``), mm/page_alloc.c
  (``Memory: %luK/%luK available (... %luK cma-reserved)``, ``Zone ranges:``, ``Early memory node ranges``),
  drivers/of/of_reserved_mem.c (``OF: reserved mem: ...``), arch/arm64/kernel/setup.c (``Machine model:``),
  init/main.c (``Linux version``, ``Kernel command line:``);
- the crash kernel's own lines: ``Reserving %lldKB of memory at 0x%llx for elfcorehdr`` (arm64 5.10),
  ``OF: fdt: Reserving %llu KiB of memory at 0x%llx for elfcorehdr`` (6.1+), ``elfcorehdr is overlapped``,
  ``elfcorehdr=`` on the command line (x86 and ``kexec_file``), driver lines under ``is_kdump_kernel()``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

__all__ = ["Kind", "Event", "Boot", "LogScan", "scan", "strip_prefixes", "MAX_LINE", "FAILURES", "RESERVED"]

#: longer lines are cut before matching (a kernel printk record is at most 1024 bytes)
MAX_LINE = 2048


class Kind(enum.Enum):
    LINUX_VERSION = "Linux version"
    BOOTING = "Booting Linux"
    MACHINE_MODEL = "Machine model"
    CMDLINE = "Kernel command line"
    #: mainline arm64 / generic: exact hex, exclusive end
    CRASH_RESERVED = "crashkernel reserved"
    CRASH_LOW_RESERVED = "crashkernel low memory reserved"
    #: x86 wording (and the out-of-tree arm64 series): MB granularity
    CRASH_RESERVED_MB = "Reserving MB for crashkernel"
    CRASH_LOW_RESERVED_MB = "Reserving MB of low memory for crashkernel"
    CRASH_CMA_RESERVED = "crashkernel CMA reserved"
    CANNOT_ALLOCATE = "cannot allocate crashkernel"
    CANNOT_ALLOCATE_LOW = "cannot allocate crashkernel low memory"
    NOT_MEMORY = "cannot reserve crashkernel: region is not memory"
    OVERLAPS = "cannot reserve crashkernel: region overlaps reserved memory"
    NOT_ALIGNED = "cannot reserve crashkernel: base address is not 2MB aligned"
    IN_USE = "crashkernel reservation failed - memory is in use"
    NO_AREA = "crashkernel reservation failed - No suitable area found"
    LOW_FAILED_X86 = "Cannot reserve crashkernel low memory"
    PARSE_ERROR = "crashkernel= not understood"
    SIZE_ZERO = "crashkernel size resulted in zero bytes"
    XEN_IGNORED = "Ignoring crashkernel for a Xen PV domain"
    CMA_RESERVED = "cma: Reserved"
    CMA_FAILED = "cma: Failed to reserve"
    CMA_POOL = "Reserved memory: created CMA memory pool"
    MEMORY = "Memory: available"
    ZONE = "Zone ranges"
    NODE_RANGE = "Early memory node ranges"
    OF_RESERVED = "OF: reserved mem"
    ELFCOREHDR = "elfcorehdr"
    KDUMP_HINT = "kdump kernel"
    SWIOTLB = "software IO TLB"
    NO_LOW_MEM = "no memory for swiotlb"
    STARTING_CRASH = "Starting crashdump kernel"
    E820 = "e820"
    USABLE_RANGE = "linux,usable-memory-range pair"
    #: nr_cpu_ids, the CPUs the kernel set possible (per-CPU areas, crash notes)
    CPU_IDS = "nr_cpu_ids"


#: the events that say a crash region was reserved / that a reservation failed
RESERVED = frozenset({Kind.CRASH_RESERVED, Kind.CRASH_LOW_RESERVED, Kind.CRASH_RESERVED_MB,
                      Kind.CRASH_LOW_RESERVED_MB})
FAILURES = frozenset({Kind.CANNOT_ALLOCATE, Kind.CANNOT_ALLOCATE_LOW, Kind.NOT_MEMORY, Kind.OVERLAPS,
                      Kind.NOT_ALIGNED, Kind.IN_USE, Kind.NO_AREA, Kind.LOW_FAILED_X86, Kind.PARSE_ERROR,
                      Kind.CMA_FAILED})


@dataclass(frozen=True, slots=True)
class Event:
    """One recognised log line. ``start``/``end`` are half-open ``[start, end)`` where the line names a range."""

    kind: Kind
    lineno: int
    text: str
    start: int | None = None
    end: int | None = None
    size: int | None = None
    #: a zone name, a node id, a parse error's character, a prefix ("kexec_core"), the cmdline ...
    value: str = ""


@dataclass(frozen=True, slots=True)
class Boot:
    """The lines of one kernel boot, in order."""

    index: int
    first_line: int
    last_line: int
    events: tuple[Event, ...]

    def of(self, *kinds: Kind) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind in kinds)

    def first(self, kind: Kind) -> Event | None:
        return next((e for e in self.events if e.kind is kind), None)

    @property
    def release(self) -> str | None:
        e = self.first(Kind.LINUX_VERSION)
        return e.value if e else None

    @property
    def cmdline(self) -> str | None:
        e = self.first(Kind.CMDLINE)
        return e.value if e else None

    @property
    def is_crash_kernel(self) -> bool:
        """The kernel that wrote these lines was booted by kexec as a crash kernel."""
        if self.of(Kind.ELFCOREHDR, Kind.KDUMP_HINT, Kind.USABLE_RANGE):
            return True
        return bool(self.cmdline and _CRASH_CMDLINE.search(self.cmdline))


@dataclass(frozen=True, slots=True)
class LogScan:
    where: str
    boots: tuple[Boot, ...]
    #: the prefix forms seen, most frequent first ("dmesg", "journal", "dmesg -T", "none", ...)
    forms: tuple[str, ...]
    lines: int
    #: lines joined back together after a wrap, and lines cut at MAX_LINE
    repaired: tuple[int, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(e for b in self.boots for e in b.events)


_CRASH_CMDLINE = re.compile(r"(?:^|\s)(?:elfcorehdr=|reset_devices(?:\s|$)|systemd\.unit=kdump|"
                            r"kdump_kernel|rd\.kdump)")

# ---------------------------------------------------------------------------------------------------------
# prefixes

_QUOTE = re.compile(r"[ \t]*(?:>[ \t]?)+")
_ESC = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|[\x00-\x08\x0b-\x1f\x7f]")
_STAMP = re.compile(r"(?:<\d{1,2}>)?\[\s{0,12}(\d{1,9})\.(\d{1,9})\](?:\[\s{0,6}[TC]\d{1,7}\])?\s?")
_STAMP_T = re.compile(r"\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\]\s?")
_ISO = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?\s")
_FACILITY = re.compile(r"(?:kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|local\d)\s*:"
                       r"\s*(?:emerg|alert|crit|err|warn|notice|info|debug)\s*:\s")
_CLOCK = re.compile(r"\d\d:\d\d:\d\d")
_JOURNAL_BOOT = re.compile(r"-- (?:Boot [0-9a-f]{32}|Reboot) --")


def strip_prefixes(raw: str) -> tuple[str, float | None, str]:
    """One physical line -> (message text, monotonic timestamp or None, prefix form)."""
    line = raw[:MAX_LINE].rstrip("\r\n")
    if "\x1b" in line or any(ord(c) < 32 and c != "\t" for c in line[:64]):
        line = _ESC.sub("", line)
    m = _QUOTE.match(line)
    if m and m.end():
        line = line[m.end():]
    form = "none"
    stamp: float | None = None
    # journal / syslog: "<time> <host> kernel: ", the time somewhere before " kernel: "
    k = line.find(" kernel: ", 0, 160)
    if k > 0 and (_CLOCK.search(line, 0, k) or _STAMP.match(line)):
        sm = _STAMP.match(line)
        if sm:
            stamp = float(f"{sm.group(1)}.{sm.group(2)}")
        line = line[k + 9:]
        form = "journal"
    m = _FACILITY.match(line)
    if m:
        line = line[m.end():]
    m = _STAMP.match(line)
    if m is None:
        # serial junk or a hostname before the timestamp: look a little way in
        m2 = _STAMP.search(line, 0, 96)
        if m2 is not None and m2.start() > 0 and "[mem " not in line[:m2.start()]:
            m = m2
            form = "serial" if form == "none" else form
            line = line[m.start():]
            m = _STAMP.match(line)
    if m is not None:
        stamp = float(f"{m.group(1)}.{m.group(2)}")
        line = line[m.end():]
        form = "dmesg" if form == "none" else form
    else:
        m = _STAMP_T.match(line) or _ISO.match(line)
        if m is not None:
            line = line[m.end():]
            form = "dmesg -T" if form == "none" else form
    return line, stamp, form


# ---------------------------------------------------------------------------------------------------------
# messages

_HEX = r"(?:0x)?([0-9a-fA-F]{1,16})"
_PFX = r"(?:(kexec_core|crashkernel|crash_core|kexec|Kdump|kdump): )?"

_RX: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (Kind.CRASH_LOW_RESERVED, re.compile(rf"crashkernel low memory reserved: {_HEX} ?- ?{_HEX} \((\d+) ?MB\)")),
    (Kind.CRASH_RESERVED, re.compile(rf"crashkernel reserved: {_HEX} ?- ?{_HEX} \((\d+) ?MB\)")),
    (Kind.CRASH_LOW_RESERVED_MB, re.compile(rf"{_PFX}Reserving (\d+) ?MB of low memory at (\d+) ?MB for "
                                            r"crashkernel")),
    (Kind.CRASH_RESERVED_MB, re.compile(rf"{_PFX}Reserving (\d+) ?MB of memory at (\d+) ?MB for crashkernel")),
    (Kind.CRASH_CMA_RESERVED, re.compile(r"crashkernel CMA reserved: (\d+) MB in (\d+) ranges")),
    (Kind.CANNOT_ALLOCATE_LOW, re.compile(rf"{_PFX}cannot allocate crashkernel low memory \(size:{_HEX}\)")),
    (Kind.CANNOT_ALLOCATE, re.compile(rf"{_PFX}cannot allocate crashkernel \(size:{_HEX}\)")),
    (Kind.NOT_MEMORY, re.compile(r"cannot reserve crashkernel: region is not memory")),
    (Kind.OVERLAPS, re.compile(r"cannot reserve crashkernel: region overlaps reserved memory")),
    (Kind.NOT_ALIGNED, re.compile(r"cannot reserve crashkernel: base address is not \d+ ?MB aligned")),
    (Kind.IN_USE, re.compile(rf"{_PFX}crashkernel reservation failed - memory is in use")),
    (Kind.NO_AREA, re.compile(rf"{_PFX}crashkernel reservation failed - No suitable area found")),
    (Kind.LOW_FAILED_X86, re.compile(rf"{_PFX}Cannot reserve (\d+) ?MB crashkernel low memory")),
    (Kind.SIZE_ZERO, re.compile(r"crashkernel size resulted in zero bytes")),
    (Kind.PARSE_ERROR, re.compile(r"(?:crashkernel|crahskernel): (?:[Mm]emory value expected.{0,20}|"
                                  r"unrecognized char: ?.?|'-' expected|':' expected|end <= start|"
                                  r"invalid size)\s*$|Memory value expected(?: after '@')?\s*$")),
    (Kind.XEN_IGNORED, re.compile(r"Ignoring crashkernel for a Xen PV domain")),
    (Kind.CMA_RESERVED, re.compile(r"cma: Reserved (\d+) MiB at (?:0x)?([0-9a-fA-F]{1,16})")),
    (Kind.CMA_FAILED, re.compile(r"cma: Failed to reserve (\d+) MiB")),
    (Kind.CMA_POOL, re.compile(r"(?:OF: )?[Rr]eserved memory: created CMA memory pool at (?:0x)?([0-9a-fA-F]{1,16}), "
                               r"size (\d+) MiB")),
    (Kind.MEMORY, re.compile(r"Memory: (\d+)K/(\d+)K available")),
    (Kind.ZONE, re.compile(r"\s*(DMA32|DMA|Normal|HighMem|Movable|Device)\s+(?:\[mem 0x([0-9a-fA-F]{1,16})-"
                           r"0x([0-9a-fA-F]{1,16})\]|(empty))\s*$")),
    (Kind.NODE_RANGE, re.compile(r"\s*node\s+(\d+): \[mem 0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\]")),
    (Kind.OF_RESERVED, re.compile(r"OF: reserved mem: (.{0,200})")),
    (Kind.ELFCOREHDR, re.compile(r"(?:OF: fdt: )?(?:Reserving (\d+) ?(?:KB|KiB) of memory at (?:0x)?"
                                 r"([0-9a-fA-F]{1,16}) for elfcorehdr|elfcorehdr is overlapped)")),
    (Kind.SWIOTLB, re.compile(r"software IO TLB: (?:mapped \[mem 0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\]"
                              r"|.{0,120})")),
    (Kind.MACHINE_MODEL, re.compile(r"Machine model: (.{1,200})")),
    (Kind.LINUX_VERSION, re.compile(r"Linux version (\S{1,120})")),
    (Kind.BOOTING, re.compile(r"Booting Linux on physical CPU")),
    # init/main.c "Kernel command line: %s"; x86 setup_arch prints "Command line: %s" first
    (Kind.CMDLINE, re.compile(r"(?:Kernel c|C)ommand line: ?(.{0,2000})")),
    # what a crash kernel reads from /chosen/linux,usable-memory-range: kexec-tools writes crashk_res, then
    # crashk_low_res (6.1+), then (7.x crash CMA) further ranges; printed by debug builds as base/size pairs
    (Kind.USABLE_RANGE, re.compile(r"(?:OF: fdt: )?cap_mem_regions\[(\d+)\]: base=0x([0-9a-fA-F]{1,16}), "
                                   r"size=0x([0-9a-fA-F]{1,16})")),
    (Kind.STARTING_CRASH, re.compile(r"Starting crashdump kernel")),
    # nr_cpu_ids as mm/slub.c kmem_cache_init prints it in every generation, and as RCU's geometry lines do
    (Kind.CPU_IDS, re.compile(r"SLUB: HWalign=\d+, Order=\d+-\d+, MinObjects=\d+, CPUs=(\d{1,6}),|"
                              r"(?:rcu: \s*)?RCU restricting CPUs from NR_CPUS=\d+ to nr_cpu_ids=(\d{1,6})\.|"
                              r"(?:rcu: \s*)?Adjusting geometry for rcu_fanout_leaf=\d+, nr_cpu_ids=(\d{1,6})")),
    (Kind.E820, re.compile(r"(?:BIOS-e820|user|e820): \[mem 0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\] "
                           r"(usable|reserved|ACPI data|ACPI NVS|unusable|persistent.{0,20}|soft reserved)")),
)

#: message heads that a mail client may have cut from their tails (tried with the next line joined)
_HEADS = ("crashkernel reserved:", "crashkernel low memory reserved:", "Reserving ", "cannot allocate crashkernel",
          "kexec_core: Reserving", "crashkernel: Reserving", "cma: Reserved", "Memory: ", "OF: fdt: Reserving",
          "crashkernel reservation failed", "Cannot reserve")
_KDUMP_HINT = re.compile(r"(?:kdump|crash ?dump) kernel|usable-memory-range", re.IGNORECASE)
# the first kernel's own farewell: never a sign that the writer is a crash kernel
_NOT_HINT = ("Starting crashdump kernel", " not ", "Loading crashdump kernel", "kexec_core:")


def _match(text: str) -> tuple[Kind, re.Match[str]] | None:
    body = text.lstrip()
    for kind, rx in _RX:
        m = rx.match(body)
        if m is not None:
            return kind, m
    return None


def _event(kind: Kind, m: re.Match[str], lineno: int, text: str) -> Event:
    g = m.groups()
    t = text.strip()
    if kind in (Kind.CRASH_RESERVED, Kind.CRASH_LOW_RESERVED):
        start, end = int(g[0], 16), int(g[1], 16)
        return Event(kind, lineno, t, start, end, end - start)
    if kind in (Kind.CRASH_RESERVED_MB, Kind.CRASH_LOW_RESERVED_MB):
        size, at = int(g[1]) << 20, int(g[2]) << 20
        return Event(kind, lineno, t, at, at + size, size, g[0] or "")
    if kind in (Kind.CANNOT_ALLOCATE, Kind.CANNOT_ALLOCATE_LOW):
        return Event(kind, lineno, t, size=int(g[1], 16), value=g[0] or "")
    if kind is Kind.LOW_FAILED_X86:
        return Event(kind, lineno, t, size=int(g[1]) << 20)
    if kind is Kind.CRASH_CMA_RESERVED:
        return Event(kind, lineno, t, size=int(g[0]) << 20, value=g[1])
    if kind is Kind.CMA_RESERVED:
        start, size = int(g[1], 16), int(g[0]) << 20
        return Event(kind, lineno, t, start, start + size, size)
    if kind is Kind.CMA_FAILED:
        return Event(kind, lineno, t, size=int(g[0]) << 20)
    if kind is Kind.CMA_POOL:
        start, size = int(g[0], 16), int(g[1]) << 20
        return Event(kind, lineno, t, start, start + size, size)
    if kind is Kind.MEMORY:
        cma = re.search(r"(\d+)K cma-reserved", t[m.end():m.end() + 400])
        return Event(kind, lineno, t, size=int(g[1]) << 10, value=str(int(cma.group(1)) << 10) if cma else "")
    if kind is Kind.ZONE:
        if g[3]:
            return Event(kind, lineno, t, value=g[0])
        return Event(kind, lineno, t, int(g[1], 16), int(g[2], 16) + 1, value=g[0])
    if kind is Kind.NODE_RANGE:
        return Event(kind, lineno, t, int(g[1], 16), int(g[2], 16) + 1, value=g[0])
    if kind is Kind.ELFCOREHDR:
        if g[1]:
            return Event(kind, lineno, t, int(g[1], 16), int(g[1], 16) + (int(g[0]) << 10), int(g[0]) << 10)
        return Event(kind, lineno, t)
    if kind is Kind.SWIOTLB:
        if g[0]:
            return Event(kind, lineno, t, int(g[0], 16), int(g[1], 16))
        return Event(kind, lineno, t)
    if kind is Kind.CPU_IDS:
        return Event(kind, lineno, t, value=next(v for v in g if v))
    if kind is Kind.E820:
        return Event(kind, lineno, t, int(g[0], 16), int(g[1], 16) + 1, value=g[2])
    if kind is Kind.PARSE_ERROR:
        return Event(kind, lineno, t, value=t)
    if kind is Kind.USABLE_RANGE:
        start, size = int(g[1], 16), int(g[2], 16)
        return Event(kind, lineno, t, start, start + size, size, value=g[0])
    if kind in (Kind.OF_RESERVED, Kind.MACHINE_MODEL, Kind.LINUX_VERSION, Kind.CMDLINE):
        return Event(kind, lineno, t, value=g[0].strip())
    return Event(kind, lineno, t)


# ---------------------------------------------------------------------------------------------------------
# lines -> boots


@dataclass(slots=True)
class _Line:
    lineno: int
    text: str
    stamp: float | None
    form: str


def _lines(text: str) -> Iterator[_Line]:
    for n, raw in enumerate(text.splitlines(), 1):
        body, stamp, form = strip_prefixes(raw)
        yield _Line(n, body, stamp, form)


def _cmdline_words(text: str) -> bool:
    """A line that can be the rest of a wrapped command line: parameters (``a=b``) or a few bare flags."""
    words = text.split()
    if not words or len(text) > 1000:
        return False
    if any("=" in w for w in words):
        return all(len(w) < 400 and not w.endswith((".", ":", "?")) for w in words)
    return len(words) <= 3 and all(w.replace("_", "").replace("-", "").isalnum() and w.islower() for w in words)


def _swiotlb_kind(text: str) -> bool:
    return "No low mem" in text or "Cannot allocate buffer" in text or "Failed to allocate" in text


def scan(text: str, where: str = "log") -> LogScan:
    """Read a kernel log in any of the forms above into boots of events."""
    lines = list(_lines(text))
    forms: dict[str, int] = {}
    for ln in lines:
        if ln.text.strip():
            forms[ln.form] = forms.get(ln.form, 0) + 1
    stamped = sum(n for f, n in forms.items() if f != "none")
    mostly_stamped = stamped > 2 and stamped >= 0.6 * sum(forms.values())
    boots: list[Boot] = []
    events: list[Event] = []
    repaired: list[int] = []
    boot_first = lines[0].lineno if lines else 1
    seen_version = seen_booting = False
    last_stamp: float | None = None

    def close(last_line: int) -> None:
        nonlocal events, seen_version, seen_booting
        if events:
            boots.append(Boot(len(boots), boot_first, last_line, tuple(events)))
        events = []
        seen_version = seen_booting = False

    i = 0
    while i < len(lines):
        ln = lines[i]
        i += 1
        raw_body = ln.text
        if _JOURNAL_BOOT.search(raw_body[:80]):
            close(ln.lineno - 1)
            boot_first = ln.lineno + 1
            last_stamp = None
            continue
        body = raw_body.strip()
        if not body:
            continue
        if ln.stamp is not None:
            if last_stamp is not None and ln.stamp < 1.0 and ln.stamp + 1.0 < last_stamp:
                close(ln.lineno - 1)  # time fell back to zero: another kernel's log starts here
                boot_first = ln.lineno
            last_stamp = ln.stamp
        hit = _match(body)
        if hit is None and body.startswith(_HEADS):
            # a message cut by a mail client: join up to two following lines that carry no timestamp
            joined = body
            for j in range(i, min(i + 2, len(lines))):
                nxt = lines[j]
                if nxt.stamp is not None or not nxt.text.strip():
                    break
                joined = f"{joined} {nxt.text.strip()}"
                hit = _match(joined)
                if hit is not None:
                    repaired.append(nxt.lineno)
                    i = j + 1
                    body = joined
                    break
        if hit is None:
            if _KDUMP_HINT.search(body[:400]) and not any(s in body for s in _NOT_HINT):
                hit_event = Event(Kind.KDUMP_HINT, ln.lineno, body)
                events.append(hit_event)
            continue
        kind, m = hit
        if kind is Kind.SWIOTLB and not m.group(1) and _swiotlb_kind(body):
            kind = Kind.NO_LOW_MEM
        # a new boot starts at a second Booting Linux / Linux version, or when time falls back to zero
        new_boot = False
        if kind is Kind.BOOTING:
            new_boot = seen_booting or seen_version
        elif kind is Kind.LINUX_VERSION:
            new_boot = seen_version
        if new_boot:
            close(ln.lineno - 1)
            boot_first = ln.lineno
        if kind is Kind.BOOTING:
            seen_booting = True
        if kind is Kind.LINUX_VERSION:
            seen_version = True
        if kind is Kind.CMDLINE and (mostly_stamped or ln.stamp is not None):
            # a command line wrapped by a mail client: untimed lines of cmdline words that follow belong to it
            parts = [m.group(1).strip()]
            while i < len(lines) and lines[i].stamp is None and _cmdline_words(lines[i].text) and \
                    _match(lines[i].text.strip()) is None and len(parts) < 16:
                parts.append(lines[i].text.strip())
                repaired.append(lines[i].lineno)
                i += 1
            events.append(Event(kind, ln.lineno, body, value=" ".join(p for p in parts if p)))
            continue
        events.append(_event(kind, m, ln.lineno, body))
    close(lines[-1].lineno if lines else 0)
    boots = _dedupe(boots)
    order = tuple(f for f, _ in sorted(forms.items(), key=lambda kv: -kv[1]))
    return LogScan(where, tuple(boots), order, len(lines), tuple(repaired))


def _dedupe(boots: Iterable[Boot]) -> list[Boot]:
    """The same boot pasted twice (a console log followed by its ``dmesg``) is one boot."""
    out: list[Boot] = []
    for b in boots:
        if out and [(e.kind, e.text) for e in out[-1].events] == [(e.kind, e.text) for e in b.events]:
            continue
        out.append(Boot(len(out), b.first_line, b.last_line, b.events))
    return out
