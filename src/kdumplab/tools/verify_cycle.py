"""The model against a recorded full kdump cycle (lab/cycle.py), field by field.

What the cycle showed is read from the raw evidence, not from the model's own formats: the segment list
``kexec -d`` printed, kexec-tools' messages, ``/sys/kernel/kexec_crash_loaded``, the crash kernel's
``/proc/device-tree/chosen`` properties (big-endian cells), its /proc/iomem, its MemTotal, and the program
headers at the start of /proc/vmcore (decoded with pyelftools).

Virtual addresses depend on KASLR, so the PT_LOADs are compared by their physical ranges; MemTotal (the crash
kernel's own boot, kdumplab.crashboot) is compared within ``MEMTOTAL_TOLERANCE_KIB``. Everything else must be
equal.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace

import fdt
from elftools.elf.elffile import ELFFile

from kdumplab import model
from kdumplab.artifacts import crash_dtb, without_nops
from kdumplab.errors import KdumplabError
from kdumplab.klog import crash_lines
from kdumplab.lab.cycle import Cycle
from kdumplab.tools.verify import FieldCheck, compare, qemu_cpus, run_pinned, scenario_for
from kdumplab.verdict import WRAPPED

__all__ = ["MEMTOTAL_TOLERANCE_KIB", "cycle_scenario", "compare_cycle", "verify_cycle", "real_usable_ranges",
           "real_elfcorehdr", "real_program_headers", "real_chosen",
           "uefi_crash_side", "compare_crash_side"]


def cycle_scenario(cyc: Cycle) -> model.Scenario:
    """The model's inputs for a recorded cycle: the first boot's scenario (same QEMU machine, initrd and
    command line) plus the kexec-tools version, the size of the crash kernel's initramfs and its command line."""
    first = cyc.first
    sc = scenario_for(first.generation, first.mem, tuple(first.numa), first.cmdline, first.provenance.initrd_size,
                      first.dma_window, first.provenance.dtb_size, first.firmware,
                      cpus=qemu_cpus(first.provenance.qemu_cmdline))
    return replace(sc, kexec_tools=cyc.kexec.version, crash_initrd_size=cyc.kexec.crash_initrd_size,
                   crash_cmdline=cyc.kexec.append or None)


def verify_x86_cycle(cyc: Cycle) -> tuple[FieldCheck, ...]:
    """An x86 cycle: the first boot exactly (pinned at its Kernel code address), then kexec's placement, what it
    handed the crash kernel and what that kernel saw (tools/verify_x86_cycle.py)."""
    from kdumplab.tools.verify import verify_observation  # noqa: PLC0415
    from kdumplab.tools.verify_x86_cycle import verify_x86_kexec  # noqa: PLC0415

    return tuple(verify_observation(cyc.first)) + verify_x86_kexec(cyc)


def verify_cycle(cyc: Cycle) -> tuple[FieldCheck, ...]:
    """The first boot's fields (as ``verify`` checks a plain boot) and the kexec and crash-kernel fields."""
    first = cyc.first
    if first.arch == "x86_64":
        return verify_x86_cycle(cyc)
    if first.firmware == "uefi":
        return verify_uefi_crash_side(cyc)
    result = run_pinned(cycle_scenario(cyc), first.iomem)
    return (compare(result, tuple(first.crash_log), first.iomem, first.kexec_crash_size)
            + compare_cycle(result, cyc))


def uefi_crash_side(cyc: Cycle):  # noqa: ANN201
    """The model's ``kexec -p`` and crash kernel driven from the recorded first kernel of a UEFI cycle: its
    /proc/iomem, main crash region and /sys/firmware/fdt (the EFI stub's tree), the kernel image facts of
    its generation, and the EFI memory map's no-map regions kept by the crash kernel. Returns (load, view)."""
    from kdumplab.policy import for_kernel  # noqa: PLC0415
    from kdumplab.ranges import PhysRange  # noqa: PLC0415

    sc = cycle_scenario(cyc)
    policy = for_kernel(sc.kernel, sc.machine.arch)
    machine = replace(sc.machine, page_size=policy.page_size)
    regions = cyc.first.crash_regions
    main = max(regions, key=lambda r: r.start) if regions else None
    return model.crash_side(policy, machine, cyc.first.iomem, None if main is None else PhysRange(main.start, main.end),
                            cyc.kexec.version, cyc.kexec.crash_initrd_size, base_fdt=cyc.first_fdt,
                            bootargs=cyc.kexec.append, efi=True)


def verify_uefi_crash_side(cyc: Cycle) -> tuple[FieldCheck, ...]:
    """A cycle under UEFI: the first boot's fields against the UEFI boot model (kdumplab.efi, as ``verify``
    checks a plain UEFI boot), and the kexec and crash-kernel fields against the model driven from the
    recorded first kernel (``uefi_crash_side``)."""
    from kdumplab.tools.verify import verify_observation  # noqa: PLC0415

    load, view = uefi_crash_side(cyc)
    return verify_observation(cyc.first) + compare_crash_side(load, view, cyc)


def _cells(hexbytes: str, where: str) -> list[int]:
    raw = bytes.fromhex(hexbytes)
    if len(raw) % 8:
        raise KdumplabError(where, f"{len(raw)} bytes is not a whole number of 64-bit cell pairs")
    return [int.from_bytes(raw[i:i + 8], "big") for i in range(0, len(raw), 8)]


_PROP_NAME = re.compile(r"[0-9a-zA-Z,._+?#-]+")


def real_chosen(cyc: Cycle) -> dict[str, str]:
    """The crash kernel's /chosen properties as hex bytes: as its /proc/device-tree showed them, or, for a
    crash kernel booted through ACPI (UEFI), which unflattens no device tree and so has no /proc/device-tree,
    the /chosen node of the tree it was booted with (its /sys/firmware/fdt)."""
    if cyc.capture is None:
        return {}
    # a guest without /proc/device-tree left only od's complaint and the unexpanded glob ("od:", "*"): names
    # no device-tree property can have (the devicetree spec allows [0-9a-zA-Z,._+?#-])
    listed = {k: v for k, v in cyc.capture.chosen.items() if _PROP_NAME.fullmatch(k)}
    if listed or not cyc.capture.fdt:
        return listed
    tree = fdt.parse_dtb(without_nops(cyc.capture.fdt, "capture fdt"))
    if not tree.exist_node("chosen"):
        return {}
    out = {}
    for prop in tree.get_node("chosen").props:
        if isinstance(prop, fdt.PropWords):
            out[prop.name] = b"".join(w.to_bytes(4, "big") for w in prop.data).hex()
        elif isinstance(prop, fdt.PropBytes):
            out[prop.name] = bytes(prop.data).hex()
        elif isinstance(prop, fdt.PropStrings):
            out[prop.name] = b"".join(x.encode() + b"\0" for x in prop.data).hex()
        else:
            out[prop.name] = ""
    return out


def real_usable_ranges(cyc: Cycle) -> tuple[tuple[int, int], ...]:
    """``linux,usable-memory-range`` as (start, last) pairs in DT order (2 address + 2 size cells on virt)."""
    chosen = real_chosen(cyc)
    if "linux,usable-memory-range" not in chosen:
        return ()
    c = _cells(chosen["linux,usable-memory-range"], "linux,usable-memory-range")
    return tuple((c[i], c[i] + c[i + 1] - 1) for i in range(0, len(c), 2))


def real_elfcorehdr(cyc: Cycle) -> tuple[int, int] | None:
    chosen = real_chosen(cyc)
    if "linux,elfcorehdr" not in chosen:
        return None
    addr, size = _cells(chosen["linux,elfcorehdr"], "linux,elfcorehdr")
    return addr, size


def real_program_headers(cyc: Cycle) -> tuple[tuple[str, int, int], ...]:
    """(type, paddr, memsz) of each program header /proc/vmcore starts with."""
    if cyc.capture is None or not cyc.capture.vmcore_head:
        return ()
    elf = ELFFile(io.BytesIO(cyc.capture.vmcore_head))
    return tuple((seg["p_type"], seg["p_paddr"], seg["p_memsz"]) for seg in elf.iter_segments())


#: Issue 11 item 6 asks for the crash kernel's MemTotal within 1 MiB. The model (kdumplab.crashboot, its own boot)
#: is within 8 KiB of all 113 recorded arm64 crash kernels (32 KiB: 16K pages under UEFI), x86 within 8 KiB; the
#: ground-truth tests hold it to two pages, this stays the issue's bound for captures from elsewhere.
MEMTOTAL_TOLERANCE_KIB = 1024
_SWIOTLB = re.compile(r"software IO TLB: mapped \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]")

# The segment listing kexec-tools prints after a refused load; compared as segments, not as the message.
_LISTING = re.compile(r"^(segment\[\d+\]|entry\s*=|nr_segments\s*=)")


def _dt_lines(blob: bytes) -> list[str]:
    """Every property of a flattened tree as ``path: dts text``, sorted (property order is not compared)."""
    tree = fdt.parse_dtb(without_nops(blob))
    return sorted(f"{path}: {prop.to_dts().strip()}" for path, _, props in tree.walk() for prop in props)


def _crash_system_ram(iomem_text: str) -> tuple[str, ...]:
    return tuple(x for x in iomem_text.splitlines() if x.endswith(": System RAM") and not x.startswith(" "))


def compare_cycle(result: model.Result, cyc: Cycle) -> tuple[FieldCheck, ...]:
    """Every kexec and crash-kernel field the model predicts, against what the recorded cycle showed."""
    return compare_crash_side(result.kexec, result.crash_view, cyc)


def compare_crash_side(load, view, cyc: Cycle) -> tuple[FieldCheck, ...]:  # noqa: ANN001
    """``compare_cycle`` for a model load (kexec.KexecLoad) and crash view (crashview.CrashView or None)."""
    real = cyc.kexec
    checks = [FieldCheck("kexec loaded", load.loaded == real.loaded, str(load.loaded), str(real.loaded))]
    out_lines = [x.strip() for x in real.output.splitlines()]
    if not load.loaded:
        said = [x for x in load.error or () if x.strip() and not _LISTING.match(x.strip())]
        ok = bool(said) and all(x.strip() in out_lines for x in said)
        checks.append(FieldCheck("kexec error", ok, "\n".join(said), "\n".join(out_lines[-3:])))
    if real.segments or load.loaded:
        ours = [(s.start, s.size) for s in load.segments]
        theirs = [(s.mem, s.memsz) for s in real.segments]
        checks.append(FieldCheck("segments", ours == theirs, _fmt(ours), _fmt(theirs)))
    if cyc.capture is None:
        return tuple(checks)
    checks.append(FieldCheck("usable-memory-range", tuple(load.usable_memory_ranges) == real_usable_ranges(cyc),
                             _fmt(load.usable_memory_ranges), _fmt(real_usable_ranges(cyc))))
    checks.append(FieldCheck("elfcorehdr", load.elfcorehdr == real_elfcorehdr(cyc), _fmt([load.elfcorehdr]),
                             _fmt([real_elfcorehdr(cyc)])))
    ours_dt = _dt_lines(crash_dtb(cyc.first_fdt, load, cyc.kexec.append))
    real_dt = _dt_lines(cyc.capture.fdt)
    checks.append(FieldCheck("crash DTB", ours_dt == real_dt, "\n".join(sorted(set(ours_dt) - set(real_dt))),
                             "\n".join(sorted(set(real_dt) - set(ours_dt)))))
    ours_loads = [(p.paddr, p.size) for p in load.phdrs if p.type == "PT_LOAD"]
    real_loads = [(a, s) for t, a, s in real_program_headers(cyc) if t == "PT_LOAD"]
    # A kernel-text header whose size wraps around (Debian 6.1 without _text, kexec-tools >= 2.0.25) has
    # KASLR-dependent garbage in it: the model can only say that it wraps, and so does /proc/vmcore's size.
    wraps = bool(ours_loads) and ours_loads[0][1] >= WRAPPED
    if wraps:
        ok = bool(real_loads) and real_loads[0][1] >= WRAPPED and ours_loads[1:] == real_loads[1:]
    else:
        ok = ours_loads == real_loads
    checks.append(FieldCheck("vmcore PT_LOAD", ok, _fmt(ours_loads), _fmt(real_loads)))
    if view is not None:
        ram = _crash_system_ram(cyc.capture.iomem)
        checks.append(FieldCheck("crash System RAM", tuple(view.iomem_lines) == ram, "\n".join(view.iomem_lines),
                                 "\n".join(ram)))
        mt = cyc.capture.memtotal_kb
        close = mt is not None and abs(mt - view.memtotal_kb) <= MEMTOTAL_TOLERANCE_KIB
        checks.append(FieldCheck("crash MemTotal", close, f"{view.memtotal_kb} kB (+-{MEMTOTAL_TOLERANCE_KIB})",
                                 f"{mt} kB"))
        m = _SWIOTLB.search(cyc.capture.dmesg)
        real_sw = (int(m.group(2), 16) - int(m.group(1), 16)) // 1024 if m else 0
        checks.append(FieldCheck("crash swiotlb", real_sw == view.swiotlb_kib, f"{view.swiotlb_kib} kB",
                                 f"{real_sw} kB"))
        logged = crash_lines(cyc.capture.dmesg)
        checks.append(FieldCheck("crash elfcorehdr line", view.elfcorehdr_log in logged, view.elfcorehdr_log,
                                 "\n".join(logged)))
        real_size = cyc.capture.vmcore_size
        ok = (real_size is not None and real_size >= WRAPPED) if wraps else view.vmcore_size == real_size
        checks.append(FieldCheck("vmcore size", ok, "wraps (>= 2^60)" if wraps else str(view.vmcore_size),
                                 str(real_size)))
    return tuple(checks)


def _fmt(pairs) -> str:  # noqa: ANN001
    return " ".join("-" if p is None else f"{p[0]:#x}+{p[1]:#x}" for p in pairs)

