"""kexec-tools (arm64, ``kexec -p``) as a pure model: /proc/iomem reading, segment placement, kernel check.

Behaviour follows kernel-spec.md section D and test-vectors.md Part 7. Checked against kexec-tools 2.0.32
(crashdump-arm64.c iomem_range_callback, kexec-arm64.c arm64_locate_kernel_segment / setup_2nd_dtb,
kexec.c main, arm64/iomem.h): names include the trailing newline (exact match), 2-slot static usable array,
duplicate test over all slots. Rows for 2.0.20/2.0.25/2.0.29 are still from the notes ([M]).
"""

from __future__ import annotations

from dataclasses import dataclass

from kdumplab.errors import KdumplabError
from kdumplab.ranges import SZ_1M, SZ_2M, PhysRange, align_down, align_up

__all__ = [
    "KEXEC_TOOLS",
    "KERNEL_KEXEC",
    "IomemLine",
    "KernelKexecFacts",
    "KexecInputs",
    "KexecLoad",
    "KexecTools",
    "Phdr",
    "Segment",
    "kexec_tools",
    "load_crash_kernel",
    "parse_iomem_lines",
    "verdict",
]

PAGE = 0x1000


@dataclass(frozen=True, slots=True)
class KexecTools:
    """One kexec-tools release, as far as ``kexec -p`` on arm64 is concerned (spec D.1-D.6)."""

    version: str
    usable_capacity: int  # 1 in 2.0.20; 2 (static array) from 2.0.24
    sysram_capacity: int | None  # 32 in 2.0.20; grows on demand later
    subtract_children: bool  # memory-map pass subtracts reserved/other-crash children (2.0.21+)
    skip_duplicates: bool  # 2.0.30+: duplicate base warns and is skipped
    load_region_is_last: bool  # 2.0.24+: the last (highest) usable entry; 2.0.20: the only one
    usable_reverse_order: bool  # 2.0.24+: all regions, reverse discovery order in the DT
    file_load_first: bool  # 2.0.27+: try kexec_file_load first, fall back on ENOSYS
    not_reserved_hint: str  # wording of the "crashkernel=" hint
    stext_correction: bool = (
        True  # 2.0.24+: Kernel code start moved back to _text when it is the _stext..__init_begin span
    )


_V20 = KexecTools("2.0.20", 1, 32, False, False, False, False, False, '"crashkernel=X@Y"', False)
KEXEC_TOOLS: dict[str, KexecTools] = {
    "2.0.20": _V20,
    "2.0.25": KexecTools("2.0.25", 2, None, True, False, True, True, False, '"crashkernel=Y@X"'),
    "2.0.29": KexecTools("2.0.29", 2, None, True, False, True, True, True, '"crashkernel=Y@X"'),
    "2.0.32": KexecTools("2.0.32", 2, None, True, True, True, True, True, '"crashkernel=Y@X"'),
}


def kexec_tools(version: str) -> KexecTools:
    try:
        return KEXEC_TOOLS[version]
    except KeyError:
        raise KdumplabError("kexec-tools", f"unknown version {version!r}", f"one of {sorted(KEXEC_TOOLS)}") from None


@dataclass(frozen=True, slots=True)
class KernelKexecFacts:
    """The running kernel's side of a kexec_load (spec D.3 step 7, D.7 step 5)."""

    generation: str
    kexec_file: bool  # Debian arm64 kernels are built without KEXEC_FILE (ENOSYS)


KERNEL_KEXEC: dict[str, KernelKexecFacts] = {g: KernelKexecFacts(g, False) for g in ("5.10", "6.1", "6.12", "7.x")}


@dataclass(frozen=True, slots=True)
class KexecInputs:
    image_size: int = 36 * SZ_1M
    text_offset: int = 0
    initrd_size: int | None = None
    dtb_size: int = 0x2000
    purgatory_size: int = 0x3000  # [M] size of the purgatory segment
    possible_cpus: int = 8
    address_cells: int = 2
    size_cells: int = 2
    kernel_text_vaddr: int = 0xFFFF800080000000  # _text from kallsyms [M]
    stext_minus_text: int = 0  # _stext - _text from kallsyms (0x10000 on 6.1+, where Kernel code starts at _stext)
    init_begin_minus_stext: int | None = None  # __init_begin - _stext; None = unreadable
    page_offset: int = 0xFFFF000000000000  # linear map base for PT_LOAD vaddrs (48-bit VA, 5.4+ layout)
    phys_offset: int = 0  # memstart_addr
    mode: str = "default"  # "default", "-s" (file only) or "-c" (kexec_load only)


@dataclass(frozen=True, slots=True)
class IomemLine:
    start: int
    last: int  # inclusive, as printed
    name: str
    depth: int


@dataclass(frozen=True, slots=True)
class Segment:
    start: int
    size: int
    what: str


@dataclass(frozen=True, slots=True)
class Phdr:
    type: str  # "PT_NOTE" / "PT_LOAD"
    paddr: int
    vaddr: int
    size: int


@dataclass(frozen=True, slots=True)
class KexecLoad:
    tools: str
    loaded: bool
    error: tuple[str, ...] | None
    output: tuple[str, ...]
    segments: tuple[Segment, ...]
    entry: int | None
    usable_memory_ranges: tuple[tuple[int, int], ...]  # (start, last) in DT order
    elfcorehdr: tuple[int, int] | None  # (address, buffer size)
    phdrs: tuple[Phdr, ...]
    crash_entries_seen: tuple[PhysRange, ...]
    sysram_seen: tuple[PhysRange, ...]
    syscall: str


def parse_iomem_lines(text: str) -> tuple[IomemLine, ...]:
    """``start-end : name`` lines; leading spaces skipped (children are read too), names matched exactly."""
    out: list[IomemLine] = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        body = raw.lstrip(" ")
        try:
            span, name = body.split(" : ", 1)
            lo, hi = span.split("-", 1)
            out.append(IomemLine(int(lo, 16), int(hi, 16), name, (len(raw) - len(body)) // 2))
        except ValueError:
            raise KdumplabError(f"iomem:{n}", f"not an iomem line: {raw!r}", "expected 'start-end : name'") from None
    return tuple(out)


def _subtract(ranges: list[PhysRange], cut: PhysRange) -> list[PhysRange]:
    out: list[PhysRange] = []
    for r in ranges:
        if not r.overlaps(cut):
            out.append(r)
            continue
        if r.start < cut.start:
            out.append(PhysRange(r.start, cut.start))
        if cut.end < r.end:
            out.append(PhysRange(cut.end, r.end))
    return out


def _fail(tools: KexecTools, lines: list[str], usable, crash, ram, syscall) -> KexecLoad:
    return KexecLoad(tools.version, False, tuple(lines), tuple(lines), (), None, usable, None, (), crash, ram, syscall)


def load_crash_kernel(
    tools: KexecTools,
    kernel: KernelKexecFacts,
    iomem_text: str,
    crashk_res: PhysRange | None,
    inputs: KexecInputs,
) -> KexecLoad:
    """What ``kexec -p`` of this kexec-tools version does against this kernel (spec D.1-D.7)."""
    lines = parse_iomem_lines(iomem_text)
    # --- syscall choice (D.1, K7)
    syscall = "kexec_load"
    if inputs.mode == "-s" and not kernel.kexec_file:
        msg = (
            "kexec_file_load failed: Function not implemented"
            if not tools.file_load_first and tools.version == "2.0.20"
            else "syscall kexec_file_load not available."
        )
        return _fail(tools, [msg], (), (), (), "kexec_file_load")
    # --- pass (a): crash regions and System RAM, with the 2.0.20 capacities (D.2a)
    crash: list[PhysRange] = []
    ram: list[PhysRange] = []
    output: list[str] = []
    kcode: IomemLine | None = None
    kdata: IomemLine | None = None
    for ln in lines:
        r = PhysRange(ln.start, ln.last + 1)
        if ln.name == "Crash kernel":
            # 2.0.30+ compares the base with every slot of the static 2-entry array, empty ones (start 0) too
            slots = [c.start for c in crash] + [0] * (tools.usable_capacity - len(crash))
            if tools.skip_duplicates and ln.start in slots:
                output.append(
                    f"Warning, the range already exists in usablemem_rgns, base={ln.start:x}, length={r.size:x}"
                )
                continue
            if len(crash) >= tools.usable_capacity:
                if tools.usable_capacity == 1:
                    break  # callback fails: the whole read stops here
                raise KdumplabError(
                    "iomem", "a third 'Crash kernel' entry", "kexec-tools 2.0.24+ overruns a 2-entry array"
                )
            crash.append(r)
        elif ln.name == "System RAM":
            if tools.sysram_capacity is not None and len(ram) >= tools.sysram_capacity:
                break
            ram.append(r)
        elif ln.name == "Kernel code":
            kcode = ln
        elif ln.name == "Kernel data":
            kdata = ln
    reserved = crash and (crash[0].size > 1 if tools.usable_capacity == 1 else True)
    if not reserved:
        err = [
            "Memory for crashkernel is not reserved",
            f"Please reserve memory by passing{tools.not_reserved_hint} parameter to kernel",
            "Then try to loading kdump kernel",
        ]
        return _fail(tools, output + err, (), tuple(crash), tuple(ram), syscall)
    region = crash[-1] if tools.load_region_is_last else crash[0]
    rend = region.last  # inclusive, compared with an exclusive end (off by one, K5)
    # --- kernel slot (D.3 step 2)
    hole = align_up(region.start, SZ_2M)
    if hole + inputs.text_offset + inputs.image_size > rend:
        err = ["kexec: load failed.", "Cannot load Image"]
        return _fail(tools, output + err, (), tuple(crash), tuple(ram), syscall)
    # --- elfcorehdr (D.5): RAM minus every crash entry in the usable list
    loads: list[PhysRange] = sorted(ram)
    for c in crash:
        loads = _subtract(loads, c)
    phdrs: list[Phdr] = [Phdr("PT_NOTE", 0, 0, 0) for _ in range(inputs.possible_cpus + 1)]
    if kcode is not None and kdata is not None:
        kstart = kcode.start
        if tools.stext_correction and inputs.init_begin_minus_stext == kcode.last + 1 - kcode.start:
            kstart -= inputs.stext_minus_text
        phdrs.append(Phdr("PT_LOAD", kstart, inputs.kernel_text_vaddr, kdata.last + 1 - kstart))
    for r in loads:
        phdrs.append(Phdr("PT_LOAD", r.start, r.start - inputs.phys_offset + inputs.page_offset, r.size))
    bufsz = align_up(64 + 56 * len(phdrs), 1024)
    ehdr = align_down(rend + 1 - align_up(bufsz, PAGE), PAGE)
    segs = [
        Segment(ehdr, align_up(bufsz, PAGE), "elfcorehdr"),
        Segment(hole + inputs.text_offset, align_up(inputs.image_size, PAGE), "kernel"),
    ]
    cursor = hole + inputs.text_offset + inputs.image_size
    for what, size in (("initrd", inputs.initrd_size), ("dtb", inputs.dtb_size), ("purgatory", inputs.purgatory_size)):
        if size is None:
            continue
        start = align_up(cursor, PAGE)
        if start + align_up(size, PAGE) > ehdr:
            err = [
                f"Could not find a free area of memory of {size:#x} bytes...",
                "locate_hole failed",
                "kexec: load failed.",
                "Cannot load Image",
            ]
            return _fail(tools, output + err, (), tuple(crash), tuple(ram), syscall)
        segs.append(Segment(start, align_up(size, PAGE), what))
        cursor = start + align_up(size, PAGE)
    entry = next(s.start for s in segs if s.what == "purgatory")
    usable = tuple((c.start, c.last) for c in (reversed(crash) if tools.usable_reverse_order else crash))

    # --- cells check (D.4, K6): elfcorehdr first, then the usable ranges
    def fits(addr: int, size: int) -> bool:
        return (inputs.address_cells >= 2 or addr + 0 < 1 << 32) and (inputs.size_cells >= 2 or size < 1 << 32)

    if not fits(ehdr, bufsz) or not all(fits(s, e + 1 - s) for s, e in usable):
        first = "elfcorehdr" if not fits(ehdr, bufsz) else "usable memory range"
        err = [
            f"kexec: {first} doesn't fit cells-size.",
            "kexec: setup_2nd_dtb failed.",
            "kexec: load failed.",
            "Cannot load Image",
        ]
        return _fail(tools, output + err, usable, tuple(crash), tuple(ram), syscall)
    segs.sort(key=lambda s: s.start)
    # --- the kernel's check: everything inside crashk_res (D.7 step 5)
    inside = (
        crashk_res is not None
        and all(crashk_res.contains(PhysRange(s.start, s.start + s.size)) for s in segs)
        and crashk_res.start <= entry < crashk_res.end
    )
    err: list[str] = []
    if not inside:  # the kernel refuses a crash load that is not entirely inside crashk_res
        err = ["kexec_load failed: Cannot assign requested address", f"entry       = {entry:#x} flags = 0xb70001"]
        err += [f"segment[{i}].mem   = {s.start:#x} memsz = {s.size:#x}" for i, s in enumerate(segs)]
    return KexecLoad(tools.version, inside, tuple(output + err) if err else None, tuple(output + err), tuple(segs),
                     entry, usable, (ehdr, bufsz), tuple(phdrs), tuple(crash), tuple(ram), syscall)


def verdict(load: KexecLoad) -> str:
    """One plain-English sentence about the load."""
    n = len(load.crash_entries_seen)
    if load.loaded:
        return (
            f"kexec-tools {load.tools} loads the crash kernel ({n} 'Crash kernel' entr{'y' if n == 1 else 'ies'} seen)."
        )
    why = load.error[0] if load.error else "unknown"
    if load.error and load.error[0].startswith("kexec_load failed") and n == 1 and load.tools == "2.0.20":
        return (
            f"kexec-tools {load.tools} sees only the first 'Crash kernel' entry, places every segment in it and "
            f"the kernel refuses the load ({why}): no crash kernel is loaded and a panic will not be captured."
        )
    return f"kexec-tools {load.tools} fails ({why}): no crash kernel is loaded and a panic will not be captured."
