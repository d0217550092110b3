"""Boot one real Debian kernel under QEMU (TCG) and observe it: arm64 under ``qemu-system-aarch64 -M virt``,
x86_64 under ``qemu-system-x86_64 -M q35``.

The command is the one in docs/lab.md: one vCPU, no NIC, no reboot, ``panic=-1`` and a ``poweroff -f`` at
the end of /init so QEMU exits by itself. What differs per architecture is data (``BOARDS``): the QEMU
binary, machine and CPU, the serial console, and the firmware a boot may name. A hard wall-clock timeout
bounds every run; the QEMU process group is killed on timeout, exception or Ctrl-C, and the scratch directory
(initrd, serial log) sits on one ExitStack so nothing is left behind. The raw serial log is kept in the result.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kdumplab.errors import KdumplabError
from kdumplab.lab import run as runmod
from kdumplab.lab.build import VARIANTS as LAB_BUILT
from kdumplab.lab.initramfs import Built, Initramfs, base_initramfs, init_script
from kdumplab.lab.kimage import check_image
from kdumplab.lab.observe import LabLost, Observation, Provenance, observe
from kdumplab.lab.setup import Lab, load_lab, unknown_kernel_hint

__all__ = ["BOARDS", "Board", "BootSpec", "BootResult", "parse_size", "qemu_argv", "boot", "qemu_version", "QEMU",
           "lab_append", "LAB_PARAMS", "dumpdtb_argv", "dma_ranges_argv", "CPUS"]

QEMU = "qemu-system-aarch64"


@dataclass(frozen=True, slots=True)
class Board:
    """How the lab boots one guest architecture.

    ``firmwares`` maps each ``--firmware`` value to the lab-cache firmware file passed with ``-bios``
    (None: QEMU's own default: the DT direct boot on arm64, SeaBIOS on x86).
    """

    qemu: str
    machine: tuple[str, ...]
    console: str
    firmwares: dict[str, str | None]

    @property
    def default_firmware(self) -> str:
        return next(iter(self.firmwares))


BOARDS: dict[str, Board] = {
    # cortex-a57 with one vCPU is the fastest TCG setting for arm64 (docs/lab.md).
    # uefi: EDK2 (bookworm's qemu-efi-aarch64, QEMU_EFI.fd) as -bios; QEMU hands -kernel/-initrd/-append to it
    # through fw_cfg and the kernel starts from its EFI stub, with QEMU's ACPI tables
    "arm64": Board(QEMU, ("-M", "virt", "-accel", "tcg", "-cpu", "cortex-a57"), "ttyAMA0",
                   {"dt": None, "uefi": "qemu-efi-aarch64"}),
    # x86: -cpu max, because RDRAND (the decompressor's KASLR entropy, and OVMF's RNG protocol) needs it;
    # QEMU's default SeaBIOS does the direct kernel boot (linuxboot_dma.bin option ROM); OVMF (UEFI) boots
    # the kernel's EFI stub.
    "x86_64": Board("qemu-system-x86_64", ("-M", "q35", "-accel", "tcg", "-cpu", "max"), "ttyS0",
                    {"bios": None, "uefi": "ovmf"}),
}
_SIZE = re.compile(r"^(\d+)([MG])$")
#: arm64 CPU models the lab boots: Cortex-A57 is the fastest under TCG; it has no 16K granule, Neoverse-N1 has
CPUS = ("cortex-a57", "neoverse-n1")
#: QEMU -M virt puts RAM at 1 GiB and its PCIe host bridge at this DT path
VIRT_RAM_BASE = 0x4000_0000
VIRT_PCIE = "/pcie@10000000"


def parse_size(text: str) -> int:
    """QEMU-style memory size ("512M", "8G") -> MiB."""
    m = _SIZE.match(text.strip())
    if not m:
        raise KdumplabError("--mem", f"bad size {text!r}", "use e.g. 8G or 1536M")
    return int(m.group(1)) * (1024 if m.group(2) == "G" else 1)


def _page_size(kernel: str) -> int:
    """The kernel's page size, from its profile (kdumplab.profiles); 4K for a name no profile has."""
    from kdumplab import profiles  # noqa: PLC0415

    prof = profiles.get(kernel)
    return prof.page_size if prof is not None else 4096


@dataclass(frozen=True, slots=True)
class BootSpec:
    """One boot: generation, memory (QEMU size text), optional NUMA node sizes, user command line, guest
    architecture and firmware ("" = the board's default), the arm64 CPU model ("" = the board's) and an
    optional DMA window (QEMU size text: device DMA limited to the first SIZE of RAM, arm64 DT only)."""

    kernel: str
    mem: str
    cmdline: str = ""
    numa: tuple[str, ...] = ()
    arch: str = "arm64"
    firmware: str = ""
    cpu: str = ""
    dma_window: str | None = None
    #: a virtio-rng device: EDK2's VirtioRngDxe then offers EFI_RNG_PROTOCOL, and the arm64 EFI stub places the
    #: kernel at a random address (libstub/arm64-stub.c handle_kernel_image -> efi_random_alloc)
    rng: bool = False
    #: QEMU -smp: CPUs the guest has (the lab's recordings use 1; more CPUs each save a crash note at panic,
    #: which /proc/vmcore's note segment holds)
    smp: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.smp <= 8:  # -M virt's default GICv2 takes 8; q35 is kept to the same
            raise KdumplabError("--smp", f"{self.smp} CPUs: the lab boots 1 to 8 (QEMU virt's GICv2 takes 8)")
        total = parse_size(self.mem)
        if self.numa and sum(parse_size(n) for n in self.numa) != total:
            raise KdumplabError("--numa", f"node sizes {','.join(self.numa)} do not add up to {self.mem}")
        if self.arch not in BOARDS:
            raise KdumplabError("--arch", f"unknown architecture {self.arch!r}", "one of " + ", ".join(BOARDS))
        if self.firmware and self.firmware not in BOARDS[self.arch].firmwares:
            raise KdumplabError("--firmware", f"{self.firmware!r} is not a firmware of {self.arch}",
                                "one of " + ", ".join(BOARDS[self.arch].firmwares))
        if self.cpu and (self.arch != "arm64" or self.cpu not in CPUS):
            raise KdumplabError("--cpu", f"unknown CPU model {self.cpu!r} for {self.arch}", "one of " + ", ".join(CPUS))
        if _page_size(self.kernel) != 4096 and self.cpu == "cortex-a57":
            raise KdumplabError("--cpu", "cortex-a57 has no 16K translation granule: a 16K kernel does not boot on it",
                                "use --cpu neoverse-n1 (the default for 16K kernels)")
        if self.dma_window is not None:
            if self.arch != "arm64":
                raise KdumplabError("--dma-window", "is a device-tree property: arm64 only")
            if not 0 < parse_size(self.dma_window) <= total:
                raise KdumplabError("--dma-window", f"{self.dma_window} is not within the {self.mem} of RAM")

    @property
    def cpu_model(self) -> str:
        """The -cpu the boot uses: the spec's, else neoverse-n1 for a 16K kernel, else the board's."""
        if self.cpu:
            return self.cpu
        return "neoverse-n1" if _page_size(self.kernel) != 4096 else ""

    @property
    def board(self) -> Board:
        return BOARDS[self.arch]

    @property
    def firmware_name(self) -> str:
        return self.firmware or self.board.default_firmware

    @property
    def append(self) -> str:
        return lab_append(self.cmdline, self.board.console)[0]


#: What every lab boot needs on the command line: the serial console the lab reads (the board's), and a panic
#: that stops QEMU.
LAB_PARAMS = ("console=ttyAMA0", "panic=-1")


def lab_append(cmdline: str, console: str = "ttyAMA0") -> tuple[str, tuple[str, ...]]:
    """The -append text for a user's whole command line: LAB_PARAMS (with the board's console) put first where
    the user gave no value of their own, and which ones were added."""
    given = {w.split("=", 1)[0] for w in cmdline.split()}
    params = tuple(p.replace("ttyAMA0", console) for p in LAB_PARAMS)
    added = tuple(p for p in params if p.split("=", 1)[0] not in given)
    return f"{' '.join(added)} {cmdline}".strip(), added


def _machine_argv(spec: BootSpec, dumpdtb: str | None = None) -> list[str]:
    """QEMU, the board (with the spec's CPU model, and ``dumpdtb=F`` when asked), -smp, -m and the NUMA nodes."""
    board = spec.board
    machine = list(board.machine)
    if spec.cpu_model:
        machine[machine.index("-cpu") + 1] = spec.cpu_model
    if spec.firmware == "uefi" and spec.dma_window is not None:
        # Under ACPI the kernel sizes ZONE_DMA from IORT (unlimited on QEMU) and ignores the DT's dma-ranges:
        # with acpi=off QEMU builds no ACPI tables and EDK2 hands the (edited) device tree to the kernel.
        machine[machine.index("-M") + 1] += ",acpi=off"
    if dumpdtb is not None:
        machine[machine.index("-M") + 1] += f",dumpdtb={dumpdtb}"
    if spec.kernel in LAB_BUILT:
        # The lab-built kernels (lab/build.py) have RANDOMIZE_BASE=n, so nothing wipes QEMU's
        # /chosen/kaslr-seed, and kexec-tools (2.0.20 to 2.0.32) refuses such a tree: "setup_2nd_dtb:
        # kaslr-seed is not wiped to 0." (18 of 18 first cycles). QEMU 7.2's dtb-randomness=off leaves the
        # seeds out, as a firmware without an RNG would.
        machine[machine.index("-M") + 1] += ",dtb-randomness=off"
    argv = [board.qemu, *machine, "-smp", str(spec.smp), "-m", spec.mem]
    for i, size in enumerate(spec.numa):
        argv += ["-object", f"memory-backend-ram,id=m{i},size={size}", "-numa", f"node,memdev=m{i}"]
    return argv


def qemu_argv(spec: BootSpec, kernel_image: str, initrd: str, bios: str | None = None,
              dtb: str | None = None) -> tuple[str, ...]:
    """The full QEMU command line for ``spec`` (``bios``: the firmware file when the spec names one; ``dtb``:
    a device tree file to pass with ``-dtb``)."""
    argv = _machine_argv(spec)
    if bios is not None:
        argv += ["-bios", bios]
    if spec.rng:
        argv += ["-device", "virtio-rng-pci"]
    argv += ["-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel_image, "-initrd", initrd,
             "-append", spec.append]
    if dtb is not None:
        argv += ["-dtb", dtb]
    return tuple(argv)


def dumpdtb_argv(spec: BootSpec, out: str) -> tuple[str, ...]:
    """QEMU writing its own device tree for the same -m, -numa and -cpu (``-M virt,dumpdtb=F``), then exiting."""
    return (*_machine_argv(spec, dumpdtb=out), "-nographic", "-nic", "none")


def dma_ranges_argv(spec: BootSpec, dtb: str) -> tuple[str, ...]:
    """``fdtput`` adding the one property that limits device DMA to the first ``dma_window`` of RAM: an
    identity ``dma-ranges`` on QEMU's PCIe host bridge (PCI memory space, 64-bit address and size cells)."""
    assert spec.dma_window is not None
    size = parse_size(spec.dma_window) << 20
    return ("fdtput", "-t", "x", dtb, VIRT_PCIE, "dma-ranges", "02000000",
            f"{VIRT_RAM_BASE >> 32:x}", f"{VIRT_RAM_BASE & 0xFFFF_FFFF:x}",
            f"{VIRT_RAM_BASE >> 32:x}", f"{VIRT_RAM_BASE & 0xFFFF_FFFF:x}",
            f"{size >> 32:x}", f"{size & 0xFFFF_FFFF:x}")


def make_dtb(spec: BootSpec, directory: Path, timeout: float = 60.0) -> Path | None:
    """The device tree file the boot passes with ``-dtb`` (None: QEMU's built-in tree is used)."""
    if spec.dma_window is None:
        return None
    out = directory / "virt.dtb"
    runmod.run(dumpdtb_argv(spec, str(out)), timeout=timeout)
    runmod.run(dma_ranges_argv(spec, str(out)), timeout=timeout)
    return out


def _bios_file(spec: BootSpec, lab: Lab) -> str | None:
    """The firmware file the spec's firmware needs from the lab cache (None: QEMU's default)."""
    key = spec.board.firmwares[spec.firmware_name]
    if key is None:
        return None
    fw = lab.firmware.get(key)
    if fw is None:
        raise KdumplabError("--firmware", f"{key} is not in the lab cache", "run `kdumplab lab setup`")
    return str(fw["path"])


@dataclass(frozen=True, slots=True)
class BootResult:
    """The raw serial log and, unless the lab lost the boot, its Observation."""

    spec: BootSpec
    serial: str
    observation: Observation | None
    lost: str | None


_QEMU_VERSION: dict[str, str] = {}


def qemu_version(binary: str = QEMU) -> str:
    if binary not in _QEMU_VERSION:
        out = runmod.run([binary, "--version"], timeout=30).stdout.decode().splitlines()
        _QEMU_VERSION[binary] = out[0].strip() if out else "unknown"
    return _QEMU_VERSION[binary]


def default_initrd(lab: Lab, extra: Initramfs | None = None, ptdump: bool = False) -> Built:
    fs = base_initramfs(lab.busybox, init_script(ptdump))
    if extra is not None:
        for e in extra.entries:
            fs = fs._with(e)
    return fs.build()


def boot(spec: BootSpec, *, lab: Lab | None = None, initrd: Built | None = None,
         timeout: float = 120.0) -> BootResult:
    """Run one boot to power-off (or the timeout) and parse it. ``LabLost`` is returned, not raised."""
    lab = lab or load_lab(spec.arch)
    if lab.arch != spec.arch:
        raise KdumplabError("lab", f"the lab cache section is {lab.arch}, the boot wants {spec.arch}")
    if spec.kernel not in lab.kernels:
        raise KdumplabError("--kernel", f"unknown kernel {spec.kernel!r}", unknown_kernel_hint(spec.kernel, lab))
    k = lab.kernels[spec.kernel]
    initrd = initrd or default_initrd(lab)
    with contextlib.ExitStack() as stack:
        stack.enter_context(runmod.signals_interrupt())  # SIGTERM/SIGHUP clean up like Ctrl-C
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kdumplab-boot-")))
        (tmp / "initrd.cpio.gz").write_bytes(initrd.data)
        bios = _bios_file(spec, lab)
        check_image(k["vmlinuz"], spec.arch, k.get("image_sha256"))  # a damaged cache fails now, naming it
        dtb = make_dtb(spec, tmp)
        argv = qemu_argv(spec, k["vmlinuz"], str(tmp / "initrd.cpio.gz"), bios, str(dtb) if dtb else None)
        serial_path = tmp / "serial.log"
        done = runmod.run(argv, timeout=timeout, check=False, stdout_path=serial_path)
        serial = serial_path.read_bytes().decode("utf-8", errors="replace")
        dtb_bytes = dtb.read_bytes() if dtb else None
    prov = Provenance(k["package"], k["version"], qemu_version(spec.board.qemu),
                      qemu_argv(spec, Path(k["vmlinuz"]).name, "initrd.cpio.gz", bios and Path(bios).name,
                                "virt.dtb" if dtb else None),
                      initrd.size, initrd.sha256, round(done.wall_s, 2),
                      dtb_size=len(dtb_bytes) if dtb_bytes is not None else None,
                      dtb_sha256=hashlib.sha256(dtb_bytes).hexdigest() if dtb_bytes is not None else None)
    try:
        obs = observe(serial, prov, spec.mem, spec.numa, spec.cmdline, cpu=spec.cpu_model or "cortex-a57",
                      dma_window=spec.dma_window)
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
