"""Kernel profiles: everything the model knows about one built kernel, in one place.

A *policy* (``kdumplab.policy``) is how a kernel generation reserves the crash region: the grammar, the
windows, the fallbacks. A *profile* is one kernel build that follows such a policy, with the facts that
belong to the build rather than to the reservation code: its release, architecture and page size, where the
boot loader puts its Image and how /proc/iomem shows it (image facts), the sizes of its early memblock
allocations (``EarlyProfile``), what it does as the running kernel under ``kexec -p``
(``KernelKexecFacts``) and as the crash kernel (``CrashKernelFacts``), and which package the lab boots.

Adding a kernel is adding one profile: a row in ``debian_arm64``, ``debian_x86`` or ``lab_built``, or a TOML
file written by ``kdumplab lab calibrate`` (:func:`load_file`, :func:`profile_to_toml`), which every command
takes as ``--kernel FILE``. The older per-fact tables (``presets.DEBIAN_IMAGES``, ``kexec.KERNEL_KEXEC``,
``crashview.CRASH_KERNELS``, ``lab.setup.KERNEL_SUITES``, the policy rows' ``early`` ...) are views of these
profiles (:class:`ProfileTable`), so nothing else holds a generation's numbers.

This module imports no model code at import time: the rows are loaded on first use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kdumplab.errors import KdumplabError

if TYPE_CHECKING:
    from kdumplab.crashview import CrashKernelFacts
    from kdumplab.efi import StubFacts
    from kdumplab.kexec import KernelKexecFacts
    from kdumplab.machine import KernelBuild, KernelImage
    from kdumplab.policy import EarlyProfile, LateProfile, PolicyData
    from kdumplab.presets.q35 import X86Image

__all__ = ["KernelProfile", "ProfileTable", "all_profiles", "get", "register", "registered", "load_file", "calibrated",
           "profile_to_toml", "profile_from_toml", "is_profile_file", "image_release", "stand_in"]


@dataclass(frozen=True, slots=True)
class KernelProfile:
    """One kernel build as the model needs it.

    ``image`` is a ``machine.KernelImage`` on arm64 (load address, offsets from ``_text``, the Image header's
    image_size and text_offset) and a ``presets.q35.X86Image`` on x86_64. ``kexec`` and ``crash`` are None
    where the crash side is not modelled (x86 today).
    """

    name: str
    arch: str
    #: the reservation policy it follows (a row of ``kdumplab.policy``; several profiles may share one)
    policy: str
    #: the Debian version (or lab build) its numbers were read from
    release: str
    #: the package and version the lab boots (Debian), or the lab build it came from
    package: str
    page_size: int
    image: KernelImage | X86Image
    early: EarlyProfile
    kexec: KernelKexecFacts | None = None
    crash: CrashKernelFacts | None = None
    #: what memblock hands out after the reservation until /proc/iomem is built (kdumplab.late; None: x86)
    late: LateProfile | None = None
    #: what its EFI stub does under EDK2 (kdumplab.efi; None: not modelled, x86)
    efi_stub: StubFacts | None = None
    #: the Image file's size in bytes (what fw_cfg hands EDK2, which copies it); 0: unknown
    image_file_size: int = 0
    #: built with CONFIG_VIRTIO_PCI=y, so the lab's module-less initramfs shows virtio devices' BARs claimed
    virtio_pci_builtin: bool = False
    #: the Debian suite ``lab setup`` fetches the package from; "" when ``lab build`` makes it
    suite: str = ""
    #: the package names ``lab setup`` takes for it in that suite: a regular expression, ``{deb}`` standing for
    #: Debian's name of the architecture
    apt_package: str = ""
    #: kernel configuration facts that move the result
    build: KernelBuild | None = None
    #: /proc/iomem device lines below RAM on qemu-virt when the build's drivers differ from Debian's (None: Debian's)
    virt_devices: tuple[str, ...] | None = None
    #: CMA's alignment when the build's page size changes it (None: the policy's)
    cma_align: int | None = None
    #: what this kernel is, when it says more than its policy's description ("" = the policy's)
    description: str = ""
    #: what real boots of this very kernel showed, for compare and report to print beside its row
    measured: str = ""
    #: where a number came from, beyond the policy's own citations
    citations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    #: the file this profile was read from ("" = built in)
    source: str = field(default="", compare=False)

    @property
    def lab_built(self) -> bool:
        return not self.suite

    def policy_row(self, base: PolicyData) -> PolicyData:
        """The policy row the model runs for this kernel: the reservation row ``base`` with this build's facts."""
        return dataclasses.replace(
            base, name=self.name, page_size=self.page_size, early=self.early, late=self.late,
            kernel_release=self.release,
            # the arm64 kexec and crash facts are keyed by generation (kexec.KERNEL_KEXEC); x86's by kernel name
            kexec_generation=self.kexec.generation if self.kexec is not None and self.arch == "arm64" else "",
            cma_align=base.cma_align if self.cma_align is None else self.cma_align,
            description=self.description or base.description,
            citations={**base.citations, **self.citations} if self.citations else base.citations)


# --- the registry --------------------------------------------------------------------------------------------

_LOADED: dict[tuple[str, str], KernelProfile] = {}  # profiles read from files during this run, by (arch, name)
_STAMP = [0]  # bumped whenever _LOADED changes, so every table view rebuilds


def _builtin() -> tuple[KernelProfile, ...]:
    from kdumplab.profiles import debian_arm64, debian_x86, lab_built  # noqa: PLC0415

    return (*debian_arm64.PROFILES, *lab_built.PROFILES, *debian_x86.PROFILES)


_BUILTIN: list[tuple[KernelProfile, ...]] = []


def _builtin_rows() -> tuple[KernelProfile, ...]:
    if not _BUILTIN:
        _BUILTIN.append(_builtin())
    return _BUILTIN[0]


def all_profiles(arch: str | None = None) -> tuple[KernelProfile, ...]:
    """Every profile (built in first, in a fixed order; then the ones read from files), of ``arch`` if given."""
    rows = (*_builtin_rows(), *_LOADED.values())
    return tuple(p for p in rows if arch is None or p.arch == arch)


_BY_NAME: dict[tuple[str, int], dict[str, KernelProfile]] = {}  # (arch, stamp) -> name -> the first profile


def get(name: str, arch: str = "arm64") -> KernelProfile | None:
    key = (arch, _STAMP[0])
    table = _BY_NAME.get(key)
    if table is None:
        if len(_BY_NAME) >= 8:  # older stamps' tables are never asked for again
            _BY_NAME.clear()
        table = _BY_NAME[key] = {}
        for p in all_profiles(arch):
            table.setdefault(p.name, p)
    return table.get(name)


def register(profile: KernelProfile) -> KernelProfile:
    """Make a profile read from a file known to every table for the rest of the run. A built-in name is refused."""
    if any(p.name == profile.name for p in _builtin_rows() if p.arch == profile.arch):
        raise KdumplabError(profile.source or profile.name, f"profile name {profile.name!r} is a built-in kernel",
                            "give the calibrated kernel a name of its own (lab calibrate --name)")
    _LOADED[(profile.arch, profile.name)] = profile
    _STAMP[0] += 1
    return profile


@contextlib.contextmanager
def registered(profile: KernelProfile) -> Iterator[KernelProfile]:
    """A profile known to every table inside the block only (calibration runs the model on a draft)."""
    key = (profile.arch, profile.name)
    before = _LOADED.get(key)
    if any(p.name == profile.name for p in _builtin_rows() if p.arch == profile.arch):
        raise KdumplabError(profile.name, f"profile name {profile.name!r} is a built-in kernel",
                            "give the calibrated kernel a name of its own (lab calibrate --name)")
    _LOADED[key] = profile
    _STAMP[0] += 1
    try:
        yield profile
    finally:
        if before is None:
            _LOADED.pop(key, None)
        else:
            _LOADED[key] = before
        _STAMP[0] += 1


class ProfileTable(Mapping[str, Any]):
    """A read-only view of one fact of every profile, keyed as the older tables were (built on first use).

    ``pick`` returns (key, value) for a profile, or None to leave it out.
    """

    def __init__(self, pick: Callable[[KernelProfile], tuple[str, Any] | None], arch: str | None = "arm64") -> None:
        self._pick = pick
        self._arch = arch
        self._stamp = -1
        self._table: dict[str, Any] = {}

    def _current(self) -> dict[str, Any]:
        if self._stamp != _STAMP[0]:
            table = {}
            for p in all_profiles(self._arch):
                kv = self._pick(p)
                if kv is not None:
                    table.setdefault(kv[0], kv[1])
            self._table, self._stamp = table, _STAMP[0]
        return self._table

    def __getitem__(self, key: str) -> Any:
        return self._current()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"ProfileTable({self._current()!r})"


# --- profile files -------------------------------------------------------------------------------------------

PROFILE_SCHEMA = 1


def is_profile_file(text: str) -> bool:
    """Does a --kernel value name a profile file rather than a generation or release string?"""
    return text.endswith(".toml") or "/" in text


def _classes(arch: str) -> dict[str, type]:
    from kdumplab.crashview import CrashKernelFacts  # noqa: PLC0415
    from kdumplab.efi import StubFacts  # noqa: PLC0415
    from kdumplab.kexec import KernelKexecFacts  # noqa: PLC0415
    from kdumplab.machine import KernelBuild, KernelImage  # noqa: PLC0415
    from kdumplab.policy import EarlyProfile, LateProfile  # noqa: PLC0415
    from kdumplab.presets.q35 import X86Image  # noqa: PLC0415

    if arch == "x86_64":
        from kdumplab.crashview_x86 import X86CrashKernelFacts  # noqa: PLC0415
        from kdumplab.kexec_x86 import X86KernelFacts  # noqa: PLC0415

        return {"image": X86Image, "early": EarlyProfile, "late": LateProfile, "kexec": X86KernelFacts,
                "crash": X86CrashKernelFacts, "build": KernelBuild}
    return {"image": KernelImage, "early": EarlyProfile, "late": LateProfile, "kexec": KernelKexecFacts,
            "crash": CrashKernelFacts, "build": KernelBuild, "efi_stub": StubFacts}


_TOP = ("name", "arch", "policy", "release", "package", "page_size", "suite", "apt_package", "cma_align",
        "description", "measured", "image_file_size", "virtio_pci_builtin")


#: keys written in hex (addresses, offsets and byte sizes); every other number is decimal
_HEX = frozenset({"load_address", "stext", "init_begin", "sdata", "end", "text_offset", "image_size", "init_pg_dir",
                  "init_pg_end", "init_size", "reserve_end", "kaslr_size", "dt_unflatten", "dt_per_extra_node",
                  "node_data", "cpumask", "cpumask_per_extra_node", "section_roots", "text_vaddr", "section_bytes",
                  "cma_align", "cma_bytes", "code", "rodata", "data", "bss", "pe_text", "pe_data"})


def _value(v: Any, hexa: bool = False) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:#x}" if hexa and v > 0 else str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, tuple | list):
        return "[" + ", ".join(_value(x, hexa) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to a profile")


def profile_to_toml(p: KernelProfile, header: tuple[str, ...] = ()) -> str:
    """The profile as TOML that :func:`profile_from_toml` reads back to an equal profile."""
    out = [f"# {line}" if line else "#" for line in header]
    out += ["[profile]", f"schema = {PROFILE_SCHEMA}"]
    out += [f"{k} = {_value(getattr(p, k), k in _HEX)}" for k in _TOP if getattr(p, k) is not None]
    if p.virt_devices is not None:
        out.append(f"virt_devices = {_value(p.virt_devices)}")
    for section in ("image", "early", "late", "kexec", "crash", "build", "efi_stub"):
        obj = getattr(p, section)
        if obj is None:
            continue
        out += ["", f"[{section}]"]
        out += [f"{f.name} = {_value(getattr(obj, f.name), f.name in _HEX)}" for f in dataclasses.fields(obj)
                if getattr(obj, f.name) is not None]  # None has no TOML form: left out, it reads back as None
    if p.citations:
        out += ["", "[citations]"] + [f"{json.dumps(k)} = {_value(v)}" for k, v in p.citations.items()]
    return "\n".join(out) + "\n"


#: Keys profile files written before a field was retired may still hold; read and ignored. The crash kernel's
#: fitted MemTotal numbers went when its MemTotal became its own boot (kdumplab.crashboot, session 5).
_RETIRED = {"CrashKernelFacts": frozenset({
    "static_kib", "section_bytes", "per_gib_kib", "fixed_kib", "bounce_when_low_only", "hash_after_reservations",
    "cma_per_node", "swiotlb_halves", "hashes_count_nomap"})}


def _build(cls: type, table: Any, where: str, base: Any = None) -> Any:
    """One section; keys it leaves out are ``base``'s (the policy's built-in kernel), so a file written before a
    field existed still means what it meant (and one written before a field was retired, ``_RETIRED``)."""
    if not isinstance(table, dict):
        raise KdumplabError(where, "is not a table")
    table = {k: v for k, v in table.items() if k not in _RETIRED.get(cls.__name__, ())}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise KdumplabError(f"{where}.{unknown[0]}", "unknown key", f"keys: {', '.join(fields)}")
    missing = [n for n, f in fields.items() if n not in table and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING and base is None]
    if missing:
        raise KdumplabError(where, f"missing {', '.join(missing)}")
    kw = {n: getattr(base, n) for n in fields if n not in table} if base is not None else \
        {n: None for n, f in fields.items() if n not in table and f.default is None}
    for name, value in table.items():
        # the annotation's text ("int | None"); a class compiled by mypyc (the opt-in build) keeps the class itself
        t = fields[name].type
        kind = t if isinstance(t, str) else getattr(t, "__name__", str(t))
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        ok = {"int": isinstance(value, int) and not isinstance(value, bool), "bool": isinstance(value, bool),
              "str": isinstance(value, str)}.get(kind.split(" ")[0], isinstance(value, tuple))
        if not ok:
            raise KdumplabError(f"{where}.{name}", f"{value!r} is not a {kind}")
        kw[name] = value
    try:
        return cls(**kw)
    except (TypeError, ValueError) as e:
        raise KdumplabError(where, str(e)) from None
    except KdumplabError as e:
        raise KdumplabError(where, e.one_line()) from None


def _reference(policy: Any, page_size: Any, arch: str) -> KernelProfile | None:
    """The built-in kernel of a policy (of the same page size if there is one): where a profile file's
    left-out crash, kexec and build facts come from."""
    same = [p for p in _builtin_rows() if p.arch == arch and p.policy == policy]
    return next((p for p in same if p.page_size == page_size), same[0] if same else None)


def profile_from_toml(text: str, where: str) -> KernelProfile:
    """A profile from its TOML text; every error names ``where`` and the table and key."""
    import tomllib  # noqa: PLC0415

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise KdumplabError(where, f"not TOML: {e}") from None
    top = doc.get("profile")
    if not isinstance(top, dict):
        raise KdumplabError(where, "no [profile] table", "a kernel profile written by kdumplab lab calibrate")
    if top.get("schema") != PROFILE_SCHEMA:
        raise KdumplabError(f"{where} [profile] schema", f"{top.get('schema')!r}, expected {PROFILE_SCHEMA}")
    unknown = sorted(set(doc) - {"profile", "image", "early", "late", "kexec", "crash", "build", "efi_stub",
                                 "citations"})
    if unknown:
        raise KdumplabError(f"{where} [{unknown[0]}]", "unknown table")
    arch = top.get("arch", "arm64")
    if arch not in ("arm64", "x86_64"):
        raise KdumplabError(f"{where} [profile] arch", f"{arch!r} is not arm64 or x86_64")
    classes = _classes(arch)
    ref = _reference(top.get("policy"), top.get("page_size"), arch)
    parts = {}
    for section, cls in classes.items():
        base = getattr(ref, section) if ref is not None and section != "image" else None
        if section in doc:
            parts[section] = _build(cls, doc[section], f"{where} [{section}]", base)
        elif section in ("image", "early"):
            raise KdumplabError(where, f"no [{section}] table")
        elif base is not None and section not in ("build", "early"):  # a file from before the section existed
            parts[section] = base
    head = {k: v for k, v in top.items() if k != "schema"}
    allowed = set(_TOP) | {"virt_devices"}
    bad = sorted(set(head) - allowed)
    if bad:
        raise KdumplabError(f"{where} [profile] {bad[0]}", "unknown key", f"keys: {', '.join(sorted(allowed))}")
    for key in ("name", "policy", "release", "package", "page_size"):
        if key not in head:
            raise KdumplabError(f"{where} [profile]", f"missing {key}")
    for key in ("name", "policy", "release", "package", "suite", "apt_package", "description", "measured"):
        if key in head and not isinstance(head[key], str):
            raise KdumplabError(f"{where} [profile] {key}", f"{head[key]!r} is not a string")
    if head["page_size"] not in (4096, 16384, 65536):
        raise KdumplabError(f"{where} [profile] page_size", f"{head['page_size']!r} is not 4096, 16384 or 65536")
    if "virt_devices" in head:
        head["virt_devices"] = tuple(head["virt_devices"])
    citations = doc.get("citations", {})
    if not all(isinstance(v, str) for v in citations.values()):
        raise KdumplabError(f"{where} [citations]", "every value is a string")
    prof = KernelProfile(**head, **parts, citations=dict(citations), source=where)
    from kdumplab.policy import reservation_rows  # noqa: PLC0415

    if prof.policy not in reservation_rows(arch):
        raise KdumplabError(f"{where} [profile] policy", f"unknown reservation policy {prof.policy!r}",
                            f"known: {', '.join(reservation_rows(arch))}")
    if not prof.name or is_profile_file(prof.name):
        raise KdumplabError(f"{where} [profile] name", f"{prof.name!r}: a short name without '/' or '.toml'")
    return prof


_CALIBRATED: dict[str, str] = {}  # file name -> text of profiles/calibrated/*.toml, read once
_CALIBRATED_PARSED: dict[str, KernelProfile] = {}


def calibrated(release: str, arch: str = "arm64") -> KernelProfile | None:
    """A Debian build the built-in profiles do not describe but ``kdumplab lab calibrate`` has read from real boots
    of its Image (``profiles/calibrated/*.toml``, each naming the Image's sha256), by its exact release string
    (``uname -r``, e.g. ``6.12.107+deb13-arm64``); None when there is none. Point releases differ in their
    Image (Kernel code/data, the kernel's PT_LOAD in /proc/vmcore): 6.12.107's is 64 KiB smaller than the
    built-in 6.12's (6.12.117). Only a file whose text names the release is parsed (parsing builds the reference
    profile: too slow for every --kernel)."""
    if not _CALIBRATED:
        from pathlib import Path  # noqa: PLC0415

        for f in (Path(__file__).parent / "calibrated").glob("*.toml"):
            _CALIBRATED[f.name] = f.read_text(encoding="utf-8")
    key = f'release = "{release.strip()}"'
    for name, text in sorted(_CALIBRATED.items()):
        if key not in text:
            continue
        if name not in _CALIBRATED_PARSED:
            _CALIBRATED_PARSED[name] = profile_from_toml(text, f"kdumplab/profiles/calibrated/{name}")
        prof = _CALIBRATED_PARSED[name]
        if prof.release == release.strip() and prof.arch == arch:
            return prof
    return None


_IMAGE_PACKAGE = re.compile(r"^(?:linux-(?:image|binary)-|vmlinuz-)(\S+?)(?:-unsigned)?(?:\s|$)")
_FULL_RELEASE = re.compile(r"^\d+\.\d+\.\d+")


def image_release(p: KernelProfile) -> str:
    """``uname -r`` of the Image a profile was measured on, read off its package (``linux-image-6.12.117+deb13-
    arm64-unsigned`` -> ``6.12.117+deb13-arm64``); "" for lab builds, whose release is their build's."""
    m = _IMAGE_PACKAGE.match(p.package)
    return m.group(1) if m and not p.lab_built else ""


def stand_in(requested: str, arch: str = "arm64") -> str | None:
    """What to tell the user when ``--kernel`` names a point release no profile describes: the model then runs the
    generation's built-in build, whose Image size sets Kernel code/data, the kexec segments and /proc/vmcore's
    kernel PT_LOAD (6.12.107's Image is 64 KiB smaller than 6.12.117's, and the vmcore with it). None when the
    release is the built-in's own, a calibrated one, a bare generation (``6.12``) or a profile file."""
    from kdumplab.policy import for_kernel  # noqa: PLC0415

    text = requested.strip()
    if not _FULL_RELEASE.match(text) or is_profile_file(text) or calibrated(text, arch) is not None:
        return None
    prof = get(for_kernel(text, arch).name, arch)
    built = image_release(prof) if prof is not None else ""
    if not built or text in (built, prof.release):
        return None
    how = "`kdumplab lab calibrate --image FILE` reads this one" if arch == "arm64" else "x86 calibration is not built"
    return (f"{text} has no calibrated profile: modelled with {built}'s Image, whose size sets Kernel code/data, "
            f"the kexec segments and /proc/vmcore's kernel segment (point releases differ: 6.12.107's is 64 KiB "
            f"smaller than 6.12.117's); {how}")


def load_file(path: str) -> KernelProfile:
    """Read a profile file (bounded, one-line errors) and register it; the same file twice is read once."""
    from pathlib import Path  # noqa: PLC0415

    from kdumplab.inputfile import read_text  # noqa: PLC0415

    where = str(path)
    for p in _LOADED.values():
        if p.source == where:
            return p
    if not Path(path).exists():
        raise KdumplabError(f"--kernel {where}", "no such profile file",
                            "a generation (6.1), a release string, or a file from kdumplab lab calibrate")
    prof = profile_from_toml(read_text(path, where=where), where)
    return register(prof)
