"""The full kdump cycle on a real kernel: boot, ``kexec -p``, panic, and what the crash kernel then sees.

One QEMU run does it all. The first kernel's /init prints what a plain lab boot prints (so the same
``Observation`` comes out of it), then runs the real kexec-tools binary of the chosen version with ``-p -d``
and records its output and exit status. If the kernel accepted the load, ``echo c > /proc/sysrq-trigger``
panics it and the crash kernel (the same Image, with a small initramfs of its own) boots and prints its
command line, /proc/iomem, MemTotal, the properties of its ``/chosen`` node, the device tree it was given
(``/sys/firmware/fdt``), the size of /proc/vmcore and its first 4 KiB (the ELF and program headers). If the
load was refused the first kernel powers off and the cycle ends there: that is an answer, not a lost run.

Binary sections (the DTB, the vmcore head) cross the serial line as base64 of a gzip stream, so a 1 MiB
mostly-empty DTB costs a few KiB of console output.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from kdumplab import kexec as kexec_model
from kdumplab.errors import KdumplabError
from kdumplab.lab.initramfs import INIT_HEADER, INIT_REPORT, Built, base_initramfs, ptdump_report
from kdumplab.lab.observe import LabLost, Observation, check_types, sections
from kdumplab.lab.qemu import BootSpec, boot
from kdumplab.lab.setup import Lab, load_lab, unknown_kernel_hint

__all__ = ["CRASH_APPEND", "CycleSpec", "KexecRun", "Capture", "Cycle", "capture_initrd", "cycle_initrd", "parse_cycle",
           "run_cycle", "save_cycle", "load_cycle", "parse_segments", "RealSegment"]

SCHEMA = 1

#: What the crash kernel is told on its command line (kexec-tools ``--append``): the usual kdump additions
#: (the model assumes the same: kexec.CRASH_APPEND).
CRASH_APPEND = kexec_model.CRASH_APPEND


def crash_append(arch: str) -> str:
    """``CRASH_APPEND`` with the serial console of the guest architecture."""
    from kdumplab.lab.qemu import BOARDS

    return CRASH_APPEND.replace("console=ttyAMA0", f"console={BOARDS[arch].console}")

_FIRST_INIT = INIT_HEADER + INIT_REPORT + """echo "=== FIRST_FDT"
$B gzip -c /sys/firmware/fdt | $B base64
echo "=== KEXEC_ARGV"
echo "@ARGV@"
echo "=== KEXEC_OUTPUT"
@ARGV@ 2>&1
rc=$?
echo "=== KEXEC_RC"
echo $rc
echo "=== KEXEC_LOADED_AFTER"
$B cat /sys/kernel/kexec_crash_loaded
echo "=== KDUMPLAB END"
if [ "$($B cat /sys/kernel/kexec_crash_loaded)" = 1 ]; then
echo "=== KDUMPLAB PANIC"
echo c > /proc/sysrq-trigger
fi
$B poweroff -f
"""

_CAPTURE_INIT = INIT_HEADER + """echo "=== CAPTURE_BEGIN"
echo "=== CAPTURE_CMDLINE"
$B cat /proc/cmdline
echo "=== CAPTURE_IOMEM"
$B cat /proc/iomem
echo "=== CAPTURE_DMESG"
$B dmesg
echo "=== CAPTURE_MEMTOTAL"
$B grep MemTotal /proc/meminfo
@FIRMWARE@echo "=== CAPTURE_CHOSEN"
for f in /proc/device-tree/chosen/*; do
echo "$($B basename $f) $($B od -An -tx1 -v $f | $B tr -d ' \\n')"
done
echo "=== CAPTURE_FDT"
$B gzip -c /sys/firmware/fdt | $B base64
@FIRMWARE@echo "=== CAPTURE_VMCORE_SIZE"
$B stat -c %s /proc/vmcore
echo "=== CAPTURE_VMCORE_HEAD"
$B dd if=/proc/vmcore bs=4096 count=1 2>/dev/null | $B gzip -c | $B base64
echo "=== CAPTURE_END"
$B poweroff -f
"""


_CHOSEN_AND_FDT = _CAPTURE_INIT[_CAPTURE_INIT.index("@FIRMWARE@"):_CAPTURE_INIT.rindex("@FIRMWARE@")]
#: The crash kernel's /init per architecture. arm64 prints /chosen and the DTB kexec-tools built; x86 has no
#: device tree: what the crash kernel was given (its e820 map, memmap=, elfcorehdr=) is in its dmesg and
#: command line.
_CAPTURE_INITS = {
    "arm64": _CAPTURE_INIT.replace("@FIRMWARE@", ""),
    "x86_64": _CAPTURE_INIT.replace(_CHOSEN_AND_FDT, "").replace("@FIRMWARE@", ""),
}


def _pack(blob: bytes) -> str:
    """A binary block as it travels: base64 of a gzip stream (header mtime 0, so the text is stable)."""
    return base64.b64encode(gzip.compress(blob, mtime=0)).decode()


def _unpack(text: str) -> bytes:
    """Inverse of ``_pack`` (and of the guest's ``gzip -c | base64``); line breaks are ignored."""
    return gzip.decompress(base64.b64decode("".join(text.split()), validate=True))


@dataclass(frozen=True, slots=True)
class CycleSpec:
    """One cycle: the first boot, the kexec-tools version, and how ``kexec -p`` is called."""

    boot: BootSpec
    kexec_tools: str
    no_checks: bool = True  # ``-i``: skips purgatory's SHA-256 over the segments (~7 s under TCG)
    crash_append: str = ""  # "": crash_append(arch)
    file_load: bool = False  # ``-s``: kexec_file_load (the kernel places the segments; x86 Debian has it)
    ptdump: bool = False  # also report the linear map before and after ``kexec -p`` (PTDUMP_BEFORE/_AFTER)

    def kexec_argv(self) -> str:
        """The command line the guest runs (busybox sh syntax)."""
        flags = "-p -d" + (" -s" if self.file_load else "") + (" -i" if self.no_checks else "")
        append = self.crash_append or crash_append(self.boot.arch)
        return f"/sbin/kexec {flags} --initrd=/crash/initrd.cpio.gz --append='{append}' /crash/Image"


@dataclass(frozen=True, slots=True)
class RealSegment:
    """One segment as ``kexec -d`` printed it: where it goes in physical memory and how big."""

    mem: int
    memsz: int
    bufsz: int


@dataclass(frozen=True, slots=True)
class KexecRun:
    """What ``kexec -p -d`` printed and what the kernel did with it."""

    version: str  # e.g. "2.0.25"
    package_version: str  # the Debian package version really used
    argv: str
    crash_initrd_size: int  # the crash kernel's initramfs (--initrd), bytes
    crash_initrd_sha256: str
    output: str
    rc: int | None
    loaded: bool  # /sys/kernel/kexec_crash_loaded afterwards
    segments: tuple[RealSegment, ...]

    @property
    def append(self) -> str:
        """The crash kernel's command line as given to ``--append`` in ``argv``."""
        m = re.search(r"--append='([^']*)'", self.argv)
        return m.group(1) if m else ""


@dataclass(frozen=True, slots=True)
class Capture:
    """What the crash kernel showed about itself."""

    cmdline: str
    iomem: str
    dmesg: str
    memtotal_kb: int | None
    chosen: dict[str, str]  # property name -> hex bytes, as /proc/device-tree/chosen has them
    fdt: bytes  # /sys/firmware/fdt: the device tree kexec-tools built
    vmcore_size: int | None
    vmcore_head: bytes  # the first 4 KiB of /proc/vmcore


@dataclass(frozen=True, slots=True)
class Cycle:
    """A full cycle: the first kernel's Observation, the kexec run, the capture (None when none booted)."""

    first: Observation
    first_fdt: bytes  # the first kernel's /sys/firmware/fdt: what kexec-tools starts from
    kexec: KexecRun
    capture: Capture | None
    panicked: bool  # the first kernel reached the sysrq trigger
    schema: int = SCHEMA

    def to_json(self) -> str:
        d = asdict(self)
        d["first"] = json.loads(self.first.to_json())
        d["first_fdt"] = _pack(self.first_fdt)
        if self.capture is not None:
            d["capture"]["fdt"] = _pack(self.capture.fdt)
            d["capture"]["vmcore_head"] = base64.b64encode(self.capture.vmcore_head).decode()
        return json.dumps(d, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "cycle.json") -> Cycle:
        try:
            d = json.loads(text)
            if set(d) != {f.name for f in fields(cls)}:
                raise KdumplabError(where, "keys differ from Cycle", "re-record with `kdumplab lab cycle --save`")
            first = Observation.from_json(json.dumps(d["first"]))
            k = d["kexec"]
            k["segments"] = tuple(RealSegment(**s) for s in k["segments"])
            cap = d["capture"]
            if cap is not None:
                cap["fdt"] = _unpack(cap["fdt"])
                cap["vmcore_head"] = base64.b64decode(cap["vmcore_head"])
                cap = Capture(**cap)
            first_fdt = _unpack(d["first_fdt"])
            cyc = cls(first, first_fdt, KexecRun(**k), cap, d["panicked"], d["schema"])
        except KdumplabError as e:  # the first kernel's Observation: name this file
            raise KdumplabError(where, f"first: {e.what}", e.hint) from None
        except (ValueError, TypeError, KeyError, OSError, EOFError, AttributeError) as e:
            raise KdumplabError(where, f"not a recorded cycle: {e}") from e
        check_types(cyc, where)
        return cyc


def capture_initrd(lab: Lab) -> Built:
    """The crash kernel's initramfs: busybox and the capture /init of the lab's architecture."""
    return base_initramfs(lab.busybox, _CAPTURE_INITS[lab.arch]).build()


def cycle_initrd(lab: Lab, spec: CycleSpec, capture: Built) -> Built:
    """The first kernel's initramfs: busybox, our /init, kexec-tools with its libraries and loader, and
    the crash kernel's Image and initramfs under /crash. Left uncompressed: the Image is most of it."""
    kt = lab.kexec_tools.get(spec.kexec_tools)
    if kt is None:
        raise KdumplabError("--kexec-tools", f"kexec-tools {spec.kexec_tools} is not in the lab cache",
                            "run `kdumplab lab setup` (without --no-kexec); have: " + ", ".join(lab.kexec_tools))
    if spec.boot.kernel not in lab.kernels:
        raise KdumplabError("--kernel", f"unknown kernel {spec.boot.kernel!r}",
                            unknown_kernel_hint(spec.boot.kernel, lab))
    script = _FIRST_INIT
    if spec.ptdump:
        script = script.replace('echo "=== FIRST_FDT"', ptdump_report("PTDUMP_BEFORE") + 'echo "=== FIRST_FDT"', 1)
        script = script.replace('echo "=== KDUMPLAB END"', ptdump_report("PTDUMP_AFTER") + 'echo "=== KDUMPLAB END"',
                                1)
    fs = base_initramfs(lab.busybox, script.replace("@ARGV@", spec.kexec_argv()))
    fs = fs.with_host_file("sbin/kexec", Path(kt["binary"]), 0o755)
    for guest, host in sorted(kt["files"].items()):
        fs = fs.with_host_file(guest.lstrip("/"), Path(host), 0o755)
    fs = fs.with_host_file("crash/Image", Path(lab.kernels[spec.boot.kernel]["vmlinuz"]), 0o644)
    fs = fs.with_file("crash/initrd.cpio.gz", capture.data)
    return fs.build(compress=False)


# kexec-tools' listing of what it hands to kexec_load (kexec.c print_segments, the same in 2.0.20-2.0.32):
# four lines per segment, "segment[N].buf   = 0x...", ".bufsz = ", ".mem   = ", ".memsz = ". -d prints it
# before the call, and every version prints it again after a failed call.
_SEGMENT = re.compile(
    r"segment\[(\d+)\]\.buf\s*=\s*0x[0-9a-f]+\s*\n\s*segment\[\1\]\.bufsz\s*=\s*(0x[0-9a-f]+)\s*\n\s*"
    r"segment\[\1\]\.mem\s*=\s*(0x[0-9a-f]+)\s*\n\s*segment\[\1\]\.memsz\s*=\s*(0x[0-9a-f]+)")


def parse_segments(output: str) -> tuple[RealSegment, ...]:
    """The segments of the first listing in ``kexec -d`` output (empty if none was printed)."""
    found: list[RealSegment] = []
    for m in _SEGMENT.finditer(output):
        if int(m.group(1)) != len(found):
            break  # a second listing starts (after a refused load) or the listing is damaged
        found.append(RealSegment(int(m.group(3), 16), int(m.group(4), 16), int(m.group(2), 16)))
    return tuple(found)


def _b64gz(text: str, where: str) -> bytes:
    try:
        return _unpack(text)
    except (binascii.Error, OSError, EOFError) as e:
        raise LabLost(f"{where}: damaged base64/gzip on the serial line ({e})") from e


def _fdt(text: str, where: str) -> bytes:
    """A device-tree section; a kernel without /sys/firmware/fdt (x86, where firmware hands over no DT) left
    only gzip's complaint there: no tree, empty bytes."""
    if "/sys/firmware/fdt: No such file" in text:
        return b""
    return _b64gz(text, where)


def _chosen(text: str) -> dict[str, str]:
    """``name hex`` lines; a crash kernel booted through ACPI has no /proc/device-tree (it unflattens no tree):
    nothing, and its /chosen is read from the ``fdt`` it was booted with."""
    if "/proc/device-tree/chosen/*: No such file" in text:
        return {}
    out = {}
    for line in text.splitlines():
        name, _, value = line.strip().partition(" ")
        if name:
            out[name] = value.strip()
    return out


def parse_cycle(serial: str, first: Observation, spec: CycleSpec, package_version: str,
                crash_initrd: tuple[int, str]) -> Cycle:
    """The kexec and capture parts of a cycle's serial log (``first`` comes from lab.observe);
    ``crash_initrd`` is the (size, sha256) of the crash kernel's initramfs."""
    sec = sections(serial)
    if "KEXEC_RC" not in sec:
        raise LabLost("the first kernel never finished running kexec", "look at the saved serial log")
    output = sec.get("KEXEC_OUTPUT", "")
    rc_text = sec["KEXEC_RC"].strip()
    run = KexecRun(spec.kexec_tools, package_version, spec.kexec_argv(), crash_initrd[0], crash_initrd[1], output,
                   int(rc_text) if rc_text.lstrip("-").isdigit() else None,
                   sec.get("KEXEC_LOADED_AFTER", "").strip() == "1", parse_segments(output))
    panicked = "KDUMPLAB PANIC" in sec
    capture = None
    if "CAPTURE_BEGIN" in sec:
        if "CAPTURE_END" not in sec:
            raise LabLost("the crash kernel started /init but never finished it", "look at the saved serial log")
        mt = re.search(r"MemTotal:\s+(\d+) kB", sec.get("CAPTURE_MEMTOTAL", ""))
        size = sec.get("CAPTURE_VMCORE_SIZE", "").strip()
        capture = Capture(
            cmdline=sec.get("CAPTURE_CMDLINE", "").strip(),
            iomem=sec.get("CAPTURE_IOMEM", ""),
            dmesg=sec.get("CAPTURE_DMESG", ""),
            memtotal_kb=int(mt.group(1)) if mt else None,
            chosen=_chosen(sec.get("CAPTURE_CHOSEN", "")),
            fdt=_b64gz(sec.get("CAPTURE_FDT", ""), "CAPTURE_FDT"),
            vmcore_size=int(size) if size.isdigit() else None,
            vmcore_head=_b64gz(sec.get("CAPTURE_VMCORE_HEAD", ""), "CAPTURE_VMCORE_HEAD"),
        )
    elif run.loaded and panicked:
        raise LabLost("the first kernel panicked with a crash kernel loaded, but no crash kernel reached /init",
                      "look at the saved serial log (crash kernel hung, or the timeout was too short)")
    return Cycle(first, _fdt(sec.get("FIRST_FDT", ""), "FIRST_FDT"), run, capture, panicked)


@dataclass(frozen=True, slots=True)
class CycleResult:
    spec: CycleSpec
    serial: str
    cycle: Cycle | None
    lost: str | None

    @property
    def observation(self) -> Observation | None:
        """The first kernel's observation (what a plain boot result offers)."""
        return self.cycle.first if self.cycle else None


def run_cycle(spec: CycleSpec, *, lab: Lab | None = None, timeout: float = 300.0) -> CycleResult:
    """One full cycle in one bounded QEMU run; ``LabLost`` is returned as ``lost``, not raised."""
    lab = lab or load_lab(spec.boot.arch)
    capture = capture_initrd(lab)
    initrd = cycle_initrd(lab, spec, capture)
    result = boot(spec.boot, lab=lab, initrd=initrd, timeout=timeout)
    if result.observation is None:
        return CycleResult(spec, result.serial, None, result.lost)
    pkg = lab.kexec_tools[spec.kexec_tools]["version"]
    try:
        cyc = parse_cycle(result.serial, result.observation, spec, pkg, (capture.size, capture.sha256))
    except LabLost as e:
        return CycleResult(spec, result.serial, None, e.what)
    return CycleResult(spec, result.serial, cyc, None)


def save_cycle(result: CycleResult, directory: Path) -> None:
    """Write ``cycle.json`` and ``serial.log.gz``, each landing whole (temp file + rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    items = [("serial.log.gz", gzip.compress(result.serial.encode(), mtime=0))]
    if result.cycle is not None:
        items.append(("cycle.json", result.cycle.to_json().encode()))
    for name, data in items:
        tmp = directory / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(directory / name)


def load_cycle(directory: Path) -> Cycle:
    path = directory / "cycle.json"
    if not path.is_file():
        raise KdumplabError(str(path), "no recorded cycle here")
    from kdumplab.inputfile import read_text  # noqa: PLC0415

    return Cycle.from_json(read_text(path, strict=True), str(path))
