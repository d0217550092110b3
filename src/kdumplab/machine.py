"""The machine: RAM banks, what firmware and the boot loader already reserved, and the kernel build.

Everything here is a plain frozen value. A ``Machine`` says what exists before Linux runs (banks,
firmware ``/reserved-memory``, where the boot loader put the kernel Image, initrd and DTB, the DMA
addressing limit from DT ``dma-ranges`` / IORT). What the kernel itself allocates early (page tables, the
memmap, CMA) is not typed in: each generation's policy derives it from the machine.

Machines are loaded from TOML (:func:`load_machine`) or built by presets (``kdumplab.presets``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from kdumplab.errors import KdumplabError
from kdumplab.ranges import SZ_4K, SZ_64K, U64_MAX, PhysRange, parse_size

__all__ = ["Bank", "Reservation", "KernelImage", "KernelBuild", "Machine", "load_machine", "machine_from_dict"]


@dataclass(frozen=True, slots=True)
class Bank:
    """A RAM bank as firmware describes it (DT /memory or a UEFI memory map entry)."""

    start: int
    size: int
    node: int = 0
    nomap: bool = False
    hotplug: bool = False
    mirror: bool = False

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError(f"bank at {self.start:#x} has no size")
        if self.start + self.size > U64_MAX + 1:
            raise ValueError(f"bank at {self.start:#x} ends past 2^64")

    @property
    def range(self) -> PhysRange:
        return PhysRange(self.start, self.start + self.size)


@dataclass(frozen=True, slots=True)
class Reservation:
    """A range reserved before the crash reservation that the machine, not the kernel, decides.

    ``nomap`` ranges (DT ``no-map``, UEFI runtime regions) stay memory but are never mapped and show as
    top-level ``reserved`` in /proc/iomem; the others are ordinary memblock reservations.
    """

    name: str
    start: int
    size: int
    nomap: bool = False

    @property
    def range(self) -> PhysRange:
        return PhysRange(self.start, self.start + self.size)


@dataclass(frozen=True, slots=True)
class KernelImage:
    """Where the boot loader put the kernel and the layout of its sections (offsets from ``_text``).

    The offsets come from the kernel's System.map: /proc/iomem's ``Kernel code`` runs from ``_text``
    (or ``_stext`` in 6.1) to ``__init_begin``, ``Kernel data`` from ``_sdata`` to ``_end``.
    """

    load_address: int  # physical address of _text
    stext: int  # _stext - _text
    init_begin: int  # __init_begin - _text
    sdata: int  # _sdata - _text
    end: int  # _end - _text
    text_offset: int = 0  # from the Image header
    image_size: int = 0  # from the Image header (the kernel's memory footprint)
    init_pg_dir: int = 0  # [init_pg_dir, init_pg_end) - _text: early page tables freed by paging_init
    init_pg_end: int = 0

    @property
    def range(self) -> PhysRange:
        return PhysRange(self.load_address, self.load_address + self.end)


@dataclass(frozen=True, slots=True)
class KernelBuild:
    """The kernel configuration facts that move the result (Debian arm64 defaults)."""

    zone_dma: bool = True
    zone_dma32: bool = True
    cma_bytes: int = 64 << 20  # CONFIG_CMA_SIZE_MBYTES
    rodata_full: bool = True  # CONFIG_RODATA_FULL_DEFAULT_ENABLED
    kexec_file: bool = False  # CONFIG_KEXEC_FILE (Debian arm64: off)
    sparsemem_section_bits: int = 27


@dataclass(frozen=True, slots=True)
class Machine:
    """A machine before Linux runs."""

    name: str
    banks: tuple[Bank, ...]
    arch: str = "arm64"
    reserved: tuple[Reservation, ...] = ()
    kernel: KernelImage | None = None
    initrd: PhysRange | None = None
    dtb: PhysRange | None = None
    #: highest CPU address a DMA master can reach (DT dma-ranges / IORT), None when nothing limits it
    dma_address_limit: int | None = None
    page_size: int = SZ_4K
    build: KernelBuild = KernelBuild()
    #: device / MMIO lines of /proc/iomem that are not RAM (kept as text; they do not move the model)
    iomem_devices: tuple[str, ...] = ()
    source: str = ""
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.banks:
            raise KdumplabError(self.name, "machine has no RAM banks")
        if self.arch not in ("arm64", "x86_64"):
            raise KdumplabError(self.name, f"unknown arch {self.arch!r}", "use arm64 or x86_64")
        if self.page_size not in (SZ_4K, 16 * 1024, SZ_64K):
            raise KdumplabError(self.name, f"page size {self.page_size} is not 4K, 16K or 64K")
        ordered = sorted(self.banks, key=lambda b: b.start)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if a.start + a.size > b.start:
                raise KdumplabError(self.name, f"banks overlap: {a.range} and {b.range}")

    @property
    def ram_size(self) -> int:
        return sum(b.size for b in self.banks)

    @property
    def ram_end(self) -> int:
        return max(b.start + b.size for b in self.banks)

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(sorted({b.node for b in self.banks}))


# -- TOML ------------------------------------------------------------------------------------------

_BANK_KEYS = {"start", "size", "node", "nomap", "hotplug", "mirror"}
_RES_KEYS = {"name", "start", "size", "nomap"}
_TOP_KEYS = {"name", "arch", "bank", "reserved", "kernel", "initrd", "dtb", "dma_address_limit", "page_size",
             "build", "iomem_devices", "source", "notes"}
_KERNEL_KEYS = {"load_address", "stext", "init_begin", "sdata", "end", "text_offset", "image_size", "init_pg_dir",
                "init_pg_end"}
_BUILD_KEYS = {"zone_dma", "zone_dma32", "cma_bytes", "rodata_full", "kexec_file", "sparsemem_section_bits"}


def _num(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise KdumplabError(where, f"expected a number, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= U64_MAX:
            raise KdumplabError(where, f"{value} is outside 0 .. 2^64-1")
        return value
    if isinstance(value, str):
        return parse_size(value, where)
    raise KdumplabError(where, f"expected a number or a size string, got {value!r}")


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise KdumplabError(where, f"expected true or false, got {value!r}")
    return value


def _check_keys(table: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise KdumplabError(where, "expected a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise KdumplabError(where, f"unknown key {unknown[0]!r}", f"known keys: {', '.join(sorted(allowed))}")
    return table


def _range(table: Any, where: str) -> PhysRange:
    t = _check_keys(table, {"start", "size"}, where)
    start, size = _num(t.get("start"), f"{where}.start"), _num(t.get("size"), f"{where}.size")
    return PhysRange(start, start + size)


def machine_from_dict(data: dict[str, Any], where: str = "machine") -> Machine:
    """Build a Machine from parsed TOML; every mistake names its key."""
    data = _check_keys(data, _TOP_KEYS, where)
    name = str(data.get("name", where))
    banks_raw = data.get("bank")
    if not isinstance(banks_raw, list) or not banks_raw:
        raise KdumplabError(where, "no [[bank]] tables", "describe RAM as [[bank]] start = ..., size = ...")
    banks = []
    for i, b in enumerate(banks_raw):
        w = f"{where}: bank[{i}]"
        t = _check_keys(b, _BANK_KEYS, w)
        if "start" not in t or "size" not in t:
            raise KdumplabError(w, "needs start and size")
        try:
            banks.append(Bank(_num(t["start"], f"{w}.start"), _num(t["size"], f"{w}.size"),
                              int(t.get("node", 0)), _flag(t.get("nomap", False), f"{w}.nomap"),
                              _flag(t.get("hotplug", False), f"{w}.hotplug"),
                              _flag(t.get("mirror", False), f"{w}.mirror")))
        except ValueError as err:
            raise KdumplabError(w, str(err)) from None
    reserved = []
    for i, r in enumerate(data.get("reserved", [])):
        w = f"{where}: reserved[{i}]"
        t = _check_keys(r, _RES_KEYS, w)
        reserved.append(Reservation(str(t.get("name", "reserved")), _num(t.get("start"), f"{w}.start"),
                                    _num(t.get("size"), f"{w}.size"), _flag(t.get("nomap", False), f"{w}.nomap")))
    kernel = None
    if "kernel" in data:
        t = _check_keys(data["kernel"], _KERNEL_KEYS, f"{where}: kernel")
        kernel = KernelImage(**{k: _num(v, f"{where}: kernel.{k}") for k, v in t.items()})
    build = KernelBuild()
    if "build" in data:
        t = _check_keys(data["build"], _BUILD_KEYS, f"{where}: build")
        kw: dict[str, Any] = {}
        for k, v in t.items():
            kw[k] = _num(v, f"{where}: build.{k}") if k in ("cma_bytes", "sparsemem_section_bits") \
                else _flag(v, f"{where}: build.{k}")
        build = KernelBuild(**kw)
    limit = data.get("dma_address_limit")
    try:
        return Machine(
            name=name, banks=tuple(banks), arch=str(data.get("arch", "arm64")), reserved=tuple(reserved),
            kernel=kernel,
            initrd=_range(data["initrd"], f"{where}: initrd") if "initrd" in data else None,
            dtb=_range(data["dtb"], f"{where}: dtb") if "dtb" in data else None,
            dma_address_limit=None if limit is None else _num(limit, f"{where}: dma_address_limit"),
            page_size=_num(data.get("page_size", SZ_4K), f"{where}: page_size"), build=build,
            iomem_devices=tuple(str(x) for x in data.get("iomem_devices", ())),
            source=str(data.get("source", "")), notes=tuple(str(x) for x in data.get("notes", ())),
        )
    except (ValueError, TypeError) as err:
        raise KdumplabError(where, str(err)) from None


def load_machine(text: str, where: str = "machine.toml") -> Machine:
    """Parse a machine description from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise KdumplabError(where, f"not valid TOML: {err}") from None
    return machine_from_dict(data, where)
