"""``kdumplab verify``: the model against a real boot, field by field.

The lab produces what really happened (crash log lines, /proc/iomem, kexec_crash_size); this module
compares it with ``model.run`` on the matching ``qemu-virt`` machine. Crash lines of the log and of
/proc/iomem, kexec_crash_size and every other /proc/iomem line, ``reserved`` ones included, must agree byte
for byte. The one input a boot draws at random on arm64, the KASLR seed, decides how many page-table pages
the vmemmap and the kernel mapping take (``early.KASLR_TABLES``): the boot is pinned to the first of those
layouts whose /proc/iomem it matches, and the check says which one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kdumplab import iomem
from kdumplab.model import Result

__all__ = ["FieldCheck", "compare", "run_pinned"]


@dataclass(frozen=True, slots=True)
class FieldCheck:
    field: str
    ok: bool
    model: str
    real: str


def run_pinned(scenario, iomem_text: str) -> Result:  # noqa: ANN001 - model.Scenario, imported lazily
    """``model.run`` pinned to the KASLR layout the boot really had: the first of ``early.KASLR_TABLES`` whose
    /proc/iomem equals ``iomem_text`` (the unrandomised one when none does, so the mismatch is reported
    against it). x86 pins the kernel's address instead (scenario_for_x86)."""
    import dataclasses  # noqa: PLC0415

    from kdumplab import early, model  # noqa: PLC0415

    first = model.run(scenario)
    if scenario.machine.arch != "arm64" or _same(first.iomem_text, iomem_text):
        return first
    for tables in early.KASLR_TABLES[1:]:
        result = model.run(dataclasses.replace(scenario, kaslr_tables=tables))
        if _same(result.iomem_text, iomem_text):
            return result
    return first


def _same(ours: str, theirs: str) -> bool:
    return ours.strip("\n").splitlines() == theirs.strip("\n").splitlines()


def _kaslr_note(result: Result) -> str:
    vmemmap, kernel = result.scenario.kaslr_tables
    if (vmemmap, kernel) == (0, 0):
        return ""
    return f" (KASLR pinned: vmemmap tables {vmemmap:+d}, kernel-map tables {kernel:+d})"


def compare(result: Result, log: tuple[str, ...], iomem_text: str, kexec_crash_size: int | None
            ) -> tuple[FieldCheck, ...]:
    """Every field the model predicts, against what a real boot showed."""
    checks = [FieldCheck("log", list(result.outcome.log) == list(log), "\n".join(result.outcome.log), "\n".join(log))]
    ours, theirs = result.iomem_text.splitlines(), iomem_text.splitlines()

    def pick(lines: list[str], keep) -> str:
        return "\n".join(x for x in lines if keep(x))

    def crash(x: str) -> bool:
        return "Crash kernel" in x

    def other(x: str) -> bool:
        return "reserved" not in x and "Crash kernel" not in x

    for name, keep in (("iomem crash lines", crash), ("iomem other lines", other)):
        a, b = pick(ours, keep), pick(theirs, keep)
        checks.append(FieldCheck(name, a == b, a, b))
    if kexec_crash_size is not None:
        checks.append(FieldCheck("kexec_crash_size", result.kexec_crash_size == kexec_crash_size,
                                 str(result.kexec_crash_size), str(kexec_crash_size)))
    a, b = pick(ours, _reserved), pick(theirs, _reserved)
    checks.append(FieldCheck("iomem reserved lines", a == b, a + _kaslr_note(result), b))
    return tuple(checks)


def _reserved(line: str) -> bool:
    return "reserved" in line and "Crash kernel" not in line


def scenario_for(generation: str, mem: str, numa: tuple[str, ...], append: str, initrd_size: int,
                 dma_window: str | None = None, dtb_size: int | None = None, firmware: str = "dt",
                 rng: bool = False, kernel_at: int | None = None, cpus: int = 1):
    """The model scenario that describes a lab boot exactly (qemu-virt with the same -m, NUMA, initrd and
    DMA window, and the -dtb file's size when one was passed; under EDK2 with virtio-rng, the kernel pinned
    at ``kernel_at``, where the stub's random draw put it)."""
    from kdumplab import model, presets  # noqa: PLC0415
    from kdumplab.ranges import parse_size  # noqa: PLC0415

    machine = presets.qemu_virt(parse_size(mem, "--mem"), tuple(parse_size(n, "--numa") for n in numa) or None,
                                initrd_size, generation,
                                dma_window=None if dma_window is None else parse_size(dma_window, "--dma-window"),
                                dtb_file_size=dtb_size, firmware=firmware, cmdline=append, rng=rng,
                                kernel_at=kernel_at, cpus=cpus)
    return model.Scenario(machine, append, generation)


def qemu_cpus(qemu_cmdline: tuple[str, ...] | list[str]) -> int:
    """The -smp a lab recording was made with (its provenance's QEMU command line; 1 when absent)."""
    argv = list(qemu_cmdline)
    if "-smp" in argv[:-1]:
        return int(argv[argv.index("-smp") + 1].split(",")[0])
    return 1


def kernel_code_start(iomem_text: str) -> int | None:
    """Where the kernel really ran: the start of "Kernel code" in /proc/iomem."""
    for _depth, r in iomem.walk(iomem.parse(iomem_text, "observed iomem")):
        if r.name == "Kernel code":
            return r.start
    return None


def kernel_text_at(generation: str, code_start: int | None) -> int | None:
    """The kernel's _text from where /proc/iomem's "Kernel code" starts (6.1 starts it at _stext)."""
    from kdumplab import policy, presets  # noqa: PLC0415
    from kdumplab.policy import Feature  # noqa: PLC0415

    if code_start is None:
        return None
    image = presets.DEBIAN_IMAGES[generation][1]
    return code_start - (image.stext if policy.for_kernel(generation).has(Feature.KERNEL_FROM_STEXT) else 0)


def scenario_for_x86(generation: str, mem: str, numa: tuple[str, ...], append: str, initrd_size: int,
                     kernel_at: int | None, firmware: str = "bios", cpus: int = 1):
    """The qemu-q35 scenario of an x86 lab boot, the kernel pinned at ``kernel_at`` (its real Kernel code
    address: with KASLR on, that is the one thing a boot chooses at random)."""
    from kdumplab import model  # noqa: PLC0415
    from kdumplab.presets.q35 import qemu_q35  # noqa: PLC0415
    from kdumplab.ranges import parse_size  # noqa: PLC0415

    machine = qemu_q35(parse_size(mem, "--mem"), tuple(parse_size(n, "--numa") for n in numa) or None,
                       initrd_size, generation, kernel_at=kernel_at, firmware=firmware, cpus=cpus)
    return model.Scenario(machine, append, generation)


_TOP_LINE = re.compile(r"([0-9a-f]{1,16})-([0-9a-f]{1,16}) : (System RAM|Reserved)")
#: the largest "Reserved" piece the kernel cuts out of the EFI loader's memory (efi_mem_reserve: 36 KiB seen)
_LOADER_RESERVED_MAX = 0x1_0000


def merge_loader_window(text: str, lo: int, hi: int) -> str:
    """/proc/iomem with the EFI loader's memory at the top of low RAM ([lo, hi), OVMF) written as the model
    writes it. There the stub's setup_data split System RAM (e820__reserve_setup_data: E820_TYPE_RESERVED_KERN
    prints as System RAM) and one small range the kernel took with efi_mem_reserve is "Reserved"; where OVMF's
    allocator put them depends on the kernel's and initrd's sizes and is not modelled. Top-level System RAM
    lines that start inside the window are joined to the System RAM line they touch, and such a small
    Reserved line with them; every other line is left as it is."""
    out: list[str] = []
    last = None  # index in out of the last top-level System RAM line, and its end
    for line in text.splitlines():
        m = _TOP_LINE.fullmatch(line)
        if m is None:
            if not line.startswith(" "):
                last = None
            out.append(line)
            continue
        start, end = int(m[1], 16), int(m[2], 16) + 1
        small = m[3] == "System RAM" or end - start <= _LOADER_RESERVED_MAX
        if last is not None and last[1] == start and lo <= start < hi and end <= hi and small:
            i = last[0]
            out[i] = f"{out[i].split('-')[0]}-{end - 1:0{len(m[2])}x} : System RAM"
            last = (i, end)
            continue
        out.append(line)
        last = (len(out) - 1, end) if m[3] == "System RAM" else None
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def verify_observation(obs) -> tuple[FieldCheck, ...]:
    """Run the model for a lab Observation and compare every field."""
    from kdumplab import model  # noqa: PLC0415

    if obs.arch == "x86_64":
        scenario = scenario_for_x86(obs.generation, obs.mem, tuple(obs.numa), obs.cmdline,
                                    obs.provenance.initrd_size, kernel_code_start(obs.iomem), obs.firmware,
                                    qemu_cpus(obs.provenance.qemu_cmdline))
        observed = obs.iomem
        if obs.firmware == "uefi":
            from kdumplab.presets.q35 import ovmf_loader_window  # noqa: PLC0415
            from kdumplab.ranges import parse_size  # noqa: PLC0415

            observed = merge_loader_window(obs.iomem, *ovmf_loader_window(parse_size(obs.mem, "mem")))
        return compare(model.run(scenario), tuple(obs.crash_log), observed, obs.kexec_crash_size)
    rng = obs.firmware == "uefi" and obs.rng
    scenario = scenario_for(obs.generation, obs.mem, tuple(obs.numa), obs.cmdline, obs.provenance.initrd_size,
                            obs.dma_window, obs.provenance.dtb_size, obs.firmware, rng,
                            kernel_text_at(obs.generation, kernel_code_start(obs.iomem))
                            if rng and "nokaslr" not in obs.cmdline.split() else None,
                            qemu_cpus(obs.provenance.qemu_cmdline))
    return compare(run_pinned(scenario, obs.iomem), tuple(obs.crash_log), obs.iomem, obs.kexec_crash_size)
