"""``kdumplab plan``: one scenario through the model.

Reads the machine (a preset or a TOML file) at the edge, then calls the pure model.
"""

from __future__ import annotations

from kdumplab import model
from kdumplab.errors import KdumplabError
from kdumplab.inputfile import read_bytes
from kdumplab.machine import Machine
from kdumplab.ranges import parse_memory

__all__ = ["resolve_machine", "plan", "kaslr_for"]


def resolve_machine(name: str, kernel: str, mem: str | None = None, numa: str | None = None,
                    initrd_size: int | None = None) -> Machine:
    """A preset name (``qemu-virt`` takes --mem/--numa/--initrd-size) or the path of a TOML file
    (the option texts read as the shared machine options read them: kdumplab.tools.options)."""
    from kdumplab.tools.options import MachineArgs, build_machine, parse_numa  # noqa: PLC0415

    return build_machine(MachineArgs(name, kernel, None if mem is None else parse_memory(mem, "--mem"),
                                     parse_numa(numa) if numa else None, initrd_size))


def emit_artifacts(result: model.Result, dtb_path: str | None, elfcorehdr_path: str | None,
                   base_dtb_path: str | None = None, crash_append: str | None = None) -> None:
    """Write the crash kernel's DTB and elfcorehdr of a successful kexec -p model (temp file, then rename).

    The DTB starts from ``base_dtb_path`` (the running kernel's /sys/firmware/fdt, as kexec-tools does; our
    result equals the real one in every recorded cycle) or, without it, from a minimal tree. Its bootargs are
    ``crash_append`` (kexec --append), by default the one the model used for the load and the crash kernel's boot
    (the lab's, ``kexec.CRASH_APPEND``), so the DTB written has the size the modelled DTB segment has.
    """
    import os  # noqa: PLC0415

    from kdumplab.artifacts import base_dtb, crash_dtb, elfcorehdr_bytes  # noqa: PLC0415
    from kdumplab.kexec import CRASH_APPEND  # noqa: PLC0415

    load = result.kexec
    if load is None:
        raise KdumplabError("--emit-dtb/--emit-elfcorehdr", "needs --kexec-tools VERSION")
    if load.elfcorehdr is None:
        raise KdumplabError("--emit-dtb/--emit-elfcorehdr", "kexec-tools built no elfcorehdr for this load",
                            "see the kexec verdict")
    if hasattr(load, "e820"):  # kexec_x86.X86KexecLoad: no DTB, and artifacts writes arm64 ELF headers only
        raise KdumplabError("--emit-dtb/--emit-elfcorehdr", "not for x86_64: its crash kernel gets an e820 map in "
                            "boot_params, and the ELF header writer is arm64's", "see kexec.e820 and phdrs in --json")
    if crash_append is None:  # the one the model loaded and booted the crash kernel with
        crash_append = result.scenario.crash_cmdline or CRASH_APPEND
    base = base_dtb()
    if base_dtb_path:
        try:
            base = read_bytes(base_dtb_path)  # bounded; a FIFO or device is one line
        except FileNotFoundError:
            raise KdumplabError(base_dtb_path, "cannot read: No such file or directory") from None
    for path, data in ((dtb_path, lambda: crash_dtb(base, load, crash_append, base_dtb_path or "dtb")),
                       (elfcorehdr_path, lambda: elfcorehdr_bytes(load))):
        if path:
            blob = data()  # errors here leave nothing behind
            tmp = f"{path}.tmp-{os.getpid()}"
            try:
                with open(tmp, "wb") as f:
                    f.write(blob)
                os.replace(tmp, path)
            except OSError as err:
                raise KdumplabError(path, f"cannot write: {err.strerror}") from None


def plan(machine: Machine, cmdline: str, kernel: str, kexec_tools: str | None = None,
         crash_initrd_size: int | None = None, crash_cmdline: str | None = None) -> model.Result:
    """The model for one machine and command line; ``crash_cmdline``: the crash kernel's (kexec --append), whose
    cma= and nr_cpus= its boot follows (None: the lab's, kexec.CRASH_APPEND)."""
    return model.run(model.Scenario(machine, cmdline, kernel, kexec_tools, crash_initrd_size,
                                    crash_cmdline=crash_cmdline))


def kaslr_for(scenario: model.Scenario, pinned: bool):  # noqa: ANN201 - a kaslr.Distribution or None
    """The outcome over the kernel's possible places when the place is random (x86 physical KASLR), else None:
    nokaslr, --kernel-at, or an arm64 direct boot."""
    from kdumplab import kaslr  # noqa: PLC0415

    if pinned or not kaslr.placement_is_random(scenario.machine, scenario.cmdline):
        return None
    return kaslr.distribution(scenario)
