"""``kdumplab plan``: one scenario through the model.

Reads the machine (a preset or a TOML file) at the edge, then calls the pure model.
"""

from __future__ import annotations

from pathlib import Path

from kdumplab import model, presets
from kdumplab.errors import KdumplabError
from kdumplab.machine import Machine, load_machine
from kdumplab.ranges import parse_size

__all__ = ["resolve_machine", "plan", "parse_numa"]


def parse_numa(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    return tuple(parse_size(part, "--numa") for part in text.split(","))


def resolve_machine(name: str, kernel: str, mem: str | None = None, numa: str | None = None,
                    initrd_size: int | None = None) -> Machine:
    """A preset name (``qemu-virt`` takes --mem/--numa/--initrd-size) or the path of a TOML file."""
    if name == "qemu-virt":
        kwargs: dict[str, object] = {"kernel": kernel if kernel in presets.DEBIAN_IMAGES else "6.1"}
        if mem:
            kwargs["mem"] = parse_size(mem, "--mem")
        if numa:
            kwargs["numa"] = parse_numa(numa)
        if initrd_size is not None:
            kwargs["initrd_size"] = initrd_size
        return presets.qemu_virt(**kwargs)  # type: ignore[arg-type]
    if mem or numa or initrd_size is not None:
        raise KdumplabError("--mem/--numa/--initrd-size", "only the qemu-virt preset takes these")
    path = Path(name)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text()
        except OSError as err:
            raise KdumplabError(str(path), f"cannot read: {err.strerror}") from None
        return load_machine(text, str(path))
    return presets.machine(name)


def emit_artifacts(result: model.Result, dtb_path: str | None, elfcorehdr_path: str | None,
                   base_dtb_path: str | None = None, crash_append: str | None = None) -> None:
    """Write the crash kernel's DTB and elfcorehdr of a successful kexec -p model (temp file, then rename).

    The DTB starts from ``base_dtb_path`` (the running kernel's /sys/firmware/fdt, as kexec-tools does; our
    result equals the real one in every recorded cycle) or, without it, from a minimal tree. Its bootargs are
    ``crash_append`` (kexec --append), by default the first kernel's command line without crashkernel=.
    """
    import os  # noqa: PLC0415

    from kdumplab.artifacts import base_dtb, crash_dtb, elfcorehdr_bytes  # noqa: PLC0415

    load = result.kexec
    if load is None:
        raise KdumplabError("--emit-dtb/--emit-elfcorehdr", "needs --kexec-tools VERSION")
    if load.elfcorehdr is None:
        raise KdumplabError("--emit-dtb/--emit-elfcorehdr", "kexec-tools built no elfcorehdr for this load",
                            "see the kexec verdict")
    if crash_append is None:
        crash_append = " ".join(t for t in result.scenario.cmdline.split() if not t.startswith("crashkernel="))
    base = base_dtb()
    if base_dtb_path:
        try:
            with open(base_dtb_path, "rb") as f:
                base = f.read()
        except OSError as err:
            raise KdumplabError(base_dtb_path, f"cannot read: {err.strerror}") from None
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
         crash_initrd_size: int | None = None) -> model.Result:
    return model.run(model.Scenario(machine, cmdline, kernel, kexec_tools, crash_initrd_size))
