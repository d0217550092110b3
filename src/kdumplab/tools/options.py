"""The machine a command talks about, given the same way on every command.

One table of options (:data:`MACHINE_OPTIONS`) and one decorator (:func:`machine_options`) give plan,
explain, compare, report, recommend, verify, ``machine show`` and the lab the same ``--machine``,
``--kernel``, ``--mem``, ``--numa`` and ``--initrd-size``, read the same way, with the same errors. The decorator
hands the command one frozen :class:`MachineArgs`; :func:`build_machine` turns it into a ``Machine``.

To add an option (``--from``, ``--firmware``, ``--dma-window``, ``--cpu``): add a field to ``MachineArgs``, a row
to ``MACHINE_OPTIONS`` naming it, and use the field in ``build_machine``. Every command then has it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from kdumplab.errors import KdumplabError

if TYPE_CHECKING:
    from kdumplab.machine import Machine

__all__ = ["MachineArgs", "Option", "MACHINE_OPTIONS", "machine_options", "build_machine", "parse_numa",
           "image_for", "lab_arch", "lab_kernel", "lab_mem", "KERNEL_HELP", "CMDLINE_HELP", "lab_kernels",
           "LAB_MACHINES", "LAB_CPUS", "machine_from_iomem", "live_machine"]

KERNEL_HELP = ("Kernel: a generation (5.10, 6.1, 6.12, 7.2, 6.12-16k for 16K pages), a Debian release string "
               "(6.1.0-28-arm64), a 2019 proposal (proposal-2019-v5, proposal-2019-review) or a kernel profile "
               "file (FILE.toml, from kdumplab lab calibrate).")
LAB_KERNEL_HELP = ("Boot this kernel: a generation (5.10, 6.1, 6.12, 7.2, 6.12-16k), a Debian release string that "
                   "maps to one (6.1.0-28-arm64), or a kernel `kdumplab lab build` made (5.10-control, "
                   "proposal-2019-v5, proposal-2019-review).")
CMDLINE_HELP = "The whole kernel command line, as /proc/cmdline shows it."


@functools.cache
def lab_kernels() -> Mapping[str, object]:
    """The kernels the lab boots: every built-in arm64 kernel profile (Debian's from lab setup, the lab's own
    from lab build; kdumplab.profiles); a release string maps to its generation. Made on first use, so that
    importing this module (every command's ``--help`` does) reads no kernel profile (tests/test_cli_start.py)."""
    from kdumplab.profiles import ProfileTable  # noqa: PLC0415

    return ProfileTable(lambda p: None if p.source else (p.name, p))


@dataclass(frozen=True, slots=True)
class MachineArgs:
    """What the user said about the machine; ``None`` where they said nothing."""

    machine: str | None = "qemu-virt"
    kernel: str = "6.1"
    mem: int | None = None
    numa: tuple[int, ...] | None = None
    initrd_size: int | None = None
    arch: str | None = None  # None: implied by the machine (qemu-q35 is x86_64)
    firmware: str | None = None  # None: the board's direct boot (dt on arm64, bios = SeaBIOS on x86)
    kernel_at: int | None = None  # plan --kernel-at: the kernel's physical address (x86: pins KASLR)
    rng: bool | None = None  # qemu-virt under EDK2 with virtio-rng: the firmware offers EFI_RNG_PROTOCOL
    dma_window: int | None = None  # device DMA limited to the first SIZE of RAM (DT dma-ranges)
    cpu: str | None = None  # the lab's QEMU CPU model
    smp: int | None = None  # QEMU -smp: the guest's CPUs (1 when not given)
    from_: str | None = None  # --from DIR|FILE: the machine inferred from evidence (kdumplab.infer)
    #: the kernel command line (not an option here: the tools' own --cmdline): under --firmware uefi the EFI
    #: stub reads it (nokaslr changes where 5.10/6.1 put the kernel; the bootargs size the stub's DT)
    cmdline: str = ""

    @property
    def qemu_options(self) -> tuple[str, ...]:
        """The QEMU options given (they describe a qemu-virt guest)."""
        return tuple(o.flag for o in MACHINE_OPTIONS if o.qemu and getattr(self, o.dest) is not None)


@dataclass(frozen=True, slots=True)
class Option:
    """One machine option: its flag, the MachineArgs field it fills, how its text is read, and its help."""

    flag: str
    dest: str
    parse: Callable[[str, str], Any]
    help: str
    metavar: str = "SIZE"
    qemu: bool = True  # describes the QEMU guest (refused with a file or another preset)
    lab: bool = True  # the lab commands take it too
    is_flag: bool = False  # an on/off flag (its value True when given)


#: QEMU CPU models the lab boots: Cortex-A57 is the fastest under TCG but has no 16K granule; Neoverse-N1 has
LAB_CPUS = ("cortex-a57", "neoverse-n1")


def parse_numa(text: str, where: str = "--numa") -> tuple[int, ...]:
    """Node sizes ``4G,4G``: every node has a size with a unit, at most MAX_NUMNODES nodes."""
    from kdumplab.machine import MAX_NUMNODES  # noqa: PLC0415
    from kdumplab.ranges import parse_memory  # noqa: PLC0415

    parts = text.split(",", MAX_NUMNODES)
    if len(parts) > MAX_NUMNODES:
        raise KdumplabError(where, f"more than {MAX_NUMNODES} nodes", "the kernel's NODES_SHIFT is at most 10")
    sizes = []
    for i, part in enumerate(parts):
        size = parse_memory(part, f"{where} node {i}")
        if size == 0:
            raise KdumplabError(f"{where} node {i}", "has no memory", "every node needs a size, e.g. 4G,4G")
        sizes.append(size)
    return tuple(sizes)


ARCHES = ("arm64", "x86_64")
FIRMWARES = {"arm64": ("dt", "uefi"), "x86_64": ("bios", "uefi")}


def _choice(values: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(text: str, where: str) -> str:
        if text not in values:
            raise KdumplabError(where, f"{text!r} is not one of {', '.join(values)}")
        return text
    return parse


def _memory(text: str, where: str) -> int:
    """``ranges.parse_memory``, imported when an option is read, not when a command's help is shown."""
    from kdumplab.ranges import parse_memory  # noqa: PLC0415

    return parse_memory(text, where)


def _count(text: str, where: str) -> int:
    """``ranges.parse_count``, imported when an option is read, not when a command's help is shown."""
    from kdumplab.ranges import parse_count  # noqa: PLC0415

    return parse_count(text, where)


MACHINE_OPTIONS: list[Option] = [
    Option("--mem", "mem", _memory, "qemu-virt: RAM size (QEMU -m), with a unit: 8G, 512M. "
           "Default 8G, or the sum of --numa."),
    Option("--numa", "numa", parse_numa, "qemu-virt: NUMA node sizes, e.g. 4G,4G.", metavar="SIZES"),
    Option("--initrd-size", "initrd_size", _count, "qemu-virt: the initrd's size in bytes (plain integer).",
           metavar="BYTES", lab=False),
    Option("--arch", "arch", _choice(ARCHES), "arm64 or x86_64; implied by the machine (qemu-q35 is x86_64).",
           metavar="ARCH", qemu=False),
    Option("--kernel-at", "kernel_at", _count, "The kernel's physical address, as /proc/iomem's \"Kernel "
           "code\" line starts (x86: pins physical KASLR; the answer is then exact).", metavar="ADDR", qemu=False,
           lab=False),
    Option("--firmware", "firmware", _choice(("dt", "bios", "uefi")), "How the QEMU guest boots: dt (arm64) or "
           "bios (x86 SeaBIOS), the direct kernel boot and the default; uefi (EDK2 / OVMF).", metavar="FW"),
    Option("--dma-window", "dma_window", _memory, "qemu-virt: devices reach only the first SIZE of RAM "
           "(DT dma-ranges on the PCIe host bridge), e.g. 1G; moves ZONE_DMA and the low crash window."),
    Option("--from", "from_", lambda text, where: text, "The machine inferred from evidence: a captured root, a "
           "sosreport, a dmesg or a /proc/iomem (banks, DMA limit, CMA, kernel image; each marked inferred).",
           metavar="DIR|FILE", qemu=False, lab=False),
    Option("--rng", "rng", lambda given, where: True, "qemu-virt --firmware uefi: QEMU has -device "
           "virtio-rng-pci, so EDK2 offers EFI_RNG_PROTOCOL and the arm64 EFI stub (6.1+) puts the kernel at a "
           "random 64 KiB-aligned place: plan gives the distribution (--kernel-at pins one place).", metavar="",
           lab=False, is_flag=True),
    Option("--cpu", "cpu", _choice(LAB_CPUS), "qemu-virt: the QEMU CPU model the lab boots (cortex-a57, "
           "neoverse-n1); it does not move the model.", metavar="MODEL"),
    Option("--smp", "smp", lambda text, where: _smp(text, where), "CPUs (QEMU -smp, 1 to 8: virt's GICv2 takes 8; "
           "default 1): per-CPU memory, qemu-virt's device-tree cpu nodes, and one crash note each in "
           "/proc/vmcore.", metavar="N"),
]


def _smp(text: str, where: str) -> int:
    n = _count(text, where)
    if not 1 <= n <= 8:
        raise KdumplabError(where, f"{n} CPUs: the lab's machines take 1 to 8 (-M virt's default GICv2 stops at 8)")
    return n


def machine_options(*, default: str | None = "qemu-virt", kernel: str | None = "6.1", kernel_option: bool = True,
                    kernel_required: bool = False, lab: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """Add the machine options to a click command and pass them as one ``margs: MachineArgs``.

    ``default`` is the machine when --machine is not given (None: the command decides, e.g. the live system);
    ``kernel`` the --kernel default (None: none, ``margs.kernel`` is ""); ``lab`` offers only what the lab boots.
    """
    options = [o for o in MACHINE_OPTIONS if o.lab or not lab]

    def deco(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(**kw: Any) -> Any:
            values = {o.dest: (None if kw.get(o.dest) in (None, False) else o.parse(kw[o.dest], o.flag))
                      for o in options}
            for o in options:
                kw.pop(o.dest, None)
            name = kw.pop("machine_name")
            if name is not None and not name.strip():
                raise KdumplabError("--machine", "is empty", "a preset name or a TOML file; see kdumplab machine list")
            kern = kw.pop("kernel") if kernel_option else (kernel or "6.1")
            kw["margs"] = MachineArgs(machine=name, kernel=kern or "", **values)
            return func(**kw)

        for o in reversed(options):
            wrapper = (click.option(o.flag, o.dest, is_flag=True, default=None, help=o.help) if o.is_flag else
                       click.option(o.flag, o.dest, metavar=o.metavar, help=o.help))(wrapper)
        if kernel_option:
            kernel_help = LAB_KERNEL_HELP if lab else KERNEL_HELP
            wrapper = click.option("--kernel", default=kernel, required=kernel_required,
                                   show_default=kernel is not None, help=kernel_help)(wrapper)
        machine_help = ("qemu-virt (arm64) or qemu-q35 (x86_64): the machines the lab boots." if lab else
                        "A preset name (kdumplab machine list) or a machine TOML file (docs/machine.md)"
                        + ("." if default else "; default: this system."))
        return click.option("--machine", "machine_name", default=default, metavar="PRESET|FILE",
                            show_default=default is not None, help=machine_help)(wrapper)

    return deco


def image_for(kernel: str, arch: str = "arm64") -> str:
    """The Debian image qemu-virt (qemu-q35: amd64) loads for ``kernel`` (its generation; 6.1 for a kernel
    without one)."""
    from kdumplab import policy, presets  # noqa: PLC0415
    from kdumplab.presets.q35 import X86_IMAGES  # noqa: PLC0415

    try:
        name = policy.for_kernel(kernel, arch).name
    except KdumplabError:
        return "6.1"
    return name if name in (X86_IMAGES if arch == "x86_64" else presets.DEBIAN_IMAGES) else "6.1"


def _mem(args: MachineArgs, default: int = 8 << 30) -> int:
    """--mem, else the sum of --numa, else ``default`` (8 GiB)."""
    from kdumplab.ranges import iec_hex  # noqa: PLC0415

    if args.mem is None:
        return sum(args.numa) if args.numa else default
    if args.numa and sum(args.numa) != args.mem:
        raise KdumplabError("--numa", f"node sizes add up to {iec_hex(sum(args.numa))}, not --mem "
                            f"{iec_hex(args.mem)}", "leave out --mem: it is the sum of the nodes")
    return args.mem


def build_machine(args: MachineArgs) -> Machine:
    """A preset (``qemu-virt`` takes the QEMU options) or a machine TOML file."""
    from pathlib import Path  # noqa: PLC0415

    from kdumplab import presets  # noqa: PLC0415
    from kdumplab.machine import read_machine_file  # noqa: PLC0415

    if args.from_:
        from kdumplab.infer import read_from  # noqa: PLC0415

        return read_from(args.from_)
    name = args.machine or ("qemu-q35" if args.arch == "x86_64" else "qemu-virt")
    if name == "qemu-q35":
        from kdumplab.presets.q35 import qemu_q35  # noqa: PLC0415

        gen = image_for(args.kernel, "x86_64")
        return qemu_q35(mem=_mem(args, 6 << 30), numa=args.numa, kernel=gen, kernel_at=args.kernel_at,
                        cpus=args.smp or 1,
                        **({} if args.initrd_size is None else {"initrd_size": args.initrd_size}),
                        firmware="uefi" if args.firmware == "uefi" else "bios")
    if name == "qemu-virt":
        uefi = args.firmware == "uefi"  # under EDK2 the stub's place shapes the EFI map: the preset pins it
        return _pin_kernel(presets.qemu_virt(mem=_mem(args), numa=args.numa,
                                             **({} if args.initrd_size is None else {"initrd_size": args.initrd_size}),
                                             kernel=image_for(args.kernel), dma_window=args.dma_window,
                                             firmware=args.firmware or "dt", cmdline=args.cmdline,
                                             rng=bool(args.rng), kernel_at=args.kernel_at if uefi else None,
                                             cpus=args.smp or 1),
                           None if uefi else args.kernel_at)
    if args.qemu_options:
        raise KdumplabError("/".join(args.qemu_options), f"describes a QEMU guest; {name} is not qemu-virt",
                            "put the size in the machine's TOML, or use --machine qemu-virt")
    path = Path(name)
    machine = read_machine_file(name) if path.suffix == ".toml" or path.exists() or "/" in name \
        else presets.machine(name)
    return _pin_kernel(machine, args.kernel_at)


def machine_per_kernel(args: MachineArgs):  # noqa: ANN201 - a Callable[[str], Machine] or None
    """For compare/report: the qemu-q35 preset, and qemu-virt under EDK2, built for each kernel (its image, and
    under OVMF or EDK2 where the EFI stub places it, are the kernel's), or None for a machine that does not
    change with the kernel."""
    import dataclasses  # noqa: PLC0415

    name = args.machine or ("qemu-q35" if args.arch == "x86_64" else "qemu-virt")
    if args.from_ or not (name == "qemu-q35" or (name == "qemu-virt" and args.firmware == "uefi")):
        return None
    return lambda kernel: build_machine(dataclasses.replace(args, kernel=kernel))


def _pin_kernel(machine: Machine, kernel_at: int | None) -> Machine:
    """--kernel-at on a machine that describes its kernel: the same image at that address."""
    import dataclasses  # noqa: PLC0415

    if kernel_at is None:
        return machine
    if machine.kernel is None:
        raise KdumplabError("--kernel-at", f"{machine.name} does not describe its kernel image",
                            "add a [kernel] table to the machine TOML")
    return dataclasses.replace(machine, kernel=dataclasses.replace(machine.kernel, load_address=kernel_at))


def lab_kernel(kernel: str) -> str:
    """The lab generation for a --kernel value (``6.1.0-28-arm64`` -> ``6.1``); proposals are not booted."""
    from kdumplab import policy  # noqa: PLC0415

    name = policy.for_kernel(kernel).name
    booted = lab_kernels()
    if name not in booted:
        raise KdumplabError("--kernel", f"{kernel!r} is modelled but not booted by the lab",
                            f"the lab boots {', '.join(booted)}")
    return name


#: The machines the lab boots, and their architecture.
LAB_MACHINES = {"qemu-virt": "arm64", "qemu-q35": "x86_64"}


def lab_arch(args: MachineArgs) -> str:
    """The guest architecture of a lab boot: --arch, else the machine's (qemu-q35: x86_64), else arm64; and
    the firmware fits it."""
    implied = LAB_MACHINES.get(args.machine or "qemu-virt", "arm64") if args.machine else None
    arch = args.arch or implied or "arm64"
    if implied and args.arch and implied != args.arch:
        raise KdumplabError("--arch", f"{args.arch} does not fit --machine {args.machine} ({implied})")
    if args.firmware and args.firmware not in FIRMWARES[arch]:
        raise KdumplabError("--firmware", f"{args.firmware!r} is not a firmware of {arch}",
                            "one of " + ", ".join(FIRMWARES[arch]))
    return arch


def lab_mem(args: MachineArgs) -> tuple[str, tuple[str, ...]]:
    """QEMU's -m text and the NUMA node sizes for a lab boot (qemu-virt or qemu-q35)."""
    if args.machine not in (None, *LAB_MACHINES):
        raise KdumplabError("--machine", f"the lab boots {' and '.join(LAB_MACHINES)}, not {args.machine!r}")
    from kdumplab.ranges import format_size  # noqa: PLC0415

    mem = _mem(args)
    build_machine(MachineArgs("qemu-virt", "6.1", mem, args.numa))  # QEMU's own limits, before booting
    return format_size(mem), tuple(format_size(n) for n in args.numa or ())


def machine_from_iomem(iomem: str, arch: str, where: str, name: str) -> Machine:
    """The RAM a /proc/iomem shows as a Machine: top-level "System RAM" lines, and on arm64 the top-level
    "reserved" lines between them (UEFI/DT no-map memory, which memblock keeps as memory but never maps).

    This is what ``recommend`` needs from a live system; evidence from logs and captures is read by ``--from``.
    """
    from kdumplab.iomem import parse  # noqa: PLC0415
    from kdumplab.machine import Machine, memory_from_iomem  # noqa: PLC0415

    top = parse(iomem, where)
    ram = [(r.start, r.end) for r in top if r.name == "System RAM"]
    if not ram:
        raise KdumplabError(where, "no System RAM line")
    if all(s == 0 for s, _ in ram):
        raise KdumplabError(where, "every address is 0: /proc/iomem shows addresses only to root",
                            "run as root, or describe the machine with --machine")
    banks, nomap = memory_from_iomem(ram, [(r.start, r.end) for r in top if r.name == "reserved"], arch)
    return Machine(name=name, arch=arch, banks=banks, reserved=nomap, source=f"{where} (System RAM lines)")


def live_machine() -> tuple[Machine, str]:
    """This system's RAM from /proc/iomem, and its kernel release (uname -r)."""
    import platform  # noqa: PLC0415

    from kdumplab.capture import from_live  # noqa: PLC0415

    cap = from_live()
    arch = {"aarch64": "arm64", "x86_64": "x86_64"}.get(platform.machine())
    if arch is None:
        raise KdumplabError("this system", f"{platform.machine()} is not modelled", "give --machine")
    if not cap.iomem:
        raise KdumplabError("/proc/iomem", "cannot be read", "give --machine")
    return machine_from_iomem(cap.iomem, arch, "/proc/iomem", f"this system ({platform.node()})"), platform.release()
