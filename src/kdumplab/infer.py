"""Evidence -> the machine it came from (``--from DIR|FILE``): what-if on the user's own machine.

Pure once the texts are read: ``machine_from(ev)`` takes a combined ``Evidence`` (``kdumplab.evidence``) and
returns a ``Machine`` whose every value that was inferred is said so in ``Machine.notes``:

- RAM banks from the log's ``Early memory node ranges`` (memblock.memory per node: NOMAP ranges included,
  mm/page_alloc.c), else from /proc/iomem's top-level ``System RAM`` plus the top-level ``reserved`` ranges
  between them (arm64 shows NOMAP memory that way, arch/arm64/kernel/setup.c request_standard_resources),
  which become ``nomap`` banks;
- the DMA limit from ``Zone ranges``: a ZONE_DMA that ends below both 4 GiB and the end of RAM is a DMA limit
  the firmware gave (DT dma-ranges / IORT);
- CMA from ``cma: Reserved N MiB`` or ``Memory: ... NK cma-reserved``; none seen means the kernel default;
- the kernel image from ``Kernel code`` .. ``Kernel data`` as an early reservation (the model then places
  nothing else for it); on x86_64 the kernel itself, pinned at its ``Kernel code`` address with the
  sections /proc/iomem shows, and the decompressor's facts (needed_size, init_size: where physical KASLR
  could have put it) from the Debian amd64 build of the same release, else estimated from its size; the
  initrd from the ``RAMDISK:`` line; the first MiB reserved, as x86 always does;
- the CPU count from ``nr_cpu_ids`` (SLUB's ``CPUs=N``, RCU's lines): per-CPU areas and /proc/vmcore's crash
  notes grow with it; 1 when the evidence does not say.

Evidence written inside a crash kernel shows only the crash kernel's memory, so it is refused for ``--from``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kdumplab import capture
from kdumplab.errors import KdumplabError
from kdumplab.evidence import Evidence, gather
from kdumplab.family import Trait
from kdumplab.logscan import Kind
from kdumplab.machine import Bank, KernelBuild, KernelImage, Machine, Reservation, memory_from_iomem
from kdumplab.ranges import SZ_1M, SZ_4G, PhysRange

__all__ = ["machine_from", "read_from", "evidence_from"]

MAX_CPUS = 4096  # machine.Machine takes 1 to 4096


def evidence_from(path: str) -> Evidence:
    """Read ``--from``: a captured root directory, a sosreport, or one pasted file (iomem or any log)."""
    p = Path(path)
    if p.is_dir():
        return gather(capture.from_root(path))
    if not p.exists():
        raise KdumplabError("--from", f"{path}: no such file or directory")
    from kdumplab.tools.check import read_text  # noqa: PLC0415

    if path.endswith((".tar", ".tar.xz", ".tar.gz", ".tgz", ".tar.bz2", ".txz")):
        return gather(capture.from_sosreport(path))
    text, name = read_text(path, "--from")
    field = "iomem" if _looks_like_iomem(text) else "kernel_log"
    return gather(capture.from_texts(name, {field: text}, {field: name}))


def _looks_like_iomem(text: str) -> bool:
    from kdumplab import iomem_lenient  # noqa: PLC0415

    lines = [ln for ln in text.splitlines()[:400] if ln.strip()]
    hits = sum(1 for ln in lines if iomem_lenient.KERNEL_LINE.match(ln.strip()))
    return bool(lines) and hits >= 0.5 * len(lines)


def read_from(path: str) -> Machine:
    return machine_from(evidence_from(path))


def _banks(ev: Evidence) -> tuple[tuple[Bank, ...], tuple[Reservation, ...], str]:
    boot = ev.this_boot
    if boot is not None and boot.of(Kind.NODE_RANGE):
        spans: list[list[int]] = []
        for e in sorted(boot.of(Kind.NODE_RANGE), key=lambda e: e.start or 0):
            s, t, node = e.start or 0, e.end or 0, int(e.value or 0)
            if spans and s <= spans[-1][1] and node == spans[-1][2]:
                spans[-1][1] = max(spans[-1][1], t)
            else:
                spans.append([s, t, node])
        banks = tuple(Bank(s, t - s, node) for s, t, node in spans)
        return banks, (), f"banks from the log's Early memory node ranges ({ev.line(boot.of(Kind.NODE_RANGE)[0])})"
    io = ev.iomem
    if io is None or not io.named("System RAM"):
        raise KdumplabError("--from", "the evidence shows no RAM: neither 'Early memory node ranges' in a log nor "
                            "System RAM lines in /proc/iomem", "give a whole dmesg or /proc/iomem")
    tops = [e for e in io.of("this") if e.depth in (0, None)]
    banks, nomap = memory_from_iomem([(e.start, e.end) for e in tops if e.name == "System RAM"],
                                     [(e.start, e.end) for e in tops if e.name == "reserved"], ev.arch)
    return banks, nomap, f"banks from {io.where}'s System RAM (top-level 'reserved' beside it as no-map)"


def machine_from(ev: Evidence) -> Machine:
    """The machine the evidence describes, each inferred value named in ``notes``."""
    if ev.view == "crash kernel":
        raise KdumplabError("--from", "this evidence was written inside the crash kernel: it shows only the "
                            "crash kernel's memory, not the machine's", "give the first kernel's dmesg or /proc/iomem")
    banks, nomaps, how = _banks(ev)
    notes = [how]
    ram_end = max(b.start + b.size for b in banks)
    dma = None
    fixed_1g = ev.family.family is not None and ev.family.family.has(Trait.DMA_FIXED_1G)
    if ev.dma_end is not None and ev.dma_end < min(SZ_4G, ram_end) and not fixed_1g:
        dma = ev.dma_end - 1
        notes.append(f"DMA limit {ev.dma_end:#x} from Zone ranges ({ev.dma_source})")
    build = KernelBuild()
    cma = _cma(ev)
    if cma is not None:
        build = dataclasses.replace(build, cma_bytes=cma[0])
        notes.append(f"CMA {cma[0] // SZ_1M} MiB from {cma[1]}")
    else:
        notes.append(f"CMA: not in the evidence, the kernel default {build.cma_bytes // SZ_1M} MiB assumed")
    reserved: list[Reservation] = list(nomaps)
    io = ev.iomem
    kernel = _x86_kernel(ev, notes) if ev.arch == "x86_64" else None
    initrd = None
    if kernel is not None:
        reserved.append(Reservation("low 1M (real mode, BIOS)", 0, SZ_1M))
        if ev.initrd is not None:
            initrd = PhysRange(*ev.initrd)
            notes.append(f"initrd [{ev.initrd[0]:#x}, {ev.initrd[1]:#x}) from the RAMDISK line (page-rounded)")
    elif io is not None:
        code = io.named("Kernel code")
        data = io.named("Kernel data")
        if code and data:
            start, end = code[0].start, data[-1].end
            reserved.append(Reservation("kernel image (Kernel code .. Kernel data)", start, end - start))
            notes.append(f"kernel image [{start:#x}, {end:#x}) from {io.where}")
    cpus = _cpus(ev, notes)
    notes.append(f"family {ev.family.name}{' (inferred)' if ev.family.inferred else ''}: {ev.family.why}")
    name = f"from {ev.source}"
    return Machine(name, banks, arch=ev.arch, reserved=tuple(reserved), dma_address_limit=dma, build=build,
                   kernel=kernel, initrd=initrd, source=ev.source, cpus=cpus,
                   notes=tuple(f"inferred: {n}" for n in notes))


def _cpus(ev: Evidence, notes: list[str]) -> int:
    """The CPUs the kernel set possible (``nr_cpu_ids``, which SLUB and RCU print): each has a per-CPU unit and a
    crash note in /proc/vmcore, so the crash side depends on it. 1 when the evidence does not say."""
    seen = ev.events(Kind.CPU_IDS)
    if not seen:
        notes.append("CPUs: not in the evidence (no SLUB or RCU nr_cpu_ids line), 1 assumed")
        return 1
    count = int(seen[0].value or 1)
    if not 1 <= count <= MAX_CPUS:
        notes.append(f"CPUs: {count} from {ev.line(seen[0])} is beyond what the model takes, 1 assumed")
        return 1
    notes.append(f"{count} CPU(s) from {ev.line(seen[0])}")
    return count


_X86_SECTIONS = ("code", "rodata", "data", "bss")


def _x86_kernel(ev: Evidence, notes: list[str]) -> KernelImage | None:
    """The running x86 kernel, pinned where /proc/iomem shows it. Its decompressor's facts are the Debian
    amd64 build's when the release is one of those and the sections sit at the same offsets (exact), else
    estimated: needed_size = _end - _text rounded up to 2 MiB (the decompressed payload may be larger) and
    init_size the same (said in ``notes``)."""
    from kdumplab.presets.q35 import X86_IMAGES  # noqa: PLC0415
    from kdumplab.ranges import SZ_2M, SZ_4K, align_up  # noqa: PLC0415

    io = ev.iomem
    if io is None:
        return None
    found = {name: io.named(f"Kernel {name}") for name in _X86_SECTIONS}
    if not all(found.values()):
        return None
    base = found["code"][0].start
    offs = {name: (e[0].start - base, e[0].end - base) for name, e in found.items()}
    sections = tuple(f"{lo:x}-{hi:x} Kernel {name}" for name, (lo, hi) in offs.items())
    debian = next((img for img in X86_IMAGES.values() if ev.release and f"{ev.release} " in img.package.replace(
        "-unsigned ", " ") and (img.code, img.rodata, img.data, img.bss) == tuple(offs.values())), None)
    if debian is not None:
        reserve_end, image_size, init_size = debian.reserve_end, debian.kaslr_size, debian.init_size
        notes.append(f"kernel at {base:#x} (Kernel code), decompressor facts of {debian.package}")
    else:
        reserve_end = align_up(offs["bss"][1], SZ_4K)
        image_size = init_size = align_up(reserve_end, SZ_2M)
        notes.append(f"kernel at {base:#x} (Kernel code); its decompressor's needed_size and init_size are not "
                     f"known for this build: {image_size:#x} assumed (_end - _text rounded up to 2 MiB)")
    return KernelImage(load_address=base, stext=0, init_begin=offs["code"][1], sdata=offs["data"][0],
                       end=reserve_end, image_size=image_size, init_size=init_size, sections=sections)


def _cma(ev: Evidence) -> tuple[int, str] | None:
    boot = ev.this_boot
    if boot is None:
        return None
    areas = boot.of(Kind.CMA_RESERVED)
    if areas:
        return sum(e.size or 0 for e in areas), ev.line(areas[0])
    mem = boot.first(Kind.MEMORY)
    if mem is not None and mem.value:
        return int(mem.value), ev.line(mem)
    return None
