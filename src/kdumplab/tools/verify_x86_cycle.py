"""An x86_64 recorded kdump cycle against the model, field by field (kexec_x86, crashview_x86).

The first kernel is checked as a plain boot (pinned at its own "Kernel code" address). The kexec stage is then run
on the /proc/iomem that kexec-tools really read (the first kernel's, recorded; equal to the model's wherever
the first-boot checks pass) with the cycle's own inputs: the crash initrd, ``--append``, ``-s`` or not, EFI or
BIOS. What the cycle showed is read from the raw evidence: kexec-tools' ``-d`` segment list or the kernel's
``kexec_file: segment[i]`` lines, the "E820 memmap:" listing either prints, the crash kernel's command line,
its BIOS-e820 RAM, /proc/iomem, MemTotal, swiotlb line and the program headers /proc/vmcore starts with.
"""

from __future__ import annotations

import re
import shlex

from kdumplab import crashview_x86, kexec_x86
from kdumplab.lab.cycle import Cycle
from kdumplab.ranges import SZ_4G
from kdumplab.tools.verify import FieldCheck
from kdumplab.tools.verify_cycle import real_program_headers

__all__ = ["MEMTOTAL_TOLERANCE_KIB_X86", "x86_inputs", "x86_load", "verify_x86_kexec", "real_segments",
           "real_e820_listing", "real_crash_ram", "real_cmdline"]

#: MemTotal of the x86 crash kernels: every recorded cycle is within 12 KiB of crashview_x86's estimate
MEMTOTAL_TOLERANCE_KIB_X86 = 1024

_FILE_SEG = re.compile(r"kexec_file: segment\[\d+\]: buf=\S+ bufsz=(0x[0-9a-f]+) mem=(0x[0-9a-f]+) memsz=(0x[0-9a-f]+)")
_ENTRY = re.compile(r"kexec_load: entry = (0x[0-9a-f]+)|kexec_file_load: type:\d+, start:(0x[0-9a-f]+)")
_E820_LINE = re.compile(r"([0-9a-f]{16}-[0-9a-f]{16} \(\d+\))$")
_BIOS_RAM = re.compile(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]\s+(?:usable|System RAM)")
_SWIOTLB = re.compile(r"software IO TLB: mapped \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]")
_DEFAULT_APPEND = kexec_x86.X86Inputs().append


def x86_inputs(cyc: Cycle) -> kexec_x86.X86Inputs:
    """What this cycle's ``kexec -p`` saw besides /proc/iomem, from its argv and its first boot."""
    args = shlex.split(cyc.kexec.argv)
    append = next((a.split("=", 1)[1] for a in args if a.startswith(("--append=", "--command-line="))),
                  _DEFAULT_APPEND)
    high = any(ln.endswith(": System RAM") and not ln.startswith(" ") and int(ln.split("-")[0], 16) >= SZ_4G
               for ln in cyc.first.iomem.splitlines())
    efi = cyc.first.firmware == "uefi"
    return kexec_x86.X86Inputs(append=append, initrd_size=cyc.kexec.crash_initrd_size,
                               acpi_rsdp=kexec_x86.seabios_rsdp(high),
                               efi_runtime_map=kexec_x86.OVMF_RUNTIME_MAP if efi else 0,
                               mode="-s" if "-s" in args else "-c" if "-c" in args else "default",
                               debug="-d" in args)


def x86_load(cyc: Cycle) -> kexec_x86.X86KexecLoad:
    """The model's kexec -p of this cycle, on the /proc/iomem it really read."""
    gen = cyc.first.generation
    return kexec_x86.load_crash_kernel_x86(kexec_x86.x86_kexec_tools(cyc.kexec.version), kexec_x86.X86_KERNELS[gen],
                                           cyc.first.iomem, x86_inputs(cyc))


def real_segments(cyc: Cycle) -> list[tuple[int, int]]:
    """(mem, memsz) of every segment, sorted: kexec-tools' -d listing, or the kernel's own -d lines."""
    if cyc.kexec.segments:
        return sorted((s.mem, s.memsz) for s in cyc.kexec.segments)
    return sorted((int(m, 16), int(z, 16)) for _, m, z in _FILE_SEG.findall(cyc.kexec.output))


def real_e820_listing(output: str) -> list[str]:
    """The last "E820 memmap:" block of the kexec output (kexec-tools' or the kernel's dprintk lines)."""
    lines = output.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.rstrip().endswith("E820 memmap:")]
    out: list[str] = []
    for ln in lines[starts[-1] + 1:] if starts else ():
        m = _E820_LINE.search(ln.strip())
        if m is None:
            break
        out.append(m.group(1))
    return out


_PRINTK = re.compile(r"^\[\s*\d+\.\d+\] ")


def real_cmdline(captured: str) -> str:
    """/proc/cmdline as the capture section holds it, less kernel console lines that the shared serial line
    interleaved into it (seen once: a "clocksource: Switched to clocksource tsc" inside the section)."""
    return "\n".join(ln for ln in captured.splitlines() if not _PRINTK.match(ln)).strip()


def real_crash_ram(dmesg: str) -> list[tuple[int, int]]:
    """The crash kernel's BIOS-e820 RAM entries as (start, last)."""
    return [(int(a, 16), int(b, 16)) for a, b in _BIOS_RAM.findall(dmesg)]


def _nodes(cyc: Cycle) -> tuple[tuple[int, int, int], ...]:
    """The guest's NUMA memory (start, end, nid) as the q35 preset builds it for this cycle's -m / -numa."""
    if not cyc.first.numa:
        return ()
    from kdumplab.tools.verify import scenario_for_x86  # noqa: PLC0415

    sc = scenario_for_x86(cyc.first.generation, cyc.first.mem, tuple(cyc.first.numa), cyc.first.cmdline,
                          cyc.first.provenance.initrd_size, None)
    return tuple((b.start, b.start + b.size, b.node) for b in sc.machine.banks)


def _fmt(pairs) -> str:  # noqa: ANN001
    return " ".join(f"{a:#x}+{b:#x}" for a, b in pairs)


def verify_x86_kexec(cyc: Cycle) -> tuple[FieldCheck, ...]:
    """The kexec and crash-kernel fields of one x86 cycle."""
    load = x86_load(cyc)
    real = cyc.kexec
    checks = [FieldCheck("kexec loaded", load.loaded == real.loaded, str(load.loaded), str(real.loaded)),
              FieldCheck("kexec exit status", load.exit_status == real.rc, str(load.exit_status), str(real.rc))]
    if not load.loaded:
        said = list(load.error or ())
        out = [x.strip() for x in real.output.splitlines()]
        checks.append(FieldCheck("kexec error", bool(said) and all(x in out for x in said), "\n".join(said),
                                 "\n".join(out[-3:])))
        return tuple(checks)
    kernel = kexec_x86.X86_KERNELS[cyc.first.generation]
    # kexec_file_load before 6.8 prints nothing of its placement: what it did shows in the crash kernel only
    printed = load.syscall == "kexec_load" or kernel.file_debug_ok
    if printed:
        ours = sorted((s.start, s.size) for s in load.segments)
        checks.append(FieldCheck("segments", ours == real_segments(cyc), _fmt(ours), _fmt(real_segments(cyc))))
        m = _ENTRY.search(real.output)
        entry = int(m.group(1) or m.group(2), 16) if m else None
        checks.append(FieldCheck("entry", load.entry == entry, f"{load.entry:#x}" if load.entry else "none",
                                 f"{entry:#x}" if entry else "none"))
        listing = real_e820_listing(real.output)
        checks.append(FieldCheck("e820 handed over", list(kexec_x86.e820_lines(load)) == listing,
                                 "\n".join(kexec_x86.e820_lines(load)), "\n".join(listing)))
    cap = cyc.capture
    if cap is None:
        return tuple(checks)
    from kdumplab import crashview  # noqa: PLC0415
    from kdumplab.tools.verify import qemu_cpus  # noqa: PLC0415

    notes = crashview.crash_notes_bytes(kernel.vmcoreinfo_note, qemu_cpus(cyc.first.provenance.qemu_cmdline),
                                        crashview.PRSTATUS_NOTE_X86_64)
    view = crashview_x86.crash_view_x86(crashview_x86.X86_CRASH_KERNELS[cyc.first.generation], kernel, load,
                                        notes_bytes=notes, nodes=_nodes(cyc))
    cmdline = real_cmdline(cap.cmdline)
    checks.append(FieldCheck("crash command line", cmdline == load.cmdline, load.cmdline, cmdline))
    ram = real_crash_ram(cap.dmesg)
    checks.append(FieldCheck("crash e820 RAM", list(view.usable) == ram, _fmt(view.usable), _fmt(ram)))
    sysram = tuple(x for x in cap.iomem.splitlines() if x.endswith(": System RAM") and not x.startswith(" "))
    checks.append(FieldCheck("crash System RAM", view.iomem_lines == sysram, "\n".join(view.iomem_lines),
                             "\n".join(sysram)))
    ours_loads = [(p.paddr, p.size) for p in load.phdrs if p.type == "PT_LOAD"]
    real_loads = [(a, s) for t, a, s in real_program_headers(cyc) if t == "PT_LOAD"]
    checks.append(FieldCheck("vmcore PT_LOAD", ours_loads == real_loads, _fmt(ours_loads), _fmt(real_loads)))
    checks.append(FieldCheck("vmcore size", view.vmcore_size == cap.vmcore_size, str(view.vmcore_size),
                             str(cap.vmcore_size)))
    mt = cap.memtotal_kb
    close = mt is not None and abs(mt - view.memtotal_kb) <= MEMTOTAL_TOLERANCE_KIB_X86
    checks.append(FieldCheck("crash MemTotal", close, f"{view.memtotal_kb} kB (+-{MEMTOTAL_TOLERANCE_KIB_X86})",
                             f"{mt} kB"))
    sw = _SWIOTLB.search(cap.dmesg)
    real_sw = (int(sw.group(2), 16) - int(sw.group(1), 16)) // 1024 if sw else 0
    checks.append(FieldCheck("crash swiotlb", real_sw == view.swiotlb_kib, f"{view.swiotlb_kib} kB", f"{real_sw} kB"))
    checks.append(FieldCheck("crash elfcorehdr line", view.elfcorehdr_log in cap.dmesg, view.elfcorehdr_log,
                             "(not in its dmesg)"))
    return tuple(checks)
