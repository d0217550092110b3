"""Boot one real Debian arm64 kernel under ``qemu-system-aarch64 -M virt`` (TCG) and observe it.

The command is the one in docs/lab.md: cortex-a57, one vCPU, no NIC, no reboot, ``panic=-1`` and a
``poweroff -f`` at the end of /init so QEMU exits by itself. A hard wall-clock timeout bounds every run;
the QEMU process group is killed on timeout, exception or Ctrl-C, and the scratch directory (initrd, serial
log) sits on one ExitStack so nothing is left behind. The raw serial log is kept in the result.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kdumplab.errors import KdumplabError
from kdumplab.lab import run as runmod
from kdumplab.lab.initramfs import Built, Initramfs, base_initramfs
from kdumplab.lab.observe import LabLost, Observation, Provenance, observe
from kdumplab.lab.setup import Lab, load_lab

__all__ = ["BootSpec", "BootResult", "parse_size", "qemu_argv", "boot", "qemu_version", "QEMU", "lab_append",
           "LAB_PARAMS"]

QEMU = "qemu-system-aarch64"
_SIZE = re.compile(r"^(\d+)([MG])$")


def parse_size(text: str) -> int:
    """QEMU-style memory size ("512M", "8G") -> MiB."""
    m = _SIZE.match(text.strip())
    if not m:
        raise KdumplabError("--mem", f"bad size {text!r}", "use e.g. 8G or 1536M")
    return int(m.group(1)) * (1024 if m.group(2) == "G" else 1)


@dataclass(frozen=True, slots=True)
class BootSpec:
    """One boot: generation, memory (QEMU size text), optional NUMA node sizes, user command line."""

    kernel: str
    mem: str
    cmdline: str = ""
    numa: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        total = parse_size(self.mem)
        if self.numa and sum(parse_size(n) for n in self.numa) != total:
            raise KdumplabError("--numa", f"node sizes {','.join(self.numa)} do not add up to {self.mem}")

    @property
    def append(self) -> str:
        return lab_append(self.cmdline)[0]


#: What every lab boot needs on the command line: the serial console the lab reads, and a panic that stops QEMU.
LAB_PARAMS = ("console=ttyAMA0", "panic=-1")


def lab_append(cmdline: str) -> tuple[str, tuple[str, ...]]:
    """The -append text for a user's whole command line: LAB_PARAMS put first where the user gave no value of
    their own, and which ones were added."""
    given = {w.split("=", 1)[0] for w in cmdline.split()}
    added = tuple(p for p in LAB_PARAMS if p.split("=", 1)[0] not in given)
    return f"{' '.join(added)} {cmdline}".strip(), added


def qemu_argv(spec: BootSpec, kernel_image: str, initrd: str) -> tuple[str, ...]:
    """The full QEMU command line for ``spec``."""
    argv = [QEMU, "-M", "virt", "-accel", "tcg", "-cpu", "cortex-a57", "-smp", "1", "-m", spec.mem]
    for i, size in enumerate(spec.numa):
        argv += ["-object", f"memory-backend-ram,id=m{i},size={size}", "-numa", f"node,memdev=m{i}"]
    argv += ["-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel_image, "-initrd", initrd,
             "-append", spec.append]
    return tuple(argv)


@dataclass(frozen=True, slots=True)
class BootResult:
    """The raw serial log and, unless the lab lost the boot, its Observation."""

    spec: BootSpec
    serial: str
    observation: Observation | None
    lost: str | None


_QEMU_VERSION: dict[str, str] = {}


def qemu_version() -> str:
    if QEMU not in _QEMU_VERSION:
        out = runmod.run([QEMU, "--version"], timeout=30).stdout.decode().splitlines()
        _QEMU_VERSION[QEMU] = out[0].strip() if out else "unknown"
    return _QEMU_VERSION[QEMU]


def default_initrd(lab: Lab, extra: Initramfs | None = None) -> Built:
    fs = base_initramfs(lab.busybox)
    if extra is not None:
        for e in extra.entries:
            fs = fs._with(e)
    return fs.build()


def boot(spec: BootSpec, *, lab: Lab | None = None, initrd: Built | None = None,
         timeout: float = 120.0) -> BootResult:
    """Run one boot to power-off (or the timeout) and parse it. ``LabLost`` is returned, not raised."""
    lab = lab or load_lab()
    if spec.kernel not in lab.kernels:
        raise KdumplabError("--kernel", f"unknown kernel {spec.kernel!r}", "one of " + ", ".join(lab.kernels))
    k = lab.kernels[spec.kernel]
    initrd = initrd or default_initrd(lab)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kdumplab-boot-")))
        (tmp / "initrd.cpio.gz").write_bytes(initrd.data)
        argv = qemu_argv(spec, k["vmlinuz"], str(tmp / "initrd.cpio.gz"))
        serial_path = tmp / "serial.log"
        done = runmod.run(argv, timeout=timeout, check=False, stdout_path=serial_path)
        serial = serial_path.read_bytes().decode("utf-8", errors="replace")
    prov = Provenance(k["package"], k["version"], qemu_version(),
                      qemu_argv(spec, Path(k["vmlinuz"]).name, "initrd.cpio.gz"), initrd.size, initrd.sha256,
                      round(done.wall_s, 2))
    try:
        obs = observe(serial, prov, spec.mem, spec.numa, spec.cmdline)
    except LabLost as e:
        reason = e.what + (f" (timed out after {timeout:g} s)" if done.timed_out else "")
        if done.returncode not in (0, None) and not done.timed_out:
            reason += f"; qemu exit {done.returncode}: {done.stderr.decode(errors='replace').strip()[-200:]}"
        return BootResult(spec, serial, None, reason)
    return BootResult(spec, serial, obs, None)


def save(result: BootResult, directory: Path) -> None:
    """Write ``case.json`` (the Observation) and ``serial.log``; each file lands whole (temp + rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in (("serial.log", result.serial),
                       ("case.json", result.observation.to_json() if result.observation else None)):
        if data is None:
            continue
        tmp = directory / f".{name}.tmp"
        tmp.write_text(data)
        tmp.replace(directory / name)
