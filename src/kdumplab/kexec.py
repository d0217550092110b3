"""kexec-tools (arm64, ``kexec -p``) as a pure model: /proc/iomem reading, segment placement, kernel check.

Checked against the sources of every modelled release (2.0.20 from its upstream git tag, Debian's 2.0.20-2.1
source being gone from the archive; Debian 2.0.25-3+deb12u3 and 2.0.29-2 with their patches, which touch nothing
on this path; 2.0.32 upstream, the 2.0.32-3 Debian tarball being gone) and against the 61 recorded real
``kexec -p -d`` runs of the Debian binaries under tests/data/cycles. Files read:
kexec/arch/arm64/{crashdump-arm64.c, kexec-arm64.c, kexec-image-arm64.c, iomem.h}, kexec/{kexec.c,
kexec-iomem.c, mem_regions.c, crashdump-elf.c, symbols.c, dt-ops.c, kexec-elf-rel.c}. Every version
difference is a field of a :class:`KexecTools` row; the code asks the row, never the version string.

The stages, in the order kexec-tools runs them:

1. ``main``: the "is memory reserved?" pass over /proc/iomem (:func:`_crash_pass`), then the syscall choice.
2. ``my_load``: the memory map used to find holes and validate segments (:func:`_memory_map`).
3. ``image_arm64_load``: the kernel slot, the elfcorehdr (top-down), the kernel segment.
4. ``arm64_load_other_segments``: DTB fix-ups (cells, kaslr-seed), initrd, DTB and purgatory (bottom-up).
5. The running kernel's ``kexec_load`` check: entry and every segment inside ``crashk_res`` (only that one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Final

from kdumplab.errors import KdumplabError
from kdumplab.frozen import maker
from kdumplab.iomem import MAX_IORES_LEVEL, Resource, _resource
from kdumplab.profiles import ProfileTable
from kdumplab.ranges import SZ_1G, SZ_1M, SZ_2M, U64_MAX, PhysRange, align_down, align_up, checked_range

__all__ = [
    "KEXEC_TOOLS",
    "LAB_KEXEC_TOOLS",
    "KERNEL_KEXEC",
    "IomemLine",
    "KernelKexecFacts",
    "KexecInputs",
    "KexecLoad",
    "KexecTools",
    "Phdr",
    "Segment",
    "debug_segment_lines",
    "kexec_tools",
    "load_crash_kernel",
    "parse_iomem_lines",
    "verdict",
]

# (Final: the compiled build reads them as constants, not from the module's namespace)
PAGE: Final = 0x1000
KEXEC_ON_CRASH: Final = 0x1
KEXEC_ARCH_ARM64: Final = 183 << 16  # EM_AARCH64 in the arch field of the kexec_load flags
ELF_CORE_HEADER_ALIGN: Final = 1024  # kexec/crashdump.h
EHDR_SIZE: Final = 64  # ELF64
PHDR_SIZE: Final = 56
DTB_MAX: Final = 2 * SZ_1M  # arm64_load_other_segments: booting.txt limit
IMAGE_INITRD_SPAN_MAX: Final = 32 * SZ_1G  # arm64_load_other_segments: kernel and initrd within 32 GiB, 1 GiB aligned
PRE_3_17_IMAGE_SIZE: Final = 16 * SZ_1M  # arm64_process_image_header: header without image_size
PRE_3_17_TEXT_OFFSET: Final = 0x80000


@dataclass(frozen=True, slots=True)
class KexecTools:
    """One kexec-tools release, as far as ``kexec -p`` on arm64 is concerned.

    Each field is one behaviour; the comment names the release that introduced the later value and the
    function it lives in. 2.0.20 is the only row before the 2.0.24 rework ("arm64: support more than one crash
    kernel regions", which also added the growing lists and the memory-map subtraction of 2.0.21/2.0.22).
    """

    version: str
    usable_capacity: int  # crashdump-arm64.c usablemem_rgns: 1 slot in 2.0.20; 2 static slots from 2.0.24
    sysram_capacity: int | None  # crashdump-arm64.c system_memory_rgns: static 32 in 2.0.20; grows later
    subtract_children: bool  # kexec-arm64.c get_memory_ranges: 2.0.21+ cuts non-RAM children out of RAM
    skip_duplicates: bool  # crashdump-arm64.c iomem_range_callback: 2.0.30+ warns and skips a known base
    load_region_is_last: bool  # crashdump-arm64.c: 2.0.24+ loads into the last usable entry
    usable_reverse_order: bool  # kexec-arm64.c setup_2nd_dtb: 2.0.24+ writes every region, last first
    file_load_first: bool  # kexec.c main: 2.0.27+ tries kexec_file_load first, falls back on ENOSYS etc.
    not_reserved_hint: str  # kexec.c main: the "crashkernel=" text of the not-reserved message
    stext_correction: bool = True  # crashdump-arm64.c Kernel code branch: 2.0.24+ moves the start to _text
    memmap_line_limit: int | None = None  # kexec-arm64.c get_memory_ranges_iomem_cb: 64 lines in 2.0.20
    reserved_if_nonempty: bool = True  # is_crashkernel_mem_reserved: 2.0.20 tests start != end instead
    page_offset_from_va_bits: bool = True  # 2.0.24+ get_page_offset; 2.0.20 get_kernel_page_offset bit scan
    phys_offset_signed: bool = True  # set_phys_offset: int64 minimum from 2.0.24; uint64 minimum in 2.0.20
    file_only_enosys: str = "syscall kexec_file_load not available."  # kexec.c: `-s` on a kernel without it
    file_only_exit: int = 253  # 2.0.24+: main returns EFALLBACK (-3); 2.0.20: the syscall's -1 (255)
    # __LINE__ values in the -d output (arch_process_options: command_line, initrd, dtb[, console]) and of
    # arm64_load_other_segments' "purgatory sink" line: they tell the releases apart in a recorded log.
    debug_option_lines: tuple[int, ...] = ()
    purgatory_sink_line: int | None = None
    # The Debian arm64 build's purgatory (kexec-elf-rel.c elf_rel_load): file bytes, page-rounded memsz and
    # the offset of purgatory_start, as recorded by `kexec -p -d` in tests/data/cycles/*-kt<version>-*.
    purgatory_bufsz: int = 0x3460
    purgatory_memsz: int = 0x4000
    purgatory_entry_offset: int = 0x690
    # the v6/v7 companion of the 2019 series ("arm64: kdump: add another DT property to crash dump kernel's
    # dtb", kernel-patches/kexec-tools): a 'Crash kernel (low)' line goes to a one-slot list of its own (a
    # second one fails the read), is cut out of the RAM that is dumped, and is written as
    # /chosen/linux,low-memory-range
    reads_low_region: bool = False


_V20 = KexecTools(
    "2.0.20", usable_capacity=1, sysram_capacity=32, subtract_children=False, skip_duplicates=False,
    load_region_is_last=False, usable_reverse_order=False, file_load_first=False,
    not_reserved_hint='"crashkernel=X@Y"', stext_correction=False, memmap_line_limit=64,
    reserved_if_nonempty=False, page_offset_from_va_bits=False, phys_offset_signed=False,
    file_only_enosys="kexec_file_load failed: Function not implemented", file_only_exit=255,
    debug_option_lines=(173, 175, 177), purgatory_sink_line=None,
    purgatory_bufsz=0x3460, purgatory_memsz=0x4000, purgatory_entry_offset=0x690,
)
_V25 = KexecTools(
    "2.0.25", usable_capacity=2, sysram_capacity=None, subtract_children=True, skip_duplicates=False,
    load_region_is_last=True, usable_reverse_order=True, file_load_first=False,
    not_reserved_hint='"crashkernel=Y@X"', debug_option_lines=(178, 180, 182, 185), purgatory_sink_line=741,
    purgatory_bufsz=0x3558, purgatory_memsz=0x4000, purgatory_entry_offset=0x6A0,
)
#: Debian's 2.0.25 source cross-built by ``kdumplab lab build`` (static, gcc 12.2.0-14): the control of the
#: patched build below. Behaviour as 2.0.25; the purgatory of this build as ``kexec -p -d`` printed it in
#: tests/data/designs-cycles.
_V25_LAB = replace(_V25, version="2.0.25-lab")
_V25_LOWMEM = replace(_V25_LAB, version="2.0.25-lowmem", reads_low_region=True)
KEXEC_TOOLS: dict[str, KexecTools] = {
    "2.0.20": _V20,
    "2.0.25": _V25,
    "2.0.29": KexecTools(
        "2.0.29", usable_capacity=2, sysram_capacity=None, subtract_children=True, skip_duplicates=False,
        load_region_is_last=True, usable_reverse_order=True, file_load_first=True,
        not_reserved_hint='"crashkernel=Y@X"', debug_option_lines=(178, 180, 182, 185), purgatory_sink_line=741,
        purgatory_bufsz=0x3580, purgatory_memsz=0x4000, purgatory_entry_offset=0x660,
    ),
    "2.0.32": KexecTools(
        "2.0.32", usable_capacity=2, sysram_capacity=None, subtract_children=True, skip_duplicates=True,
        load_region_is_last=True, usable_reverse_order=True, file_load_first=True,
        not_reserved_hint='"crashkernel=Y@X"', debug_option_lines=(179, 181, 183, 186), purgatory_sink_line=742,
        purgatory_bufsz=0x3510, purgatory_memsz=0x4000, purgatory_entry_offset=0x660,
    ),
}
#: the lab's own builds (issue 13, ``kdumplab lab build``), kept apart from the Debian releases above
LAB_KEXEC_TOOLS: dict[str, KexecTools] = {t.version: t for t in (_V25_LAB, _V25_LOWMEM)}


def kexec_tools(version: str) -> KexecTools:
    try:
        return KEXEC_TOOLS[version] if version in KEXEC_TOOLS else LAB_KEXEC_TOOLS[version]
    except KeyError:
        raise KdumplabError("--kexec-tools", f"{version!r} is not modelled",
                            f"modelled: {', '.join(sorted(KEXEC_TOOLS))}") from None


@dataclass(frozen=True, slots=True)
class KernelKexecFacts:
    """The running kernel's side of ``kexec -p``: what kexec-tools reads from it and what kexec_load accepts.

    - ``kexec_file``: CONFIG_KEXEC_FILE. Off in the Debian arm64 configs of 5.10, 6.1 and 6.12
      (boot/config-*); the 7.2 package ships no config, and its Image has syscall metadata for
      ``sys_kexec_load`` but none for ``sys_kexec_file_load``, so it is off there too.
    - ``va_bits``: NUMBER(VA_BITS) in vmcoreinfo = CONFIG_ARM64_VA_BITS (48 on 5.10/6.1, 52 on 6.12;
      7.x assumed 52 like 6.12 [M]).
    - ``text_vaddr``: ``_text`` without KASLR (arch/arm64/include/asm/memory.h KIMAGE_VADDR of that release:
      modules area after the 128 MiB BPF region in 5.10, 128 MiB modules in 6.1, 2 GiB modules in 6.12) [M].
    - ``text_in_kallsyms``: the recorded 5.10 and 6.1 runs print "Cannot get kernel _text symbol address"
      (tests/data/cycles); lab-notes says 6.12/7.2 with 2.0.25+ give good vmcores, so _text is readable there.
    - kexec_load's check (kernel/kexec.c kimage_alloc_init, kernel/kexec_core.c sanity_check_segment_list,
      the same in 5.10 through 7.x): entry and every segment within ``crashk_res``; ``crashk_low_res`` never
      counts; otherwise -EADDRNOTAVAIL.
    - Booted by the EFI stub (``artifacts.efi_stub_fdt``: the tree kexec-tools reads from /sys/firmware/fdt):
      ``efi_stub_initrd_in_dt``, the stub also writes linux,initrd-start/-end (5.10's update_fdt does; the
      6.1+ stubs pass the initrd only through the LINUX_EFI_INITRD_MEDIA_GUID table), and
      ``efi_stub_fdt_last_comp``, the header's last compatible version its libfdt writes (2 in 5.10, 16 later;
      recorded in tests/data/cycles-uefi).
    """

    generation: str
    kexec_file: bool
    va_bits: int = 48
    text_vaddr: int = 0xFFFF800080000000
    text_in_kallsyms: bool = True
    efi_stub_initrd_in_dt: bool = False
    efi_stub_fdt_last_comp: int = 16
    #: bytes of its VMCOREINFO ELF note (12-byte header, "VMCOREINFO\0" in 12, the text padded to 4): the
    #: merged PT_NOTE of every recorded one-CPU cycle less one 412-byte NT_PRSTATUS note (tests/data/cycles,
    #: DT, KASLR on: 5.10 2,920, 6.1 3,504, 6.12 3,444, 6.12-16k 3,448, 7.2 3,396; under EDK2 with ACPI, no
    #: KASLR, "KERNELOFFSET=0" makes it 12-24 bytes shorter)
    vmcoreinfo_note: int = 3444


#: Every kernel's facts by generation key (policy ``kexec_generation``): a view of the kernel profiles
#: (kdumplab.profiles), where each kernel's row is written.
KERNEL_KEXEC: Mapping[str, KernelKexecFacts] = ProfileTable(lambda p: None if p.kexec is None else
                                                            (p.kexec.generation, p.kexec))


#: The crash kernel's command line the model assumes (``kexec -p --append``): the lab's (lab/cycle.py), which
#: every recorded cycle used and which KexecInputs' default DTB size was measured with.
CRASH_APPEND = "console=ttyAMA0 panic=-1 maxcpus=1 reset_devices"


#: the DTB segment's bytes in the recorded one-CPU DT cycles: QEMU's built-in tree as kexec-tools packs it, with
#: the lab's bootargs (CRASH_APPEND), an initrd and one usable range
DTB_SIZE = 7750


@dataclass(frozen=True, slots=True)
class KexecInputs:
    """What ``kexec -p`` is given and what it reads besides /proc/iomem. ``None`` = take the kernel's default."""

    image_size: int = 36 * SZ_1M  # Image header image_size (0 = pre-3.17 header)
    text_offset: int = 0
    initrd_size: int | None = None
    dtb_size: int = DTB_SIZE  # packed DTB with bootargs, initrd and ONE usable range (recorded cycles); see _dtb_bytes
    purgatory_size: int | None = None  # memsz; None = the release's recorded purgatory
    possible_cpus: int = 8  # sysconf(_SC_NPROCESSORS_CONF): one PT_NOTE each
    has_vmcoreinfo: bool = True  # /sys/kernel/vmcoreinfo readable: one more PT_NOTE
    address_cells: int = 2
    size_cells: int = 2
    kaslr_seed: int | None = 0  # /chosen/kaslr-seed as the running kernel left it (it zeroes it); None = absent
    kernel_text_vaddr: int | None = None  # _text (KASLR moves it); None = the kernel's unrandomised value
    text_in_kallsyms: bool | None = None  # is _text listed in /proc/kallsyms; None = the kernel's fact
    stext_minus_text: int = 0  # _stext - _text (0x10000 on 6.1+, where Kernel code starts at _stext)
    init_begin_minus_stext: int | None = None  # __init_begin - _stext; None = unreadable
    va_bits: int | None = None  # NUMBER(VA_BITS) from vmcoreinfo in /proc/kcore; None = the kernel's
    vmcoreinfo_phys_offset: int | None = None  # NUMBER(PHYS_OFFSET) (memstart_addr, signed; KASLR moves it)
    kernel_file_size: int | None = None  # decompressed Image bytes (segment bufsz); None = image_size
    kernel_path: str = "Image"
    mode: str = "default"  # "default", "-s" (file only) or "-c" (kexec_load only)
    page_size: int = PAGE  # getpagesize() in the running kernel: segment sizes and holes are aligned to it


@dataclass(frozen=True, slots=True)
class IomemLine:
    start: int
    last: int  # inclusive, as printed
    name: str
    depth: int


def _native_iomem_line(start: int, last: int, name: str, depth: int) -> IomemLine:
    """``IomemLine(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = IomemLine.__new__(IomemLine)
    o.start = start  # type: ignore[misc]
    o.last = last  # type: ignore[misc]
    o.name = name  # type: ignore[misc]
    o.depth = depth  # type: ignore[misc]
    return o


_iomem_line: Final = maker(IomemLine, ("start", "last", "name", "depth"), _native_iomem_line)


@dataclass(frozen=True, slots=True)
class Segment:
    start: int
    size: int  # memsz, page-rounded
    what: str
    bufsz: int = 0  # bytes copied from the buffer (print_segments' bufsz)


@dataclass(frozen=True, slots=True)
class Phdr:
    type: str  # "PT_NOTE" / "PT_LOAD"
    paddr: int
    vaddr: int
    size: int


def _native_phdr(type: str, paddr: int, vaddr: int, size: int) -> Phdr:
    """``Phdr(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = Phdr.__new__(Phdr)
    o.type = type  # type: ignore[misc]
    o.paddr = paddr  # type: ignore[misc]
    o.vaddr = vaddr  # type: ignore[misc]
    o.size = size  # type: ignore[misc]
    return o


def _native_segment(start: int, size: int, what: str, bufsz: int) -> Segment:
    """``Segment(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = Segment.__new__(Segment)
    o.start = start  # type: ignore[misc]
    o.size = size  # type: ignore[misc]
    o.what = what  # type: ignore[misc]
    o.bufsz = bufsz  # type: ignore[misc]
    return o


#: ``Phdr(...)`` and ``Segment(...)`` on the hot path (kdumplab.frozen; neither class checks its values)
_phdr: Final = maker(Phdr, ("type", "paddr", "vaddr", "size"), _native_phdr)
_segment: Final = maker(Segment, ("start", "size", "what", "bufsz"), _native_segment)
_NOTE = Phdr("PT_NOTE", 0, 0, 0)


@dataclass(frozen=True, slots=True)
class KexecLoad:
    tools: str
    loaded: bool
    error: tuple[str, ...] | None
    output: tuple[str, ...]
    segments: tuple[Segment, ...]  # sorted by address, as handed to kexec_load
    entry: int | None
    usable_memory_ranges: tuple[tuple[int, int], ...]  # (start, last) in DT order
    elfcorehdr: tuple[int, int] | None  # (address, buffer size)
    phdrs: tuple[Phdr, ...]
    crash_entries_seen: tuple[PhysRange, ...]
    sysram_seen: tuple[PhysRange, ...]
    syscall: str
    memory_map: tuple[tuple[int, int], ...] = ()  # RAM ranges (start, last) of my_load's memory map
    page_offset: int | None = None  # as load_crashdump_segments prints it
    phys_offset: int | None = None  # u64 as image_arm64_load prints it
    flags: int = KEXEC_ON_CRASH | KEXEC_ARCH_ARM64
    kern_paddr_start: int | None = None  # the kernel PT_LOAD's start (wraps below 0 on 6.1 with 2.0.24+)
    exit_status: int = 0  # 0 loaded; 1 die(); 255 a failed load (-1); 253 -s fallback refused (EFALLBACK -3)
    low_memory_range: tuple[int, int] | None = None  # (start, last) written as /chosen/linux,low-memory-range


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
            start, last = int(lo, 16), int(hi, 16)
        except ValueError:
            raise KdumplabError(f"iomem:{n}", f"not an iomem line: {raw!r}", "expected 'start-end : name'") from None
        if last + 1 < start:  # the kernel prints [start, end] inclusive: at most one below start (an empty entry)
            raise KdumplabError(f"iomem:{n}", f"the range ends before it starts: {raw!r}",
                                "expected 'start-end : name' with start <= end")
        out.append(IomemLine(start, last, name, (len(raw) - len(body)) // 2))
    return tuple(out)


def iomem_lines(tree: Iterable[Resource]) -> tuple[IomemLine, ...]:
    """What :func:`parse_iomem_lines` reads from ``iomem.render(tree)``, taken from the tree itself (depth capped
    as the kernel prints it)."""
    out: list[IomemLine] = []

    def visit(level: tuple[Resource, ...] | Iterable[Resource], depth: int) -> None:
        shown = min(depth, MAX_IORES_LEVEL)
        for r in level:
            out.append(_iomem_line(r.start, r.end - 1, r.name, shown))
            if r.children:
                visit(r.children, depth + 1)

    visit(tree, 0)
    return tuple(out)


def _lines(iomem: str | tuple[IomemLine, ...] | tuple[Resource, ...]) -> list[Resource]:
    """Every line kexec-tools reads, in order, as a resource ``[start, last + 1)`` with its name: from
    /proc/iomem's text, from its lines, or straight from the tree it is printed from (what ``model.run`` hands
    over: no text printed and parsed, no line objects made; the tree's own entries, depth first, the order
    ``iomem.render`` prints them in)."""
    if isinstance(iomem, str):
        iomem = parse_iomem_lines(iomem)
    out: list[Resource] = []
    if iomem and isinstance(iomem[0], Resource):
        _flatten(iomem, out)  # type: ignore[arg-type]
        return out
    for ln in iomem:
        out.append(_resource(ln.start, ln.last + 1, ln.name, ()))  # type: ignore[union-attr]
    return out


def _flatten(level: tuple[Resource, ...], out: list[Resource]) -> None:
    """Append ``level`` and everything below it to ``out``, depth first."""
    for r in level:
        out.append(r)
        if r.children:
            _flatten(r.children, out)


# --------------------------------------------------------------------------------------------------------
# small kexec-tools primitives (ranges are (start, last) with an inclusive last, as kexec-tools keeps them)

Span = tuple[int, int]


def _ptr(value: int) -> str:
    """glibc's %p: 0x-prefixed lower-case hex, "(nil)" for 0."""
    return f"{value:#x}" if value else "(nil)"


def _exclude(ranges: list[Span], cut: Span) -> bool:
    """mem_regions_exclude: cut a range out of the one range that wholly contains it (shrink, split or drop);
    a cut not wholly inside one range is ignored. Returns True when a split needed a new slot (the search
    stops there; after a drop or a shrink it goes on, as the C loop does)."""
    start, last = cut
    return any(s <= start and e >= last and _cut(ranges, i, start, last) for i, (s, e) in enumerate(ranges))


def _cut(ranges: list[Span], i: int, start: int, last: int) -> bool:
    """mem_regions_exclude's change to ``ranges[i]``, which wholly contains ``[start, last]``: drop it, shrink
    it, or split it, the part above the cut going to a new slot at the end of the list (then True)."""
    s, e = ranges[i]
    if s == start:
        if e == last:
            del ranges[i]
        else:
            ranges[i] = (last + 1, e)
    elif e == last:
        ranges[i] = (s, start - 1)
    else:
        ranges[i] = (s, start - 1)
        ranges.append((last + 1, e))
        return True
    return False


def _locate_hole(ram: list[Span], ordered: list[Segment], size: int, lo: int, hi: int, top_down: bool,
                 page: int = PAGE) -> int | None:
    """kexec.c locate_hole with page alignment (getpagesize() of the running kernel): the RAM ranges minus the
    segments placed so far (``ordered``: sorted by address, as kexec-tools keeps them), clipped to [lo, hi]
    (hi inclusive); bottom-up takes the first fit, top-down the last (highest) one."""
    n = len(ordered)
    j = 0
    base = None
    for mstart, mend in ram:
        if mend < lo:  # its free parts end at or below mend (they may start below mstart, where a segment
            # below the range moves the cursor back): none reaches into [lo, hi], so only walk past its segments
            while j < n and ordered[j].start <= mend:
                j += 1
            continue
        # this range's free parts, in order, each tried as soon as it is known: below each segment, then above
        # the last one
        while j < n and ordered[j].start <= mend:
            seg = ordered[j]
            j += 1
            if mstart < seg.start:
                fit = _fit(mstart, seg.start - 1, size, lo, hi, top_down, page)
                if fit is not None:
                    if not top_down:
                        return fit
                    base = fit
            mstart = seg.start + seg.size
        if mstart < mend:
            fit = _fit(mstart, mend, size, lo, hi, top_down, page)
            if fit is not None:
                if not top_down:
                    return fit
                base = fit
    return base


def _fit(start: int, end: int, size: int, lo: int, hi: int, top_down: bool, page: int) -> int | None:
    """locate_hole's test of one free part ``[start, end]`` (end inclusive) clipped to [lo, hi]: where ``size``
    bytes go in it (its lowest aligned start, or top-down its highest), None if they do not fit."""
    start = align_up(max(start, lo), page)
    end = min(end, hi)
    if start >= end or end - start < size - 1:
        return None
    return align_down(end - size + 1, page) if top_down else start


def _valid(ram: list[Span], start: int, last: int) -> bool:
    """kexec.c valid_memory_range: the segment lies in one RAM range (a range ending exactly where the next
    one starts is joined to it, an inclusive/exclusive slip that in practice never joins anything)."""
    for i, (s, e) in enumerate(ram):
        if i + 1 < len(ram) and e == ram[i + 1][0]:
            e = ram[i + 1][1]
        if s <= start and e >= last:
            return True
    return False


# --------------------------------------------------------------------------------------------------------
# the passes over /proc/iomem


class _CrashPass:
    """What :func:`_crash_pass` collects (a plain class: mypyc makes it a native one, with a compiled __init__)."""

    __slots__ = ("usable", "ram", "kcode", "kdata", "warnings", "low")

    def __init__(self) -> None:
        self.usable: list[Span] = []
        self.ram: list[Span] = []
        self.kcode: Span | None = None
        self.kdata: Span | None = None
        self.warnings: list[str] = []
        self.low: list[Span] = []


#: the names iomem_range_callback acts on (a line with any other name changes nothing)
_CRASH_PASS_NAMES: Final = frozenset(("Crash kernel (low)", "Crash kernel", "System RAM", "Kernel code", "Kernel data"))


def _crash_pass(tools: KexecTools, lines: list[Resource]) -> _CrashPass:
    """crashdump-arm64.c iomem_range_callback over kexec_iomem_for_each_line (run from main's reservation
    check): 'Crash kernel' -> usable list, 'System RAM' -> RAM list, 'Kernel code'/'Kernel data' -> kernel.

    2.0.20: both lists are fixed (1 and 32); a failed add makes the callback fail and the whole read stops at
    that line. 2.0.24+: the RAM list grows, the usable list is 2 static slots (a third entry would realloc a
    static array: undefined, so refused here). 2.0.30+: a base already in any slot (empty slots hold 0) is
    skipped with a warning.
    """
    out = _CrashPass()
    for line in lines:
        name = line.name
        if name not in _CRASH_PASS_NAMES:
            continue  # the callback ignores it (most lines: "reserved" and the devices)
        start = line.start
        last = line.end - 1
        span = (start, last)
        if tools.reads_low_region and name == "Crash kernel (low)":
            if out.low:  # mem_regions_add into the one-slot list fails: the callback fails, the read stops
                break
            out.low.append(span)
        elif name == "Crash kernel":
            slots = [s for s, _ in out.usable] + [0] * (tools.usable_capacity - len(out.usable))
            if tools.skip_duplicates and start in slots:
                size = last + 1 - start
                out.warnings.append(
                    f"Warning, the range already exists in usablemem_rgns, base={start:x}, length={size:x}"
                )
                continue
            if len(out.usable) >= tools.usable_capacity:
                if tools.sysram_capacity is not None:  # fixed arrays (2.0.20): the read stops here
                    break
                raise KdumplabError(
                    "iomem", "a third 'Crash kernel' entry",
                    f"kexec-tools {tools.version} would realloc() a static 2-entry array (undefined behaviour)",
                )
            out.usable.append(span)
        elif name == "System RAM":
            if tools.sysram_capacity is not None and len(out.ram) >= tools.sysram_capacity:
                break
            out.ram.append(span)
        elif name == "Kernel code":
            out.kcode = span
        elif name == "Kernel data":
            out.kdata = span
    return out


def _memory_map(tools: KexecTools, lines: list[Resource], load: Span | None) -> tuple[list[Span], list[int]]:
    """my_load's get_memory_ranges: the RAM ranges used by locate_hole and the segment checks, and the
    addresses that feed set_phys_offset's "iomem" fallback.

    2.0.20 (get_memory_ranges_iomem_cb): 'System RAM' lines are RAM, 'reserved' lines a separate type that
    hole finding ignores, nothing is subtracted; after 64 such lines the read stops. 2.0.21+: each
    'System RAM' line starts a range, and every later line that overlaps the newest range and is not
    'System RAM', 'Kernel code', 'Kernel data' or the load region's own 'Crash kernel' is cut out of it.
    """
    ram: list[Span] = []
    starts: list[int] = []
    if not tools.subtract_children:
        matched = 0
        for line in lines:
            if tools.memmap_line_limit is not None and matched >= tools.memmap_line_limit:
                break
            name = line.name
            if name != "System RAM" and name != "reserved":
                continue
            matched += 1
            starts.append(line.start)
            if name == "System RAM":
                ram.append((line.start, line.end - 1))
        return ram, starts
    # One pass: while the list is sorted and disjoint (System RAM lines in address order, each cut a proper
    # range, the /proc/iomem of every boot), a cut that overlaps the newest range lies in no other, so
    # mem_regions_exclude's search from the first range can only stop at the newest: cut it there. Any other
    # list takes the search itself from then on (tests/test_kexec.py compares both on hostile lines).
    ordered = True
    top_start = top_last = 0  # ram[-1], read once after each change (meaningful while ram is not empty)
    for line in lines:
        name = line.name
        start = line.start
        last = line.end - 1
        if name == "System RAM":
            if last < start or (ram and start <= top_last):
                ordered = False
            ram.append((start, last))
            top_start, top_last = start, last
            continue
        if name == "Kernel code" or name == "Kernel data" or (
                name == "Crash kernel" and load is not None and start == load[0] and last == load[1]):
            continue
        if not ram or top_last < start or last < top_start:
            continue
        if ordered and start <= last:
            if top_start <= start and last <= top_last:
                _cut(ram, len(ram) - 1, start, last)
                if ram:
                    top_start, top_last = ram[-1]
            continue
        _exclude(ram, (start, last))
        ordered = False
        if ram:
            top_start, top_last = ram[-1]
    return ram, [ram[0][0]] if ram else []


def _page_offset(tools: KexecTools, text: int | None, va_bits: int) -> int:
    """The PAGE_OFFSET used for the RAM PT_LOADs' p_vaddr.

    2.0.20 crashdump-arm64.c get_kernel_page_offset: all-ones shifted left by the highest clear bit of _text
    at or below bit 48 (so 0xffffc00000000000 for any unrandomised 5.4+ _text, on 48- and 52-bit kernels
    alike); _text unreadable -> all ones. 2.0.24+ kexec-arm64.c get_page_offset: _text unreadable -> the
    call fails and the value stays 0; otherwise -(1 << va_bits), or -(1 << (va_bits - 1)) for a _text below
    that (pre-5.4 layout).
    """
    if not tools.page_offset_from_va_bits:
        if text is None:
            return U64_MAX
        for bit in range(48, 0, -1):
            if not text >> bit & 1:
                return (U64_MAX << bit) & U64_MAX
        return U64_MAX
    if text is None:
        return 0
    mid = (U64_MAX << (va_bits - 1)) & U64_MAX
    return mid if text < mid else (U64_MAX << va_bits) & U64_MAX


def _memstart_addr(first_ram: int, va_bits: int) -> int:
    """NUMBER(PHYS_OFFSET) without KASLR (arch/arm64/mm/init.c arm64_memblock_init): RAM start rounded down
    to 1 GiB (4K pages), lowered by PAGE_OFFSET(48) - PAGE_OFFSET(52) when a 52-bit kernel runs on 48-bit
    hardware (QEMU cortex-a57). KASLR also lowers it by a random multiple of 1 GiB: pass the real value."""
    memstart = align_down(first_ram, SZ_1G)
    if va_bits == 52:
        memstart -= ((U64_MAX << 48) & U64_MAX) - ((U64_MAX << 52) & U64_MAX)
    return memstart


def _phys_offset(tools: KexecTools, vmcoreinfo: int | None, iomem_starts: list[int]) -> int:
    """set_phys_offset keeps the minimum of the vmcoreinfo value and the iomem addresses: unsigned in 2.0.20
    (a negative, KASLR-lowered memstart_addr loses to the RAM start), signed from 2.0.24."""
    cands = ([vmcoreinfo] if vmcoreinfo is not None else []) + iomem_starts
    if not cands:
        return 0
    if tools.phys_offset_signed:
        return min(cands) & U64_MAX
    return min(c & U64_MAX for c in cands)


# --------------------------------------------------------------------------------------------------------
# the load


class _Run:
    """What has been printed and found so far; turned into a KexecLoad at the end or on failure (a plain class:
    mypyc makes it a native one, with a compiled __init__)."""

    __slots__ = ("tools", "syscall", "output", "usable", "low", "crash", "ram", "memmap", "page_offset",
                 "phys_offset")

    def __init__(self, tools: KexecTools) -> None:
        self.tools = tools
        self.syscall = "kexec_load"
        self.output: list[str] = []
        self.usable: tuple[tuple[int, int], ...] = ()
        self.low: tuple[int, int] | None = None
        self.crash: tuple[PhysRange, ...] = ()
        self.ram: tuple[PhysRange, ...] = ()
        self.memmap: tuple[Span, ...] = ()
        self.page_offset: int | None = None
        self.phys_offset: int | None = None

    def fail(self, *err: str, status: int = 255, segs: tuple[Segment, ...] = (),
             elfcorehdr: tuple[int, int] | None = None, phdrs: tuple[Phdr, ...] = ()) -> KexecLoad:
        """A failed run; ``status`` 1 for kexec-tools' die() (exit(1)), 255 for a load that returned -1."""
        return self.done(False, err, segs, None, elfcorehdr, phdrs, status=status)

    def done(self, loaded: bool, err: tuple[str, ...], segs: tuple[Segment, ...], entry: int | None,
             elfcorehdr: tuple[int, int] | None, phdrs: tuple[Phdr, ...], kern: int | None = None,
             status: int = 0) -> KexecLoad:
        out = tuple(self.output) + err
        return _kexec_load(self.tools.version, loaded, out if err else None, out, segs, entry, self.usable,
                           elfcorehdr, phdrs, self.crash, self.ram, self.syscall, self.memmap, self.page_offset,
                           self.phys_offset, KEXEC_ON_CRASH | KEXEC_ARCH_ARM64, kern, status, self.low)


def _native_kexec_load(tools: str, loaded: bool, error: tuple[str, ...] | None, output: tuple[str, ...],
                       segments: tuple[Segment, ...], entry: int | None,
                       usable_memory_ranges: tuple[tuple[int, int], ...], elfcorehdr: tuple[int, int] | None,
                       phdrs: tuple[Phdr, ...], crash_entries_seen: tuple[PhysRange, ...],
                       sysram_seen: tuple[PhysRange, ...], syscall: str, memory_map: tuple[tuple[int, int], ...],
                       page_offset: int | None, phys_offset: int | None, flags: int, kern_paddr_start: int | None,
                       exit_status: int, low_memory_range: tuple[int, int] | None) -> KexecLoad:
    """``KexecLoad(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = KexecLoad.__new__(KexecLoad)
    o.tools = tools  # type: ignore[misc]
    o.loaded = loaded  # type: ignore[misc]
    o.error = error  # type: ignore[misc]
    o.output = output  # type: ignore[misc]
    o.segments = segments  # type: ignore[misc]
    o.entry = entry  # type: ignore[misc]
    o.usable_memory_ranges = usable_memory_ranges  # type: ignore[misc]
    o.elfcorehdr = elfcorehdr  # type: ignore[misc]
    o.phdrs = phdrs  # type: ignore[misc]
    o.crash_entries_seen = crash_entries_seen  # type: ignore[misc]
    o.sysram_seen = sysram_seen  # type: ignore[misc]
    o.syscall = syscall  # type: ignore[misc]
    o.memory_map = memory_map  # type: ignore[misc]
    o.page_offset = page_offset  # type: ignore[misc]
    o.phys_offset = phys_offset  # type: ignore[misc]
    o.flags = flags  # type: ignore[misc]
    o.kern_paddr_start = kern_paddr_start  # type: ignore[misc]
    o.exit_status = exit_status  # type: ignore[misc]
    o.low_memory_range = low_memory_range  # type: ignore[misc]
    return o


#: ``KexecLoad(...)`` with every field given, in order (kdumplab.frozen)
_kexec_load: Final = maker(KexecLoad, tuple(f.name for f in fields(KexecLoad)), _native_kexec_load)


def load_crash_kernel(
    tools: KexecTools,
    kernel: KernelKexecFacts,
    iomem_text: str | tuple[IomemLine, ...] | tuple[Resource, ...],
    crashk_res: PhysRange | None,
    inputs: KexecInputs,
) -> KexecLoad:
    """What ``kexec -p [--initrd] Image`` of this kexec-tools release does against this kernel.

    ``output`` holds what kexec-tools prints without ``-d`` (warnings, errors); ``error`` the same when the
    load fails. A ``die()`` in kexec-tools ends the output at its message (no "Cannot load" after it).
    ``iomem_text`` is /proc/iomem's text, the lines kexec-tools reads from it (:func:`parse_iomem_lines`), or
    the resource tree it is printed from.
    """
    run = _Run(tools)
    lines = _lines(iomem_text)

    # --- main: the reservation check runs before anything else for -p (also with -s)
    cp = _crash_pass(tools, lines)
    run.output += cp.warnings
    run.crash = tuple(checked_range(s, e + 1) for s, e in cp.usable)  # (spans read from /proc/iomem's text too)
    run.ram = tuple(checked_range(s, e + 1) for s, e in cp.ram)
    # 2.0.24+: the list is non-empty; 2.0.20: the single slot's start differs from its (inclusive) end
    reserved = bool(cp.usable) and (tools.reserved_if_nonempty or cp.usable[0][0] != cp.usable[0][1])
    if not reserved:
        return run.fail(
            "Memory for crashkernel is not reserved",
            f"Please reserve memory by passing{tools.not_reserved_hint} parameter to kernel",
            "Then try to loading kdump kernel",
            status=1,
        )

    # --- main: which system call
    if inputs.mode == "-s" or (inputs.mode == "default" and tools.file_load_first):
        if kernel.kexec_file:
            raise KdumplabError("kexec", "kexec_file_load: the kernel places the segments itself",
                                "not modelled; use mode='-c' for the kexec_load path")
        if inputs.mode == "-s":
            run.syscall = "kexec_file_load"
            return run.fail(tools.file_only_enosys, status=tools.file_only_exit)
        # 2.0.27+ default: ENOSYS -> silent fallback to kexec_load

    # --- my_load: memory map (before the image is even probed)
    region = cp.usable[-1] if tools.load_region_is_last else cp.usable[0]
    run.usable = tuple(reversed(cp.usable)) if tools.usable_reverse_order else tuple(cp.usable)
    run.low = cp.low[0] if cp.low else None
    memmap, iomem_starts = _memory_map(tools, lines, region)
    run.memmap = tuple(memmap)
    if not memmap:
        return run.fail("Could not get memory layout")
    va_bits = inputs.va_bits if inputs.va_bits is not None else kernel.va_bits
    first_ram = cp.ram[0][0] if cp.ram else memmap[0][0]
    vmci = (inputs.vmcoreinfo_phys_offset if inputs.vmcoreinfo_phys_offset is not None
            else _memstart_addr(first_ram, va_bits))
    run.phys_offset = _phys_offset(tools, vmci, iomem_starts)

    # --- image_arm64_load: header, kernel slot
    image_size, text_offset = inputs.image_size, inputs.text_offset
    if image_size == 0:
        image_size, text_offset = PRE_3_17_IMAGE_SIZE, PRE_3_17_TEXT_OFFSET
        run.output += [
            "kexec: arm64_process_image_header: Warning: Kernel image size set to 16 MiB.",
            "  Please verify compatability with lodaed kernel.",
        ]
    hole = align_up(region[0], SZ_2M)
    if hole + text_offset + image_size > region[1]:  # exclusive end against the inclusive last: off by one
        return run.fail(*_cannot_load(inputs))
    image_base = hole + text_offset

    # --- load_crashdump_segments: RAM minus every usable entry, then the ELF headers
    system = list(cp.ram)
    for cut in cp.usable:
        if _exclude(system, cut) and tools.sysram_capacity is not None and len(system) > tools.sysram_capacity:
            return run.fail("Error: Number of crash memory ranges excedeed the max limit", *_cannot_load(inputs))
    system.sort()
    text_readable = inputs.text_in_kallsyms if inputs.text_in_kallsyms is not None else kernel.text_in_kallsyms
    text = inputs.kernel_text_vaddr if inputs.kernel_text_vaddr is not None else kernel.text_vaddr
    text_sym = text if text_readable else None
    run.page_offset = _page_offset(tools, text_sym, va_bits)
    phdrs, kern_start = _elf_headers(tools, cp, inputs, text_sym, text, system, run.page_offset - run.phys_offset)
    if text_sym is None and tools.page_offset_from_va_bits:  # get_page_offset's own complaint (not -d only)
        run.output.append("Can't get the symbol of _text to calculate page_offset.")
    nslots = inputs.possible_cpus + inputs.has_vmcoreinfo + len(system) + (kern_start is not None)
    bufsz = align_up(EHDR_SIZE + PHDR_SIZE * nslots, ELF_CORE_HEADER_ALIGN)
    page = inputs.page_size
    ehdr = _locate_hole(memmap, [], align_up(bufsz, page), region[0], region[1], top_down=True, page=page)
    if ehdr is None:
        return run.fail(_no_hole(bufsz, page), "locate_hole failed", status=1, phdrs=phdrs)
    segs: list[Segment] = [_segment(ehdr, align_up(bufsz, page), "elfcorehdr", bufsz)]
    elfcorehdr = (ehdr, bufsz)

    # --- image_arm64_load: the kernel segment (add_segment checks it against the memory map and dies)
    kmem = align_up(image_size, page)
    if not _valid(memmap, image_base, image_base + kmem - 1):
        return run.fail(f"Invalid memory segment {_ptr(image_base)} - {_ptr(image_base + kmem - 1)}",
                        status=1, segs=tuple(segs), elfcorehdr=elfcorehdr, phdrs=phdrs)
    kfile = inputs.kernel_file_size if inputs.kernel_file_size is not None else image_size
    _add_segment(segs, _segment(image_base, kmem, "kernel", min(kfile, kmem)))

    # --- arm64_load_other_segments: setup_2nd_dtb first (cells, kaslr-seed), then the buffers
    why: tuple[str, ...] | None = None
    if not _fits(inputs, ehdr, ehdr + bufsz - 1):
        why = ("kexec: elfcorehdr doesn't fit cells-size.",)
    elif not all(_fits(inputs, s, e) for s, e in cp.usable):
        why = ("kexec: usable memory range doesn't fit cells-size.",)
    elif inputs.kaslr_seed:  # a non-zero seed: only a -d line ("kaslr-seed is not wiped to 0.") says why
        why = ()
    if why is not None:
        return run.fail(*why, "kexec: setup_2nd_dtb failed.", *_cannot_load(inputs),
                        segs=tuple(segs), elfcorehdr=elfcorehdr, phdrs=phdrs)
    hole_min, hole_max = image_base + image_size, region[1]
    if inputs.initrd_size:
        base = _place(segs, memmap, "initrd", inputs.initrd_size, inputs.initrd_size, hole_min, hole_max, page)
        if base is None:
            return run.fail(_no_hole(inputs.initrd_size, page), "locate_hole failed", status=1, segs=tuple(segs),
                            elfcorehdr=elfcorehdr, phdrs=phdrs)
        if align_up(base + inputs.initrd_size, SZ_1G) - align_down(image_base, SZ_1G) > IMAGE_INITRD_SPAN_MAX:
            return run.fail("kexec: Error: image + initrd too big.", *_cannot_load(inputs), segs=tuple(segs),
                            elfcorehdr=elfcorehdr, phdrs=phdrs)
    dtb_bytes = _dtb_bytes(inputs, len(run.usable), run.low is not None)
    if dtb_bytes > DTB_MAX:
        return run.fail("kexec: Error: dtb too big.", *_cannot_load(inputs), segs=tuple(segs),
                        elfcorehdr=elfcorehdr, phdrs=phdrs)
    if _place(segs, memmap, "dtb", dtb_bytes, dtb_bytes, hole_min, hole_max, page) is None:
        return run.fail(_no_hole(dtb_bytes, page), "locate_hole failed", status=1, segs=tuple(segs),
                        elfcorehdr=elfcorehdr, phdrs=phdrs)
    pmem = inputs.purgatory_size if inputs.purgatory_size is not None else tools.purgatory_memsz
    base = _place(segs, memmap, "purgatory", pmem, min(tools.purgatory_bufsz, pmem), hole_min, hole_max, page)
    if base is None:
        return run.fail(_no_hole(pmem, page), "locate_hole failed", status=1, segs=tuple(segs),
                        elfcorehdr=elfcorehdr, phdrs=phdrs)
    entry = base + tools.purgatory_entry_offset
    final = tuple(segs)

    # --- the running kernel: kimage_alloc_init (entry) and sanity_check_segment_list (segments)
    inside = (
        crashk_res is not None
        and crashk_res.start <= entry < crashk_res.end
        and all(crashk_res.start <= s.start and s.start + s.size <= crashk_res.end for s in final)
    )
    err: tuple[str, ...] = ()
    if not inside:
        err = ("kexec_load failed: Cannot assign requested address",
               f"entry       = {_ptr(entry)} flags = {KEXEC_ON_CRASH | KEXEC_ARCH_ARM64:#x}",
               *_segment_dump(final))
    return run.done(inside, err, final, entry, elfcorehdr, phdrs, kern_start, status=0 if inside else 255)


def _cannot_load(inputs: KexecInputs) -> tuple[str, str]:
    """What kexec-tools prints when my_load fails after the image was read."""
    return ("kexec: load failed.", f"Cannot load {inputs.kernel_path}")


def _fits(inputs: KexecInputs, start: int, last: int) -> bool:
    """setup_2nd_dtb's cells check: [start, last] can be written with #address-cells and #size-cells."""
    return not (inputs.address_cells == 1 and start >= 1 << 32) and not (
        inputs.size_cells == 1 and last + 1 - start >= 1 << 32)


def _place(segs: list[Segment], memmap: list[Span], what: str, memsz: int, bufsz: int, lo: int, hi: int,
           page: int) -> int | None:
    """arm64_load_other_segments' add_buffer: the lowest hole in [lo, hi] (bottom-up) takes the next segment
    (added to ``segs``); its address, None when there is no hole."""
    base = _locate_hole(memmap, segs, align_up(memsz, page), lo, hi, top_down=False, page=page)
    if base is not None:
        _add_segment(segs, _segment(base, align_up(memsz, page), what, bufsz))
    return base


def _add_segment(segs: list[Segment], seg: Segment) -> None:
    """Add ``seg`` to ``segs``, kept in address order (the order kexec_load is handed them and locate_hole reads
    them in), after any segment at the same address."""
    i = len(segs)
    while i and segs[i - 1].start > seg.start:
        i -= 1
    segs.insert(i, seg)


def _no_hole(memsz: int, page: int) -> str:
    """locate_hole's message when no hole holds ``memsz`` bytes (page-rounded)."""
    return f"Could not find a free area of memory of {align_up(memsz, page):#x} bytes..."


def _dtb_bytes(inputs: KexecInputs, usable_ranges: int, low_range: bool = False) -> int:
    """The DTB segment's size: setup_2nd_dtb writes one (address, size) pair per usable range, so every range
    after the first adds 4 * (#address-cells + #size-cells) bytes to the packed tree (recorded: 0x1e46 with
    one range, 0x1e56 with two, 2/2 cells). A linux,low-memory-range property adds its 12-byte FDT_PROP
    header, one pair, and its name with the terminating NUL to the strings block (not 4-byte padded there)."""
    pair = 4 * (inputs.address_cells + inputs.size_cells)
    low = 12 + pair + len("linux,low-memory-range") + 1 if low_range else 0
    return inputs.dtb_size + pair * max(usable_ranges - 1, 0) + low


def _elf_headers(tools: KexecTools, cp: _CrashPass, inputs: KexecInputs, text_sym: int | None, text: int,
                 system: list[Span], ram_vaddr: int) -> tuple[tuple[Phdr, ...], int | None]:
    """crashdump-elf.c crash_create_elf64_headers: a PT_NOTE per CPU and one for vmcoreinfo (addresses are
    not modelled: 0), a kernel PT_LOAD when Kernel data was seen, then one PT_LOAD per range of RAM minus the
    usable entries, sorted (a 0-0 range is counted in the buffer but not written). A RAM PT_LOAD's vaddr is
    its paddr plus ``ram_vaddr`` (page_offset - phys_offset), modulo 2^64.

    Kernel start: the Kernel code line; 2.0.24+ moves it back by (_stext - _text) when the line is exactly
    [_stext, __init_begin). An unreadable _text counts as 0 there, so on 6.1 (Kernel code from _stext, no
    _text in kallsyms) the start wraps below zero and the size becomes ~2^64 (recorded: 6.1-kt2.0.25 cycle).
    p_vaddr of the kernel PT_LOAD = _text, or all ones when unreadable.
    """
    phdrs = [_NOTE] * (inputs.possible_cpus + inputs.has_vmcoreinfo)  # addresses not modelled: all alike
    kern_start: int | None = None
    if cp.kdata is not None:
        start = cp.kcode[0] if cp.kcode is not None else 0
        if (tools.stext_correction and cp.kcode is not None and inputs.init_begin_minus_stext is not None
                and inputs.init_begin_minus_stext == cp.kcode[1] + 1 - cp.kcode[0]):
            stext_vaddr = text + inputs.stext_minus_text
            start = (start - (stext_vaddr - (text_sym or 0))) & U64_MAX
        size = (cp.kdata[1] + 1 - start) & U64_MAX
        if size:
            kern_start = start
            phdrs.append(_phdr("PT_LOAD", start, text_sym if text_sym is not None else U64_MAX, size))
    for s, e in system:
        if s == 0 and e == 0:
            continue
        phdrs.append(_phdr("PT_LOAD", s, (s + ram_vaddr) & U64_MAX, e + 1 - s))
    return tuple(phdrs), kern_start


def _segment_dump(segs: tuple[Segment, ...]) -> tuple[str, ...]:
    """kexec.c print_segments; the buffer pointer is a host address the model cannot know."""
    out = [f"nr_segments = {len(segs)}"]
    for i, s in enumerate(segs):
        out += [f"segment[{i}].buf   = (host pointer)", f"segment[{i}].bufsz = {s.bufsz:#x}",
                f"segment[{i}].mem   = {_ptr(s.start)}", f"segment[{i}].memsz = {s.size:#x}"]
    return tuple(out)


def debug_segment_lines(load: KexecLoad) -> tuple[str, ...]:
    """The lines ``kexec -p -d`` prints right before the kexec_load call (my_load), for comparison with a
    recording: the entry/flags line, then print_segments (buffer pointers replaced)."""
    if load.entry is None:
        return ()
    return (f"kexec_load: entry = {_ptr(load.entry)} flags = {load.flags:#x}", *_segment_dump(load.segments))


def verdict(load: KexecLoad) -> str:
    """One plain-English sentence about the load."""
    n = len(load.crash_entries_seen)
    if load.loaded:
        return (
            f"kexec-tools {load.tools} loads the crash kernel ({n} 'Crash kernel' entr{'y' if n == 1 else 'ies'} seen)."
        )
    why = load.error[0] if load.error else "unknown"
    one_slot = load.tools in KEXEC_TOOLS and KEXEC_TOOLS[load.tools].usable_capacity == 1
    if load.error and load.error[0].startswith("kexec_load failed") and n == 1 and one_slot:
        return (
            f"kexec-tools {load.tools} sees only the first 'Crash kernel' entry, places every segment in it and "
            f"the kernel refuses the load ({why}): no crash kernel is loaded and a panic will not be captured."
        )
    return f"kexec-tools {load.tools} fails ({why}): no crash kernel is loaded and a panic will not be captured."
