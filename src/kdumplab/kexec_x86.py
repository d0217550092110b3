"""``kexec -p`` of a bzImage on x86_64: where kexec-tools (kexec_load) or the kernel itself (kexec_file_load) puts
each segment, and what the crash kernel is handed: its e820 map, its command line and the elfcorehdr.

Read in kexec-tools 2.0.25 (Debian 2.0.25-3+deb12u3), 2.0.29 (Debian 2.0.29-2) and 2.0.32 (upstream tarball)
``kexec/arch/x86_64/kexec-bzImage64.c``, ``kexec/arch/i386/crashdump-x86.c``, ``x86-linux-setup.c``,
``kexec-x86-common.c`` and ``kexec/kexec.c``; 2.0.20 (its source is 404 on the mirror) from its recorded runs,
which differ from 2.0.25 only where the table below says. The kernel's side (kexec_file_load) from Linux
``arch/x86/kernel/crash.c`` (crash_load_segments, crash_setup_memmap_entries, elf_header_exclude_ranges),
``arch/x86/kernel/kexec-bzimage64.c`` and ``kernel/kexec_file.c`` (locate_mem_hole_top_down), checked against the
segments 6.12 and 7.2 print with KEXEC_FILE_DEBUG.

kexec_load, in kexec-tools' order (every buffer page-rounded, inside the *last* "Crash kernel" line of
/proc/iomem: get_memory_ranges narrows mem_min/mem_max to it, get_crash_kernel_load_range):

1. ``load_crashdump_segments``: the crash memory ranges (every System RAM / reserved / ACPI line of
   /proc/iomem, nested ones too, less every "Crash kernel" range); the *backup* source is the first RAM range
   ending at or below 640 KiB (its bytes are copied aside by purgatory, so the crash kernel may use it as RAM); the
   crash kernel's map starts as that range plus every crash region; the backup segment (its size rounded to
   1 KiB) goes top-down and is cut out of the map; then the ELF core header (PT_NOTE per possible CPU and
   for vmcoreinfo, the kernel text, one PT_LOAD per RAM range; 1 KiB aligned; memsz at least 16 KiB, "a
   makeshift solution" for old linkers) top-down, cut out too; then ``acpi_rsdp=`` (unless EFI booted with a
   runtime map) and ``elfcorehdr=<KiB>K`` are appended; reserved/ACPI/NVS ranges join the map (overlaps
   skipped).
2. purgatory, top-down from 0x3000; 3. boot_params + command line (setup sectors, command line, 64 bytes for
   purgatory's own), top-down from 0x3000; 4. the kernel (init_size, aligned to the header's
   kernel_alignment), top-down from 1 MiB (2.0.32: from the header's pref_address); 5. the initrd, top-down from
   16 MiB; 6. setup_data, bottom-up from 1 MiB: under EFI the efi_setup_data and the runtime map, then (2.0.25+)
   a 32-byte RNG seed; 7. the map becomes boot_params' e820 table.

kexec_file_load (the kernel, 6.8+ printing it with ``-d``): the ELF headers bottom-up at the crash region's start
(with CONFIG_CRASH_HOTPLUG sized for CONFIG_NR_CPUS_DEFAULT + CONFIG_CRASH_MAX_MEMORY_RANGES headers), then
purgatory, boot_params, kernel and initrd top-down, each at the highest place clear of the others; the e820
table is the RAM of the first MiB, ACPI, NVS, reserved, the low region and the crash region after the headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kdumplab.errors import KdumplabError
from kdumplab.kexec import IomemLine, Phdr, Segment, _locate_hole, parse_iomem_lines
from kdumplab.profiles import ProfileTable
from kdumplab.ranges import SZ_1M, align_down, align_up

__all__ = ["X86KexecTools", "X86_KEXEC_TOOLS", "X86KernelFacts", "X86_KERNELS", "X86Inputs", "X86KexecLoad",
           "SetupData", "OVMF_RUNTIME_MAP", "seabios_rsdp", "x86_kexec_tools", "load_crash_kernel_x86",
           "x86_verdict", "e820_lines"]

PAGE = 0x1000
KEXEC_ON_CRASH = 0x1
KEXEC_ARCH_X86_64 = 62 << 16  # EM_X86_64 in the flags' arch byte: "flags = 0x3e0001"
E820_RAM, E820_RESERVED, E820_ACPI, E820_NVS = 1, 2, 3, 4
ELF_HEADER_SIZE, PHDR_SIZE = 64, 56
ELF_CORE_HEADER_ALIGN = 1024  # kexec-tools kexec/crashdump.h; the kernel's is 4096
BACKUP_LIMIT = 0xA0000  # crashdump-x86.c get_backup_area: the first RAM range ending at or below 640 KiB
ELFCOREHDR_MIN_MEMSZ = 16 << 10  # crashdump-x86.c load_crashdump_segments
PURGATORY_CMDLINE_SIZE = 64  # kexec-x86.h: room for purgatory's own command line after the kernel's
MAX_ELFCOREHDR_STR_LEN = 30  # arch/x86/kernel/kexec-bzimage64.c: "elfcorehdr=0x<64-bit hex> "
SETUP_DATA_HEADER = 16  # struct setup_data: next, type, len
EFI_SETUP_DATA = 96  # struct efi_setup_data: fw_vendor, __unused, tables, smbios, reserved[8]
RNG_SEED = 32  # x86-linux-setup.c setup_rng_seed / the kernel's RNG_SEED_LENGTH
EFI_RUNTIME_DESC = 40  # kexec-tools' struct efi_mem_descriptor, one per /sys/firmware/efi/runtime-map entry
CRASH_RESERVED_MEM_NR = 8  # crashdump-x86.c: "Crash kernel" lines read
E820MAX = 128  # entries in boot_params itself; the rest would go in a setup_data (not modelled)
MIN_PURGATORY_ADDR, MIN_BOOTPARAM_ADDR, MIN_KERNEL_LOAD_ADDR, MIN_INITRD_LOAD_ADDR = 0x3000, 0x1000, 0x100000, 0x1000000


@dataclass(frozen=True, slots=True)
class X86KexecTools:
    """One kexec-tools release as its x86_64 crash load behaves; every field that differs between releases."""

    version: str
    #: x86-linux-setup.c setup_rng_seed: a SETUP_RNG_SEED setup_data of 32 random bytes (in 2.0.25's source;
    #: absent from every recorded 2.0.20 load)
    rng_seed: bool
    #: kexec-bzImage64.c do_bzImage64_load: 2.0.32 starts the kernel's hole at the header's pref_address
    #: (kernel64_min_addr), earlier releases at 1 MiB
    kernel_min_pref_address: bool
    #: kexec.c main: 2.0.28+ passes KEXEC_FILE_DEBUG (0x8) to kexec_file_load when given ``-d``; kernels before
    #: 6.8 (commit cbc2fe9d9cb2 "kexec_file: add kexec_file flag to control debug printing") refuse the unknown
    #: flag with EINVAL, which kexec-tools takes as "not available": ``-s -d`` fails, the default mode falls back
    file_debug_flag: bool
    #: kexec.c main: 2.0.27+ tries kexec_file_load first and falls back to kexec_load silently
    file_load_first: bool
    #: Debian's purgatory (recorded: every load's segment and "entry = " line)
    purgatory_bufsz: int = 0x70E0
    purgatory_memsz: int = 0x9000
    purgatory_entry: int = 0x760
    file_only_refusal: str = "syscall kexec_file_load not available."  # kexec.c: -s and EFALLBACK
    file_only_exit: int = 253


X86_KEXEC_TOOLS: dict[str, X86KexecTools] = {t.version: t for t in (
    X86KexecTools("2.0.20", rng_seed=False, kernel_min_pref_address=False, file_debug_flag=False,
                  file_load_first=False, purgatory_entry=0x740,
                  file_only_refusal="kexec_file_load failed: Function not implemented", file_only_exit=255),
    X86KexecTools("2.0.25", rng_seed=True, kernel_min_pref_address=False, file_debug_flag=False,
                  file_load_first=False, purgatory_entry=0x760),
    X86KexecTools("2.0.29", rng_seed=True, kernel_min_pref_address=False, file_debug_flag=True,
                  file_load_first=True, purgatory_entry=0x730),
    X86KexecTools("2.0.32", rng_seed=True, kernel_min_pref_address=True, file_debug_flag=True,
                  file_load_first=True, purgatory_entry=0x690),
)}


def x86_kexec_tools(version: str) -> X86KexecTools:
    try:
        return X86_KEXEC_TOOLS[version]
    except KeyError:
        raise KdumplabError("--kexec-tools", f"unknown kexec-tools version {version!r} for x86_64",
                            f"one of {', '.join(X86_KEXEC_TOOLS)}") from None


@dataclass(frozen=True, slots=True)
class X86KernelFacts:
    """One Debian amd64 kernel as kexec sees it: its bzImage header (read from the packaged vmlinuz), its text
    span (kcore's kernel-text PT_LOAD: _end - _text, page-rounded; recorded /proc/vmcore headers), and what its
    own kexec_file_load does (kernel/kexec_file.c, arch/x86/kernel/crash.c; recorded -d segment lines)."""

    generation: str
    setup_sects: int  # header 0x1f1: the real-mode part is (setup_sects + 1) * 512 bytes
    payload: int  # bzImage bytes after the real-mode part: the kernel segment's bufsz
    init_size: int  # header 0x260: the kernel segment's memsz
    text_span: int  # _end - _text: the kernel-text PT_LOAD
    #: bytes of its VMCOREINFO note: the merged PT_NOTE of its recorded one-CPU cycles (tests/data/cycles-x86,
    #: nokaslr) less one 356-byte x86_64 NT_PRSTATUS note (crashview.crash_notes_bytes)
    vmcoreinfo_note: int = 3288
    kernel_alignment: int = 0x20_0000  # header 0x230 (CONFIG_PHYSICAL_ALIGN)
    pref_address: int = 0x100_0000  # header 0x258 (LOAD_PHYSICAL_ADDR)
    #: kexec_file_load accepts KEXEC_FILE_DEBUG (6.8+) and prints its placement
    file_debug_ok: bool = False
    #: CONFIG_CRASH_HOTPLUG (6.5+ in Debian's config): the kernel sizes its ELF headers for
    #: 2 + NR_CPUS_DEFAULT (8192) + CRASH_MAX_MEMORY_RANGES (8192) program headers and hands the crash kernel
    #: the region from their end
    file_hotplug_headers: bool = False
    #: the kernel's purgatory memsz (6.12/7.2: as their -d lines print it; 6.1: from where its boot_params
    #: landed, seen through the RNG seed's System RAM split; 5.10: unseen, None) and its bufsz and entry offset as
    #: printed (0 / None: not printed before 6.8)
    file_purgatory_memsz: int | None = 0x5000
    file_purgatory_bufsz: int = 0
    file_entry: int | None = None
    #: the kernel's bzImage64_load adds an RNG seed setup_data to boot_params (6.1, 6.12, 7.2 recorded: a
    #: System RAM split inside it; 5.10: none)
    file_rng_seed: bool = True
    #: what the crash kernel does with setup_data (e820__reserve_setup_data): "whole" marks header + data
    #: E820_TYPE_RESERVED_KERN, which /proc/iomem shows as a System RAM line of its own; "rng-header" the
    #: same, but an RNG seed's len was zeroed first (parse_setup_data, 6.0+), so only its 16-byte header;
    #: "none": 7.x no longer splits System RAM for it
    setup_data_split: str = "rng-header"
    #: the first MiB in the crash kernel's MemTotal: 5.10 reserves only X86_RESERVE_LOW (64 KiB) and the
    #: real-mode trampoline; 5.13+ reserves all of it (commit f1d4d47c5851 "x86/setup: Always reserve the first
    #: 1M of RAM")
    reserves_first_mib: bool = True


#: Every Debian amd64 kernel's facts, by kernel name: a view of the x86_64 kernel profiles
#: (kdumplab.profiles.debian_x86), where each kernel's numbers and their sources are written.
X86_KERNELS: Mapping[str, X86KernelFacts] = ProfileTable(
    lambda p: (p.name, p.kexec) if p.kexec is not None else None, arch="x86_64")
NR_CPUS_DEFAULT = 8192  # Debian's CONFIG_NR_CPUS (MAXSMP off)
CRASH_MAX_MEMORY_RANGES = 8192


#: OVMF 2022.11 (Debian 2022.11-6+deb12u2) on q35: /sys/firmware/efi/runtime-map entries, from the 280-byte map
#: segment of the recorded UEFI loads (7 x 40 bytes)
OVMF_RUNTIME_MAP = 7


def seabios_rsdp(ram_above_4g: bool) -> int:
    """Where SeaBIOS 1.16.2 leaves the ACPI RSDP on q35 (the acpi_rsdp= kexec-tools appends, recorded): 0x20
    lower when the guest has RAM above 4 GiB (one more memory entry in SeaBIOS' F-segment tables before it)."""
    return 0xF59C0 if ram_above_4g else 0xF59E0


@dataclass(frozen=True, slots=True)
class X86Inputs:
    """What ``kexec -p -d [-s] --initrd=F --append=A bzImage`` sees besides /proc/iomem."""

    append: str = "console=ttyS0 panic=-1 maxcpus=1 reset_devices"
    initrd_size: int | None = None
    possible_cpus: int = 1  # one PT_NOTE each (/sys/devices/system/cpu/possible: -smp 1 gives 1)
    has_vmcoreinfo: bool = True
    #: boot_params.acpi_rsdp_addr as the running kernel has it (SeaBIOS puts the RSDP in the F segment:
    #: 0xf59e0 on the recorded q35 guests without RAM above 4 GiB, 0xf59c0 with it)
    acpi_rsdp: int | None = 0xF59E0
    #: booted through EFI with /sys/firmware/efi/runtime-map: its entry count (OVMF 2022.11 on q35: 7);
    #: 0 when booted by BIOS
    efi_runtime_map: int = 0
    mode: str = "default"  # "default", "-s" (file only) or "-c" (kexec_load only)
    debug: bool = True  # -d (the lab always passes it; it matters for kexec_file_load, see file_debug_flag)


@dataclass(frozen=True, slots=True)
class SetupData:
    """A setup_data block handed over in crash memory: [start, start + size)."""

    start: int
    size: int
    kind: str  # "efi", "rng"


@dataclass(frozen=True, slots=True)
class X86KexecLoad:
    """What one x86 ``kexec -p`` did. Attribute names match ``kexec.KexecLoad`` where the meaning is the same;
    ``usable_memory_ranges`` holds the RAM ranges of the e820 map handed to the crash kernel (start, last)."""

    tools: str
    loaded: bool
    error: tuple[str, ...] | None
    output: tuple[str, ...]
    segments: tuple[Segment, ...]
    entry: int | None
    usable_memory_ranges: tuple[tuple[int, int], ...]
    elfcorehdr: tuple[int, int] | None  # (address, bytes the crash kernel must keep: memsz, or the headers' size)
    phdrs: tuple[Phdr, ...]
    syscall: str  # "kexec_load" or "kexec_file_load"
    e820: tuple[tuple[int, int, int], ...] = ()  # (start, last, type) in the order handed over
    cmdline: str = ""
    setup_data: tuple[SetupData, ...] = ()
    #: RAM outside the crash regions the crash kernel may use: the first 640 KiB (kexec_load copied it to the
    #: backup segment) or the first MiB's RAM (kexec_file_load: the low MiB is never dumped, 5.13+)
    lent: tuple[tuple[int, int], ...] = ()
    exit_status: int = 0
    flags: int = KEXEC_ON_CRASH | KEXEC_ARCH_X86_64
    page_offset: int | None = None  # the arm64 vaddr question does not arise: x86 PT_LOAD vaddrs are kcore's
    elfcorehdr_outside_ram: bool = True  # x86 hands the headers over outside the crash kernel's e820 RAM


Span = tuple[int, int]  # (start, last), inclusive as kexec-tools keeps ranges


# ------------------------------------------------------------------------------------------------ small helpers

def _kernel_hole_top_down(start: int, end: int, segs: list[Segment], memsz: int, align: int, lo: int) -> int | None:
    """kernel/kexec_file.c locate_mem_hole_top_down: from the top of the region, step below any segment the
    candidate overlaps (a page at a time, realigned: the same as jumping below it) until one is clear."""
    cand = align_down(end - memsz + 1, align)
    while cand >= max(start, lo):
        hit = [s for s in segs if s.start < cand + memsz and cand < s.start + s.size]
        if not hit:
            return cand
        cand = align_down(min(s.start for s in hit) - memsz, align)
    return None


def _cut(ranges: list[tuple[int, int, int]], start: int, last: int) -> bool:
    """crashdump-x86.c delete_memmap: remove [start, last] from the one entry that holds it (1 KiB aligned)."""
    if start % 1024 or (last + 1) % 1024:
        return False
    for i, (s, e, t) in enumerate(ranges):
        if s <= start and e >= last:
            pieces = [(s, start - 1, t)] if s < start else []
            pieces += [(last + 1, e, t)] if last < e else []
            ranges[i:i + 1] = pieces
            return True
    return False


def _add(ranges: list[tuple[int, int, int]], start: int, last: int, kind: int) -> None:
    """crashdump-x86.c add_memmap: insert in address order; an entry overlapping one already there is dropped."""
    if any(s <= last and e >= start for s, e, _ in ranges):
        return
    ranges.append((start, last, kind))
    ranges.sort()


def _elf_phdrs(kernel: X86KernelFacts, kcode: int, ram: list[Span], inputs: X86Inputs) -> tuple[Phdr, ...]:
    """The program headers: PT_NOTE per possible CPU and for vmcoreinfo, the kernel text at its physical place
    ("Kernel code" start; kcore's text mapping, 1 MiB aligned down, size page-rounded), one PT_LOAD per range."""
    notes = inputs.possible_cpus + (1 if inputs.has_vmcoreinfo else 0)
    out = [Phdr("PT_NOTE", 0, 0, 0)] * notes
    out.append(Phdr("PT_LOAD", kcode, 0, kernel.text_span))
    out += [Phdr("PT_LOAD", s, 0, e - s + 1) for s, e in ram]
    return tuple(out)


# --------------------------------------------------------------------------------------------------- the load

def load_crash_kernel_x86(tools: X86KexecTools, kernel: X86KernelFacts, iomem: str | tuple[IomemLine, ...],
                          inputs: X86Inputs) -> X86KexecLoad:
    """``kexec -p`` on x86_64 against the running kernel's /proc/iomem, its text or the lines kexec-tools reads
    from it (``kexec.iomem_lines``); see the module docstring."""
    lines = parse_iomem_lines(iomem) if isinstance(iomem, str) else iomem
    crash = [(ln.start, ln.last) for ln in lines if ln.name == "Crash kernel"][:CRASH_RESERVED_MEM_NR]
    if not crash:
        return _refused(tools, ("Memory for crashkernel is not reserved",
                                "Please reserve memory by passing\"crashkernel=Y@X\" parameter to kernel",
                                "Then try to loading kdump kernel"), 1, "kexec_load")
    debug_refused = inputs.debug and tools.file_debug_flag and not kernel.file_debug_ok
    file_ok = not debug_refused  # CONFIG_KEXEC_FILE=y in all four Debian amd64 configs
    if inputs.mode == "-s" or (inputs.mode == "default" and tools.file_load_first):
        if file_ok:
            return _file_load(tools, kernel, lines, crash, inputs)
        if inputs.mode == "-s":
            return _refused(tools, (tools.file_only_refusal,), tools.file_only_exit, "kexec_file_load")
    return _kexec_load(tools, kernel, lines, crash, inputs)


def _refused(tools: X86KexecTools, said: tuple[str, ...], status: int, syscall: str) -> X86KexecLoad:
    return X86KexecLoad(tools.version, False, said, said, (), None, (), None, (), syscall, exit_status=status)


def _crash_memory_ranges(lines, crash: list[Span]) -> list[tuple[int, int, int]]:  # noqa: ANN001
    """crashdump-x86.c get_crash_memory_ranges: every line (any depth) named System RAM, ACPI Tables, ACPI
    Non-volatile Storage or reserved/Reserved, in file order, then each crash region cut out of the RAM."""
    kinds = {"ACPI Tables": E820_ACPI, "ACPI Non-volatile Storage": E820_NVS, "reserved": E820_RESERVED,
             "Reserved": E820_RESERVED}
    out: list[tuple[int, int, int]] = []
    for ln in lines:
        kind = E820_RAM if "System RAM" in ln.name else kinds.get(ln.name)
        if kind is not None:
            out.append((ln.start, ln.last, kind))
    for cs, ce in crash:  # exclude_region: shrink or split the range that holds it
        for i, (s, e, t) in enumerate(out):
            if cs < e and ce > s:
                if cs != s and ce != e:
                    out[i] = (s, cs - 1, t)
                    out.insert(i + 1, (ce + 1, e, E820_RAM))
                elif cs != s:
                    out[i] = (s, cs - 1, t)
                else:
                    out[i] = (ce + 1, e, t)
                break
    return out


def _kexec_load(tools: X86KexecTools, kernel: X86KernelFacts, lines, crash: list[Span],  # noqa: ANN001
                inputs: X86Inputs) -> X86KexecLoad:
    load_lo, load_hi = crash[-1]
    # the running kernel's RAM as get_memory_ranges reads it (any RAM line holding the load region will do: the
    # hole search is clipped to that region)
    ram = [(ln.start, ln.last) for ln in lines if ln.depth == 0 and ln.name == "System RAM"]
    mem_ranges = _crash_memory_ranges(lines, crash)
    backup = next(((s, e) for s, e, t in mem_ranges if t == E820_RAM and e <= BACKUP_LIMIT), (0, BACKUP_LIMIT - 1))
    kcode = next((ln.start for ln in lines if ln.name == "Kernel code"), None)
    if kcode is None:
        return _refused(tools, ("Cannot determine kernel physical load addr", "Cannot load /crash/Image"), 255,
                        "kexec_load")
    segs: list[Segment] = []

    def place(what: str, bufsz: int, memsz: int, align: int, lo: int, top_down: bool = True) -> int:
        size = align_up(memsz, PAGE)
        # kexec.c locate_hole, the same on every architecture (the alignment is at least a page)
        base = _locate_hole(ram, sorted(segs, key=lambda s: s.start), size, max(lo, load_lo), load_hi, top_down,
                            max(align, PAGE))
        if base is None:
            raise _NoHole(size)
        segs.append(Segment(base, size, what, bufsz))
        return base

    memmap: list[tuple[int, int, int]] = []
    _add(memmap, backup[0], backup[1], E820_RAM)
    for s, e in crash:
        _add(memmap, s, e, E820_RAM)
    try:
        backup_size = align_up(backup[1] - backup[0] + 1, 1024)
        b = place("backup", backup_size, backup_size, 1024, 0)
        _cut(memmap, b, b + backup_size - 1)
        loads = [(s, e) for s, e, t in mem_ranges if t == E820_RAM]
        phdrs = _elf_phdrs(kernel, kcode, loads, inputs)
        hdr_bufsz = align_up(ELF_HEADER_SIZE + PHDR_SIZE * len(phdrs), ELF_CORE_HEADER_ALIGN)
        hdr_memsz = max(hdr_bufsz, ELFCOREHDR_MIN_MEMSZ)
        hdr = place("elfcorehdr", hdr_bufsz, hdr_memsz, ELF_CORE_HEADER_ALIGN, 0)
        _cut(memmap, hdr, hdr + hdr_memsz - 1)
        cmdline = inputs.append
        if not inputs.efi_runtime_map and inputs.acpi_rsdp:
            cmdline += f" acpi_rsdp={inputs.acpi_rsdp:#x}"
        cmdline += f" elfcorehdr={hdr // 1024}K"
        for s, e, t in mem_ranges:
            if t != E820_RAM:
                _add(memmap, s, e, t)
        purg = place("purgatory", tools.purgatory_bufsz, tools.purgatory_memsz, PAGE, MIN_PURGATORY_ADDR)
        kern16 = max((kernel.setup_sects + 1) * 512, 4096)
        setup_size = kern16 + len(cmdline) + 1 + PURGATORY_CMDLINE_SIZE
        place("boot_params", setup_size, setup_size, 16, MIN_PURGATORY_ADDR)
        kmin = max(MIN_KERNEL_LOAD_ADDR, kernel.pref_address) if tools.kernel_min_pref_address else MIN_KERNEL_LOAD_ADDR
        place("kernel", kernel.payload, kernel.init_size, kernel.kernel_alignment, kmin)
        if inputs.initrd_size:
            place("initrd", inputs.initrd_size, inputs.initrd_size, PAGE, MIN_INITRD_LOAD_ADDR)
        setup: list[SetupData] = []
        for kind, size in _setup_data(tools, inputs):
            at = place(f"setup_data ({kind})" if kind != "efi-map" else "EFI runtime map", size, size, PAGE, SZ_1M,
                       top_down=False)
            if kind != "efi-map":
                setup.append(SetupData(at, size, kind))
    except _NoHole as err:
        said = (f"Could not find a free area of memory of {err.size:#x} bytes...", "locate_hole failed")
        return _refused(tools, said, 1, "kexec_load")
    if len(memmap) > E820MAX:
        raise KdumplabError("kexec (x86)", f"{len(memmap)} e820 entries for the crash kernel",
                            "more than boot_params holds (128): the setup_data extension is not modelled")
    usable = tuple((s, e) for s, e, t in memmap if t == E820_RAM)
    return X86KexecLoad(tools.version, True, None, (), tuple(sorted(segs, key=lambda s: s.start)),
                        purg + tools.purgatory_entry, usable, (hdr, hdr_memsz), phdrs, "kexec_load",
                        tuple(memmap), cmdline, tuple(setup), ((backup[0], backup[1]),))


class _NoHole(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _setup_data(tools: X86KexecTools, inputs: X86Inputs) -> tuple[tuple[str, int], ...]:
    """setup_linux_system_parameters: EFI info (setup_efi_data, then the runtime map buffer) before the RNG
    seed, each its own page, bottom-up."""
    out: list[tuple[str, int]] = []
    if inputs.efi_runtime_map:
        out += [("efi", SETUP_DATA_HEADER + EFI_SETUP_DATA), ("efi-map", EFI_RUNTIME_DESC * inputs.efi_runtime_map)]
    if tools.rng_seed:
        out.append(("rng", SETUP_DATA_HEADER + RNG_SEED))
    return tuple(out)


def _file_load(tools: X86KexecTools, kernel: X86KernelFacts, lines, crash: list[Span],  # noqa: ANN001
               inputs: X86Inputs) -> X86KexecLoad:
    """The kernel's own placement (kexec_file_load of a crash image): everything goes in crashk_res, the last
    "Crash kernel" line (crashk_low_res is only handed over as RAM)."""
    lo, hi = crash[-1]
    low = crash[0] if len(crash) > 1 else None
    segs: list[Segment] = []
    # prepare_elf_headers: System RAM (top level) less the first MiB, crashk_res and crashk_low_res
    ram = [(ln.start, ln.last) for ln in lines if ln.depth == 0 and ln.name == "System RAM"]
    for cs, ce in [(0, SZ_1M - 1), *crash]:
        ram = [piece for s, e in ram for piece in ((s, min(e, cs - 1)), (max(s, ce + 1), e)) if piece[0] <= piece[1]]
    kcode = next((ln.start for ln in lines if ln.name == "Kernel code"), 0)
    phdrs = _elf_phdrs(kernel, kcode, ram, inputs)
    elf_sz = align_up(ELF_HEADER_SIZE + PHDR_SIZE * len(phdrs), PAGE)
    hdr_bufsz = elf_sz
    if kernel.file_hotplug_headers:
        elf_sz = ELF_HEADER_SIZE + PHDR_SIZE * (2 + NR_CPUS_DEFAULT + CRASH_MAX_MEMORY_RANGES)
    hdr_memsz = align_up(elf_sz, PAGE)
    if hdr_memsz > hi - lo + 1:
        return _refused(tools, ("kexec_file_load failed: Cannot assign requested address",), 255, "kexec_file_load")
    segs.append(Segment(lo, hdr_memsz, "elfcorehdr", hdr_bufsz))
    cmdline_len = len(inputs.append) + 1
    params = (align_up(4096 + cmdline_len + MAX_ELFCOREHDR_STR_LEN, 16)
              + align_up(EFI_RUNTIME_DESC * inputs.efi_runtime_map, 16)
              + align_up(SETUP_DATA_HEADER + EFI_SETUP_DATA, 16)
              + (align_up(SETUP_DATA_HEADER + RNG_SEED, 16) if kernel.file_rng_seed else 0))
    # 5.10 prints nothing and splits nothing that shows where its purgatory went: only the ELF headers are placed
    plan = () if kernel.file_purgatory_memsz is None else (
        ("purgatory", kernel.file_purgatory_bufsz, kernel.file_purgatory_memsz, PAGE, MIN_PURGATORY_ADDR),
        ("boot_params", params, params, 16, MIN_BOOTPARAM_ADDR),
        ("kernel", kernel.payload, kernel.init_size, kernel.kernel_alignment, MIN_KERNEL_LOAD_ADDR),
        *((("initrd", inputs.initrd_size, inputs.initrd_size, PAGE, MIN_INITRD_LOAD_ADDR),)
          if inputs.initrd_size else ()))
    at: dict[str, int] = {}
    for what, bufsz, memsz, align, minimum in plan:
        size = align_up(memsz, PAGE)
        base = _kernel_hole_top_down(lo, hi, segs, size, max(align, PAGE), minimum)
        if base is None:
            return _refused(tools, ("kexec_file_load failed: Cannot assign requested address",), 255,
                            "kexec_file_load")
        segs.append(Segment(base, size, what, bufsz))
        at[what] = base
    # the RNG seed's setup_data sits in the boot_params segment after the command line and the EFI parts
    rng_at = (at.get("boot_params", 0) + align_up(4096 + cmdline_len + MAX_ELFCOREHDR_STR_LEN, 16)
              + align_up(EFI_RUNTIME_DESC * inputs.efi_runtime_map, 16)
              + align_up(SETUP_DATA_HEADER + EFI_SETUP_DATA, 16))
    setup = (SetupData(rng_at, SETUP_DATA_HEADER + RNG_SEED, "rng"),) if kernel.file_rng_seed and plan else ()
    # crash_setup_memmap_entries, in its order
    e820: list[tuple[int, int, int]] = []
    kinds = (("ACPI Tables", E820_ACPI), ("ACPI Non-volatile Storage", E820_NVS))
    e820 += [(ln.start, ln.last, E820_RAM) for ln in lines if ln.name == "System RAM" and ln.start < SZ_1M]
    for name, kind in kinds:
        e820 += [(ln.start, min(ln.last, 2**64 - 1), kind) for ln in lines if ln.name == name]
    e820 += [(ln.start, ln.last, E820_RESERVED) for ln in lines if ln.name in ("Reserved", "reserved")
             and not any(ln.start == s and ln.last == e for s, e, _ in e820)]
    if low is not None:
        e820.append((low[0], low[1], E820_RAM))
    rest = lo + elf_sz
    if hi - rest + 1 >= PAGE:
        e820.append((rest, hi, E820_RAM))
    lent = tuple((s, e) for s, e, t in e820 if t == E820_RAM and e < SZ_1M)
    cmdline = f"elfcorehdr={lo:#x} {inputs.append}"
    entry = None if kernel.file_entry is None else at["purgatory"] + kernel.file_entry
    usable = tuple(sorted((s, e) for s, e, t in e820 if t == E820_RAM))
    return X86KexecLoad(tools.version, True, None, (), tuple(sorted(segs, key=lambda s: s.start)),
                        entry, usable, (lo, elf_sz), phdrs, "kexec_file_load", tuple(e820),
                        cmdline, setup, lent)


def e820_lines(load: X86KexecLoad) -> tuple[str, ...]:
    """The map as both printers show it under -d ("E820 memmap:"): ``%016lx-%016lx (%d)``."""
    return tuple(f"{s:016x}-{e:016x} ({t})" for s, e, t in load.e820)


def x86_verdict(load: X86KexecLoad) -> str:
    """One plain-English sentence about the load."""
    if load.loaded:
        who = "the kernel (kexec_file_load)" if load.syscall == "kexec_file_load" else f"kexec-tools {load.tools}"
        n = len(load.usable_memory_ranges)
        return (f"{who} places the crash kernel in the crash region and hands it {n} e820 RAM range(s) and "
                f"elfcorehdr={load.elfcorehdr[0]:#x}." if load.elfcorehdr else f"{who} places the crash kernel.")
    why = load.error[0] if load.error else "unknown"
    return f"kexec-tools {load.tools} fails ({why}): no crash kernel is loaded and a panic will not be captured."
