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


def plan(machine: Machine, cmdline: str, kernel: str, kexec_tools: str | None = None) -> model.Result:
    return model.run(model.Scenario(machine, cmdline, kernel, kexec_tools))
