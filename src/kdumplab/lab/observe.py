"""Parse a raw serial log from a lab boot into an ``Observation``.

The guest's /init (lab/initramfs.py) prints each section between ``=== NAME`` marker lines. A log without
the begin and end markers is ``LabLost`` (the guest never got to /init, QEMU timed out, or the log is
garbage): that is a failure of the lab, never a statement about the kernel's reservation. A kernel that
refused the reservation still reaches the end marker, with no "Crash kernel" region and its own log lines.
"""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import asdict, dataclass, fields, is_dataclass

from kdumplab.errors import KdumplabError
from kdumplab.klog import crash_lines
from kdumplab.lab.build import VARIANTS as LAB_BUILT

__all__ = ["check_types", "CrashRegion", "Provenance", "Observation", "LabLost", "sections", "observe", "SCHEMA"]

SCHEMA = 1
#: Observation keys that older recordings may lack (their defaults describe those recordings)
_SHAPE_KEYS = {"cpu", "dma_window"}
_MARK = re.compile(r"^=== ([A-Z_ ]+)\r?$")


class LabLost(KdumplabError):
    """The boot produced no usable result (no markers, timeout, garbage); says nothing about the kernel."""

    def __init__(self, what: str, hint: str | None = None) -> None:
        super().__init__("lab", what, hint)


def _type_ok(value: object, hint: object) -> bool:
    """Is ``value`` of the (resolved) type ``hint``? Covers what recordings hold: str, int (not bool),
    float (an int will do), bool, bytes, None, ``X | None``, ``tuple[X, ...]``, ``dict[str, X]`` and
    nested dataclasses."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in args)
    if origin is tuple:
        return isinstance(value, tuple) and all(_type_ok(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_type_ok(k, args[0]) and _type_ok(v, args[1])
                                               for k, v in value.items())
    if hint is type(None):
        return value is None
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if is_dataclass(hint):
        return isinstance(value, hint) and all(_type_ok(getattr(value, f.name), h)  # type: ignore[arg-type]
                                               for f, h in zip(fields(hint), _hints(hint).values(), strict=True))
    return isinstance(value, hint)  # type: ignore[arg-type]


def _hints(cls: type) -> dict[str, object]:
    return {f.name: typing.get_type_hints(cls)[f.name] for f in fields(cls)}


def check_types(obj: object, where: str, prefix: str = "") -> None:
    """Refuse (naming the file and the field) a recording whose fields have the wrong JSON types: a
    ``mem`` of 5 or a ``crash_log`` of numbers would otherwise pass and fail far away with a traceback."""
    for f, hint in zip(fields(obj), _hints(type(obj)).values(), strict=True):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        nested = [h for h in (hint, *typing.get_args(hint)) if is_dataclass(h) and isinstance(value, h)]
        if nested:
            check_types(value, where, f"{prefix}{f.name}.")
            continue
        if typing.get_origin(hint) is tuple and isinstance(value, tuple) and is_dataclass(typing.get_args(hint)[0]):
            for i, item in enumerate(value):
                if isinstance(item, typing.get_args(hint)[0]):
                    check_types(item, where, f"{prefix}{f.name}[{i}].")
        if not _type_ok(value, hint):
            shown = repr(value)
            shown = shown if len(shown) <= 40 else shown[:40] + "..."
            want = getattr(hint, "__name__", None) or str(hint).replace("kdumplab.lab.", "")
            raise KdumplabError(where, f"field {prefix}{f.name} = {shown} is not {want}", "re-record it")


@dataclass(frozen=True, slots=True)
class CrashRegion:
    """One ``Crash kernel`` line of /proc/iomem. ``end`` is exclusive (iomem prints end - 1)."""

    name: str
    start: int
    end: int
    parent: str  # the enclosing top-level line, e.g. "40000000-23fffffff : System RAM"


@dataclass(frozen=True, slots=True)
class Provenance:
    """What produced an observation."""

    kernel_package: str
    kernel_version: str
    qemu_version: str
    qemu_cmdline: tuple[str, ...]
    initrd_size: int
    initrd_sha256: str
    wall_s: float
    #: the device tree file passed with -dtb (QEMU's own tree plus dma-ranges): its size moves the
    #: reservation QEMU's loader makes for it; None when QEMU's built-in tree was used
    dtb_size: int | None = None
    dtb_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What a real boot showed. Addresses are ints; ranges half-open."""

    generation: str  # "5.10", "6.1", "6.12", "7.2"
    mem: str  # QEMU -m, e.g. "8G"
    numa: tuple[str, ...]  # NUMA node sizes, () for one node
    user_cmdline: str  # what the case asked for, after "console=ttyAMA0 panic=-1"
    cmdline: str  # /proc/cmdline as the guest saw it
    crash_regions: tuple[CrashRegion, ...]
    crash_log: tuple[str, ...]  # klog.crash_lines of the full dmesg, without timestamps
    iomem: str
    kexec_crash_size: int | None
    memtotal_kb: int | None
    memblock_memory: str | None
    memblock_reserved: str | None
    provenance: Provenance
    schema: int = SCHEMA
    cpu: str = "cortex-a57"  # QEMU -cpu
    dma_window: str | None = None  # device DMA limited to the first SIZE of RAM (QEMU size text)

    @property
    def arch(self) -> str:
        """The guest architecture, from the QEMU binary that ran it (recordings carry the command line)."""
        return "x86_64" if self.provenance.qemu_cmdline[:1] == ("qemu-system-x86_64",) else "arm64"

    @property
    def firmware(self) -> str:
        """``dt`` / ``bios`` for QEMU's default (arm64 DT direct boot, x86 SeaBIOS), ``uefi`` with -bios."""
        argv = self.provenance.qemu_cmdline
        if "-bios" in argv:
            return "uefi"
        return "bios" if self.arch == "x86_64" else "dt"

    @property
    def rng(self) -> bool:
        """The guest had a virtio-rng device (-device virtio-rng-pci): an EFI RNG under UEFI."""
        argv = self.provenance.qemu_cmdline
        return any(a == "virtio-rng-pci" for a in argv)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Observation:
        """Inverse of ``to_json``; unknown or missing keys are an error."""
        try:
            d = json.loads(text)
            names = {f.name for f in fields(cls)}
            # recordings made before the machine shape was recorded lack these keys; they mean the defaults
            if set(d) != names and set(d) | _SHAPE_KEYS != names:
                raise KdumplabError("case.json", f"keys differ from Observation: {', '.join(sorted(set(d) ^ names))}",
                                    "re-record with `kdumplab lab boot --save`")
            prov = d["provenance"]
            prov["qemu_cmdline"] = tuple(prov["qemu_cmdline"])
            d["provenance"] = Provenance(**prov)
            d["crash_regions"] = tuple(CrashRegion(**r) for r in d["crash_regions"])
            d["crash_log"] = tuple(d["crash_log"])
            d["numa"] = tuple(d["numa"])
            obs = cls(**d)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise KdumplabError("case.json", f"not an Observation: {e}") from e
        check_types(obs, "case.json")
        return obs


def sections(log: str) -> dict[str, str]:
    """Marker name -> text up to the next marker. Raises LabLost when begin or end is missing."""
    out: dict[str, list[str]] = {}
    cur: str | None = None
    for line in log.splitlines():
        m = _MARK.match(line)
        if m:
            cur = m.group(1).strip()
            out.setdefault(cur, [])
            continue
        if cur is not None:
            out[cur].append(line.rstrip("\r"))
    if "KDUMPLAB BEGIN" not in out or "KDUMPLAB END" not in out:
        raise LabLost("the guest never printed the kdumplab end marker",
                      "look at the saved serial log: kernel not booting, timeout or garbage")
    return {k: "\n".join(v) + ("\n" if v else "") for k, v in out.items()}


_IOMEM_LINE = re.compile(r"^(\s*)([0-9a-f]+)-([0-9a-f]+) : (.*)$")


def crash_regions(iomem: str) -> tuple[CrashRegion, ...]:
    out = []
    parent = ""
    for line in iomem.splitlines():
        m = _IOMEM_LINE.match(line)
        if not m:
            continue
        if not m.group(1):
            parent = line
        if m.group(4).startswith("Crash kernel"):
            out.append(CrashRegion(m.group(4), int(m.group(2), 16), int(m.group(3), 16) + 1,
                                   parent if m.group(1) else ""))
    return tuple(out)


def _generation(release: str, package: str = "") -> str:
    """The lab's name for a kernel: its major.minor, with ``-16k`` for Debian's 16K-page flavour."""
    # a lab-built kernel (lab/build.py) is "<Debian source version>+<variant>": the variant names its policy
    _, _, variant = release.partition("+")
    if variant in LAB_BUILT:
        return variant
    # a Debian package is the kernel whose profile's apt_package names it (kdumplab.profiles)
    from kdumplab import profiles  # noqa: PLC0415

    for prof in profiles.all_profiles():
        if prof.apt_package and any(re.match(prof.apt_package.format(deb=deb), package) for deb in ("arm64", "amd64")):
            return prof.name
    flavour = "-16k" if package.endswith(("-16k-unsigned", "-16k")) else ""
    for g in ("5.10", "6.12", "6.1", "7.2"):
        if release.startswith(g + ".") or release == g:
            return g + flavour
    raise KdumplabError("observe", f"unknown kernel release {release!r}")


def observe(log: str, provenance: Provenance, mem: str, numa: tuple[str, ...], user_cmdline: str,
            cpu: str = "cortex-a57", dma_window: str | None = None) -> Observation:
    """Serial log text + provenance -> Observation; LabLost if the guest did not finish /init."""
    sec = sections(log)
    iomem = sec.get("IOMEM", "")
    size = sec.get("KEXEC_CRASH_SIZE", "").strip()
    mt = re.search(r"MemTotal:\s+(\d+) kB", sec.get("MEMTOTAL", ""))
    return Observation(
        generation=_generation(provenance.kernel_version, provenance.kernel_package),
        mem=mem,
        numa=numa,
        user_cmdline=user_cmdline,
        cmdline=sec.get("CMDLINE", "").strip(),
        crash_regions=crash_regions(iomem),
        crash_log=crash_lines(sec.get("DMESG", "")),
        iomem=iomem,
        kexec_crash_size=int(size) if size.isdigit() else None,
        memtotal_kb=int(mt.group(1)) if mt else None,
        memblock_memory=sec.get("MEMBLOCK_MEMORY"),
        memblock_reserved=sec.get("MEMBLOCK_RESERVED"),
        provenance=provenance,
        cpu=cpu,
        dma_window=dma_window,
    )
