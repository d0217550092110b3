"""The machine: RAM banks, what firmware and the boot loader already reserved, and the kernel build.

Everything here is a plain frozen value. A ``Machine`` says what exists before Linux runs (banks,
firmware ``/reserved-memory``, where the boot loader put the kernel Image, initrd and DTB, the DMA
addressing limit from DT ``dma-ranges`` / IORT). What the kernel itself allocates early (page tables, the
memmap, CMA) is not typed in: each generation's policy derives it from the machine.

Machines are loaded from TOML (:func:`load_machine`) or built by presets (``kdumplab.presets``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from kdumplab.errors import KdumplabError
from kdumplab.firmware_fdt import QemuDtb
from kdumplab.ranges import SZ_4K, SZ_64K, U64_MAX, PhysRange, iec_hex, joined, parse_count, parse_memory

__all__ = ["Bank", "Reservation", "KernelImage", "KernelBuild", "Machine", "Key", "KEYS", "TABLES", "PHYS_BITS",
           "load_machine", "machine_from_dict", "read_machine_file", "machine_to_toml", "schema_markdown"]


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
            raise KdumplabError(f"bank at {self.start:#x}", "has no size")
        if self.start + self.size > U64_MAX + 1:
            raise KdumplabError(f"bank at {self.start:#x}", "ends past 2^64")
        if not 0 <= self.node < MAX_NUMNODES:
            raise KdumplabError(f"bank at {self.start:#x}", f"node {self.node} is outside 0 .. {MAX_NUMNODES - 1}",
                                "the kernel's NODES_SHIFT is at most 10")

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
    #: x86 bzImage header init_size: the memory the decompressor works in from its output address (KASLR)
    init_size: int = 0
    #: /proc/iomem's kernel resources, when the architecture shows more than Kernel code/data (x86: code,
    #: rodata, data, bss): "START-END NAME", offsets from _text in hex, END exclusive
    sections: tuple[str, ...] = ()
    #: x86: the memory the kernel's random place is drawn from, "START-END" in hex (END exclusive); empty: the
    #: RAM, cut around the decompressor's own range and the initrd (the decompressor's e820 walk). Under UEFI:
    #: EFI conventional memory (the EFI stub's efi_random_alloc, or the decompressor's EFI walk)
    placement: tuple[str, ...] = ()
    #: x86: the lowest address of that draw; 0: min(load_address, 512 MiB) (the decompressor's rule)
    placement_minimum: int = 0

    def placement_ranges(self) -> tuple[tuple[int, int], ...]:
        """``placement`` read as (start, end) pairs; a malformed entry is one clear error."""
        out = []
        for text in self.placement:
            lo, _, hi = text.partition("-")
            try:
                out.append((int(lo, 16), int(hi, 16)))
            except ValueError:
                raise KdumplabError("kernel.placement", f"{text!r} is not START-END in hex") from None
        return tuple(out)

    def section_ranges(self) -> tuple[tuple[str, int, int], ...]:
        """``sections`` read as (name, start offset, end offset); a malformed entry is one clear error."""
        out = []
        for text in self.sections:
            span, _, name = text.partition(" ")
            lo, _, hi = span.partition("-")
            try:
                out.append((name.strip(), int(lo, 16), int(hi, 16)))
            except ValueError:
                raise KdumplabError("kernel.sections", f"{text!r} is not 'START-END NAME' (hex offsets)") from None
        return tuple(out)

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
    #: properties the device tree has beyond the board's own (the lab's -dtb adds ``dma-ranges``); each is
    #: one more ``struct property`` in the unflattened tree (kdumplab.early)
    dt_extra_properties: int = 0
    #: memory nodes the device tree describes beyond those memblock ends up with, the last RAM banks (QEMU
    #: -numa under EDK2 with acpi=off: the kernel fakes one node but unflattens every memory node)
    dt_extra_nodes: int = 0
    #: the ``-dtb`` file QEMU loads (None: QEMU's built-in tree, or not QEMU): what the kernel's
    #: /sys/firmware/fdt, and so the crash kernel's DTB, is made from (kdumplab.firmware_fdt)
    qemu_dtb: QemuDtb | None = None
    #: CPUs the kernel brings up (QEMU -smp): one per-CPU unit each in the first chunk, and at a panic each
    #: saves its registers as one crash note that /proc/vmcore's note segment carries (crashview)
    cpus: int = 1
    build: KernelBuild = KernelBuild()
    #: device / MMIO lines of /proc/iomem that are not RAM (kept as text; they do not move the model)
    iomem_devices: tuple[str, ...] = ()
    #: how the kernel was started: ``dt`` (a boot loader hands over a device tree), ``uefi`` (the EFI stub, the
    #: memory map from UEFI, ACPI or a DT), ``bios`` (x86 legacy boot)
    firmware: str = "dt"
    #: the kernel describes the machine from ACPI tables (UEFI servers, QEMU virt under EDK2): arm64 setup_arch
    #: then unflattens no device tree (``if (acpi_disabled) unflatten_device_tree()``)
    acpi: bool = False
    #: the UEFI firmware offers EFI_RNG_PROTOCOL (QEMU: a virtio-rng device): the arm64 EFI stub then draws
    #: the kernel's physical place at random from ``kernel.placement`` (libstub/randomalloc.c)
    efi_rng: bool = False
    source: str = ""
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.banks:
            raise KdumplabError(self.name, "machine has no RAM banks")
        if self.arch not in ("arm64", "x86_64"):
            raise KdumplabError(self.name, f"unknown arch {self.arch!r}", "use arm64 or x86_64")
        if self.firmware not in ("dt", "uefi", "bios"):
            raise KdumplabError(self.name, f"unknown firmware {self.firmware!r}", "use dt, uefi or bios")
        if self.page_size not in (SZ_4K, 16 * 1024, SZ_64K):
            raise KdumplabError(self.name, f"page size {self.page_size} is not 4K, 16K or 64K")
        if not 1 <= self.cpus <= 4096:  # NR_CPUS of Debian's arm64 builds is 4096 at most
            raise KdumplabError(self.name, f"{self.cpus} CPUs: a kernel brings up 1 to 4096")
        top = 1 << PHYS_BITS[self.arch]
        if self.ram_end > top:
            raise KdumplabError(self.name, f"RAM ends at {self.ram_end:#x}, past the {PHYS_BITS[self.arch]}-bit "
                                f"physical address space of {self.arch} ({iec_hex(top)})",
                                "describe at most what the kernel can address")
        if len(self.banks) > 1:
            ordered = sorted(self.banks, key=lambda b: b.start)
            for a, b in zip(ordered, ordered[1:], strict=False):
                if a.start + a.size > b.start:
                    raise KdumplabError(self.name, f"banks overlap: {a.range} and {b.range}")

    @property
    def ram_size(self) -> int:
        return sum(b.size for b in self.banks)

    @property
    def ram_end(self) -> int:
        if not self.banks:
            raise ValueError("max() arg is an empty sequence")  # as max() of no banks said
        end = 0
        for b in self.banks:  # a loop, not max() of a generator: every machine built asks
            if b.start + b.size > end:
                end = b.start + b.size
        return end

    def ram_ranges(self) -> tuple[tuple[int, int], ...]:
        """The banks joined where they touch, as [start, end): the firmware's RAM entries before NUMA split
        them into nodes (x86: the e820 entries /proc/iomem and the KASLR decompressor see)."""
        out: list[tuple[int, int]] = []
        for b in sorted(self.banks, key=lambda b: b.start):
            if out and out[-1][1] == b.start:
                out[-1] = (out[-1][0], b.start + b.size)
            else:
                out.append((b.start, b.start + b.size))
        return tuple(out)

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(sorted({b.node for b in self.banks}))


def memory_from_iomem(ram: list[tuple[int, int]], reserved: list[tuple[int, int]],
                      arch: str) -> tuple[tuple[Bank, ...], tuple[Reservation, ...]]:
    """Banks and no-map reservations from /proc/iomem's top-level System RAM and "reserved" ranges (end exclusive).

    On arm64 a top-level "reserved" line touching System RAM is no-map memory (UEFI runtime, DT no-map):
    memblock keeps it as memory but never maps it, so it joins its neighbours' bank and is marked no-map.
    """
    nomap = [(s, t) for s, t in reserved if arch == "arm64" and any(e == s or b == t for b, e in ram)]
    return (tuple(Bank(s, t - s) for s, t in joined(ram + nomap)),
            tuple(Reservation("no-map (from /proc/iomem)", s, t - s, nomap=True) for s, t in nomap))


# -- the description: one table of keys drives the TOML loader, its checks, the writer and docs/machine.md --

#: The highest physical address bit each architecture's Debian kernel can map: arm64 4K pages use
#: CONFIG_ARM64_PA_BITS=48 (arch/arm64/Kconfig, ARM64_PA_BITS_48), x86_64 5-level paging 52
#: (arch/x86/include/asm/sparsemem.h, MAX_PHYSMEM_BITS). A bank beyond it is refused, not modelled.
PHYS_BITS = {"arm64": 48, "x86_64": 52}
#: MAX_NUMNODES: NODES_SHIFT is at most 10 on arm64 and x86_64 (arch/*/Kconfig, "range 1 10").
MAX_NUMNODES = 1 << 10


@dataclass(frozen=True, slots=True)
class Key:
    """One key of the machine TOML. ``kind`` says how its value is read and written:

    ``size`` a memory size (an integer of bytes, or a string with a unit: "8G", "512MiB"), ``address`` an
    integer (write it in hex), ``offset`` an integer byte offset, ``count`` a small integer, ``bool``,
    ``text``, ``texts`` (a list of strings), ``choice`` (one of ``choices``).
    """

    table: str  # "" for the top level, else the table's name
    name: str
    kind: str
    doc: str
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    """A TOML table of the description: ``many`` for an array of tables (``[[bank]]``)."""

    name: str
    many: bool
    doc: str


TABLES = (
    Table("bank", True, "A RAM bank as firmware describes it (a DT /memory reg entry, a UEFI memory map range, "
          "an ACPI SRAT memory affinity)."),
    Table("reserved", True, "A range firmware or the boot loader reserved before Linux (DT /reserved-memory, "
          "/memreserve/, UEFI runtime regions)."),
    Table("kernel", False, "Where the boot loader put the kernel Image and its section layout (offsets from "
          "_text, from System.map); omitted: the Debian 6.1 image as QEMU loads it."),
    Table("initrd", False, "Where the boot loader put the initrd."),
    Table("dtb", False, "Where the boot loader put the device tree blob."),
    Table("build", False, "Kernel configuration facts that move the result (defaults: Debian arm64)."),
)

KEYS: tuple[Key, ...] = (
    Key("", "name", "text", "What the machine is (shown in every report)."),
    Key("", "arch", "choice", "The CPU architecture.", choices=("arm64", "x86_64")),
    Key("", "page_size", "size", "The kernel's page size: 4K, 16K or 64K."),
    Key("", "firmware", "choice", "How the kernel is started: `dt` (a boot loader hands over a device tree), "
        "`uefi` (the EFI stub; memory from the UEFI memory map, ACPI or DT), `bios` (x86 legacy).",
        choices=("dt", "uefi", "bios")),
    Key("", "acpi", "bool", "The kernel reads the machine from ACPI tables, not a device tree (UEFI servers): "
        "no unflattened DT among its early allocations."),
    Key("", "efi_rng", "bool", "arm64 under UEFI: the firmware offers EFI_RNG_PROTOCOL, so the EFI stub puts the "
        "kernel at a random 64 KiB-aligned place of [kernel] placement (EFI conventional memory)."),
    Key("", "dma_address_limit", "address", "The highest CPU address a DMA master reaches (DT dma-ranges, IORT); "
        "omitted: nothing limits it below 4 GiB."),
    Key("", "dt_extra_properties", "count", "Device-tree properties beyond the board's own (the lab's -dtb adds "
        "`dma-ranges`): each is one more struct property in the unflattened tree."),
    Key("", "cpus", "count", "CPUs the kernel brings up (1 when omitted): each takes a per-CPU unit and, at a "
        "panic, adds one crash note to /proc/vmcore."),
    Key("", "dt_extra_nodes", "count", "Memory nodes the device tree describes beyond those the kernel uses (it "
        "faked one NUMA node): the last RAM banks, each still unflattened."),
    Key("", "source", "text", "Where the numbers come from (a boot log, a dump), for the reader."),
    Key("", "notes", "texts", "What the source does not show and how it was decided."),
    Key("", "iomem_devices", "texts", "Non-RAM lines of /proc/iomem, verbatim (kept as text)."),
    Key("bank", "start", "address", "First byte of the bank.", required=True),
    Key("bank", "size", "size", "Its size.", required=True),
    Key("bank", "node", "count", "NUMA node (0 when omitted)."),
    Key("bank", "nomap", "bool", "MEMBLOCK_NOMAP: memory never mapped (UEFI runtime, DT no-map)."),
    Key("bank", "hotplug", "bool", "MEMBLOCK_HOTPLUG (hot-pluggable, SRAT)."),
    Key("bank", "mirror", "bool", "MEMBLOCK_MIRROR (address-range mirrored)."),
    Key("reserved", "name", "text", "A label for reports."),
    Key("reserved", "start", "address", "First byte.", required=True),
    Key("reserved", "size", "size", "Its size.", required=True),
    Key("reserved", "nomap", "bool", "Removed from the linear map (no-map); shown as a top-level `reserved`."),
    Key("kernel", "load_address", "address", "Physical address of _text.", required=True),
    Key("kernel", "stext", "offset", "_stext - _text.", required=True),
    Key("kernel", "init_begin", "offset", "__init_begin - _text.", required=True),
    Key("kernel", "sdata", "offset", "_sdata - _text.", required=True),
    Key("kernel", "end", "offset", "_end - _text.", required=True),
    Key("kernel", "text_offset", "offset", "text_offset from the Image header."),
    Key("kernel", "image_size", "offset", "image_size from the Image header."),
    Key("kernel", "init_pg_dir", "offset", "init_pg_dir - _text (early page tables freed by paging_init)."),
    Key("kernel", "init_pg_end", "offset", "init_pg_end - _text."),
    Key("kernel", "init_size", "offset", "x86: init_size from the bzImage header (physical KASLR avoids [load_address, "
        "load_address + init_size)); image_size is then the decompressor's needed_size."),
    Key("kernel", "sections", "texts", "x86: the kernel's /proc/iomem resources, \"START-END NAME\" (hex offsets "
        "from _text, END exclusive), e.g. \"0-e01d32 Kernel code\"."),
    Key("kernel", "placement", "texts", "x86: where the kernel's random place is drawn from, \"START-END\" in hex "
        "(END exclusive); omitted: the RAM (the decompressor's e820 walk). Under UEFI: EFI conventional memory."),
    Key("kernel", "placement_minimum", "address", "x86: the lowest address of that draw; omitted: min(load_address, "
        "512 MiB)."),
    Key("initrd", "start", "address", "First byte.", required=True),
    Key("initrd", "size", "offset", "Its size in bytes.", required=True),
    Key("dtb", "start", "address", "First byte.", required=True),
    Key("dtb", "size", "offset", "Its size in bytes.", required=True),
    Key("build", "zone_dma", "bool", "CONFIG_ZONE_DMA."),
    Key("build", "zone_dma32", "bool", "CONFIG_ZONE_DMA32."),
    Key("build", "cma_bytes", "size", "CONFIG_CMA_SIZE_MBYTES as bytes (0: no default CMA area)."),
    Key("build", "rodata_full", "bool", "CONFIG_RODATA_FULL_DEFAULT_ENABLED."),
    Key("build", "kexec_file", "bool", "CONFIG_KEXEC_FILE."),
    Key("build", "sparsemem_section_bits", "count", "SECTION_SIZE_BITS (27 on arm64 4K since 5.12; 30 before)."),
)

_MAX_TEXT = 64 * 1024
_MAX_ITEMS = 4096


def _keys(table: str) -> dict[str, Key]:
    return {k.name: k for k in KEYS if k.table == table}


def _value(key: Key, value: Any, where: str) -> Any:
    """One TOML value read as its key's kind; every refusal names the key."""
    kind = key.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise KdumplabError(where, f"expected true or false, got {_show(value)}")
        return value
    if kind in ("text", "choice"):
        if not isinstance(value, str) or len(value) > _MAX_TEXT:
            raise KdumplabError(where, f"expected a string, got {_show(value)}")
        if kind == "choice" and value not in key.choices:
            raise KdumplabError(where, f"unknown {key.name} {value!r}", f"use {' or '.join(key.choices)}")
        return value
    if kind == "texts":
        if not isinstance(value, list) or len(value) > _MAX_ITEMS or not all(isinstance(x, str) for x in value):
            raise KdumplabError(where, f"expected a list of strings, got {_show(value)}")
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise KdumplabError(where, f"expected a number, got {_show(value)}")
    if isinstance(value, str):
        if kind == "size":
            return parse_memory(value, where)
        try:
            return parse_count(value, where)
        except KdumplabError:
            raise KdumplabError(where, f"not an integer: {_show(value)}",
                                "addresses and byte counts are integers, e.g. 0x40000000") from None
    if not 0 <= value <= U64_MAX:
        raise KdumplabError(where, f"{_show(value)} is outside 0 .. 2^64-1")
    if kind == "count" and value > 1 << 16:
        raise KdumplabError(where, f"{value} is too large for a {key.name}")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:30] + "..."


def _table(raw: Any, table: str, where: str) -> dict[str, Any]:
    """A TOML table read through the key list: unknown keys refused, required keys present."""
    if not isinstance(raw, dict):
        raise KdumplabError(where, "expected a table")
    keys = _keys(table)
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise KdumplabError(f"{where}.{unknown[0]}", "unknown key", f"known keys: {', '.join(keys)}")
    missing = [k.name for k in keys.values() if k.required and k.name not in raw]
    if missing:
        raise KdumplabError(where, f"needs {' and '.join(missing)}",
                            f"[{table}] keys: {', '.join(keys)}; see docs/machine.md")
    return {name: _value(keys[name], v, f"{where}.{name}") for name, v in raw.items()}


def _span(kw: dict[str, Any]) -> PhysRange:
    return PhysRange(kw["start"], kw["start"] + kw["size"])


_MAKE: dict[str, Any] = {
    "bank": lambda kw: Bank(**kw), "reserved": lambda kw: Reservation(**kw), "kernel": lambda kw: KernelImage(**kw),
    "initrd": _span, "dtb": _span, "build": lambda kw: KernelBuild(**kw),
}


def machine_from_dict(data: dict[str, Any], where: str = "machine") -> Machine:
    """Build a Machine from parsed TOML; every mistake names the file and the key (``m.toml: bank[1].size``)."""
    top = {k: v for k, v in data.items() if k not in {t.name for t in TABLES}}
    kw: dict[str, Any] = _table(top, "", where) if top else {}
    if where.endswith(".toml") or "/" in where:
        kw.setdefault("name", where.rsplit("/", 1)[-1].removesuffix(".toml"))
    else:
        kw.setdefault("name", where)
    for t in TABLES:
        if t.name not in data:
            continue
        raw = data[t.name]
        if t.many:
            if not isinstance(raw, list) or len(raw) > _MAX_ITEMS:
                raise KdumplabError(f"{where}: {t.name}", f"expected [[{t.name}]] tables (at most {_MAX_ITEMS})")
            items = []
            for i, item in enumerate(raw):
                w = f"{where}: {t.name}[{i}]"
                items.append(_make(_MAKE[t.name], _table(item, t.name, w), w))
            kw[t.name if t.name != "bank" else "banks"] = tuple(items)
        else:
            kw[t.name] = _make(_MAKE[t.name], _table(raw, t.name, f"{where}: {t.name}"), f"{where}: {t.name}")
    if not kw.get("banks"):
        raise KdumplabError(where, "no [[bank]] tables", "describe RAM as [[bank]] start = ..., size = ...")
    return _make(lambda k: Machine(**k), kw, where)


def _make(factory: Any, kw: dict[str, Any], where: str) -> Any:
    """``factory(kw)``, its refusal re-said at ``where`` (the file and key), never as a traceback."""
    try:
        return factory(kw)
    except KdumplabError as err:
        raise KdumplabError(where, err.what, err.hint) from None
    except (ValueError, TypeError) as err:
        raise KdumplabError(where, str(err)) from None


def load_machine(text: str, where: str = "machine.toml") -> Machine:
    """Parse a machine description from TOML text; a syntax error names ``file:line``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        m = re.search(r"\(at line (\d+), column \d+\)$", msg)
        place = f"{where}:{m.group(1)}" if m else where
        raise KdumplabError(place, f"not valid TOML: {msg[:m.start()].strip() if m else msg}") from None
    except RecursionError:
        raise KdumplabError(where, "not valid TOML: nested too deeply") from None
    except ValueError as err:  # tomllib's int() of a number longer than Python's 4300-digit limit
        raise KdumplabError(where, f"not valid TOML: {str(err)[:60]}") from None
    try:
        return machine_from_dict(data, where)
    except KdumplabError as err:
        path = err.where[len(where):].lstrip(":. ") if err.where.startswith(where) else ""
        if not path:
            raise
        line = _line_of(text, path)
        raise KdumplabError(f"{where}:{line}" if line else where, f"{path}: {err.what}", err.hint) from None


def _line_of(text: str, path: str) -> int | None:
    """The line of ``bank[1].size`` (or ``kernel``, ``arch``) in the TOML text: the key's line inside the
    path's table, else the table's header."""
    m = re.fullmatch(r"(?:(\w+)(?:\[(\d+)\])?\.)?(\w+)|(\w+)(?:\[(\d+)\])?", path)
    if not m:
        return None
    if m.group(3) and not m.group(1) and any(t.name == m.group(3) for t in TABLES):
        table, index, key = m.group(3), 0, None
    elif m.group(4):
        table, index, key = m.group(4), int(m.group(5) or 0), None
    elif m.group(1):
        table, index, key = m.group(1), int(m.group(2) or 0), m.group(3)
    else:
        table, index, key = "", 0, m.group(3)
    section, header = "", None
    seen: dict[str, int] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        h = re.fullmatch(r"\[\[?\s*(\w+)\s*\]\]?", line)
        if h:
            section = h.group(1)
            seen[section] = seen.get(section, -1) + 1
            if section == table and seen[section] == index:
                header = n
                if key is None:
                    return n
            continue
        if key and section == table and seen.get(table, 0) == index and re.match(rf"{key}\s*=", line):
            return n
    return header


def read_machine_file(path: str) -> Machine:
    """A machine TOML file: a regular file of at most 1 MiB, UTF-8; errors name the file (and line)."""
    from kdumplab.inputfile import read_bytes  # noqa: PLC0415

    try:
        data = read_bytes(path, _MAX_FILE)
    except FileNotFoundError:
        raise KdumplabError(path, "cannot read: No such file or directory") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise KdumplabError(f"{path}:{line}", f"not UTF-8 (byte {data[err.start]:#04x})",
                            "TOML files are UTF-8") from None
    return load_machine(text, path)


_MAX_FILE = 1 << 20


def _toml_value(key: Key, value: Any) -> str:
    if key.kind == "bool":
        return "true" if value else "false"
    if key.kind in ("text", "choice"):
        return json.dumps(value, ensure_ascii=False)
    if key.kind == "texts":
        return "[" + "".join(f"\n    {json.dumps(v, ensure_ascii=False)}," for v in value) + ("\n]" if value else "]")
    if key.kind == "count":
        return str(value)
    return f"{value:#x}"


def _fields(table: str, obj: Any) -> dict[str, Any]:
    if table in ("initrd", "dtb"):
        return {"start": obj.start, "size": obj.size}
    if table == "":
        vals = {k: getattr(obj, k) for k in _keys("")}
        return vals
    return {k: getattr(obj, k) for k in _keys(table)}


def _defaults(table: str) -> dict[str, Any]:
    cls = {"": Machine, "bank": Bank, "reserved": Reservation, "kernel": KernelImage, "build": KernelBuild}.get(table)
    if cls is None:
        return {}
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def _lines(table: str, obj: Any) -> list[str]:
    keys, defaults = _keys(table), _defaults(table)
    out = []
    for name, value in _fields(table, obj).items():
        if not keys[name].required and name in defaults and defaults[name] == value:
            continue
        out.append(f"{name} = {_toml_value(keys[name], value)}")
    return out


def machine_to_toml(machine: Machine) -> str:
    """The description as TOML that :func:`load_machine` reads back to an equal Machine."""
    out = ["# kdumplab machine description (docs/machine.md)"] + _lines("", machine)
    for t in TABLES:
        attr = "banks" if t.name == "bank" else t.name
        value = getattr(machine, attr)
        if value is None or (t.name == "build" and value == KernelBuild()):
            continue
        for item in value if t.many else (value,):
            out += ["", f"[[{t.name}]]" if t.many else f"[{t.name}]"] + _lines(t.name, item)
    return "\n".join(out) + "\n"


_KIND_DOC = {
    "size": "size: bytes, or a string with a unit (`\"8G\"`, `\"512MiB\"`)",
    "address": "address: integer (hex: `0x40000000`)",
    "offset": "integer, bytes",
    "count": "integer",
    "bool": "`true` / `false`",
    "text": "string",
    "texts": "list of strings",
    "choice": "one of",
}


def schema_markdown() -> str:
    """The key reference of docs/machine.md, generated from :data:`KEYS` (a test keeps the doc equal)."""
    out = ["| table | key | type | required | what |", "|---|---|---|---|---|"]
    for k in KEYS:
        table = "(top level)" if not k.table else next(
            f"`[[{t.name}]]`" if t.many else f"`[{t.name}]`" for t in TABLES if t.name == k.table)
        kind = _KIND_DOC[k.kind] + (" " + ", ".join(f"`{c}`" for c in k.choices) if k.choices else "")
        out.append(f"| {table} | `{k.name}` | {kind} | {'yes' if k.required else ''} | {k.doc} |")
    out.append("")
    out += [f"- `{'[[' + t.name + ']]' if t.many else '[' + t.name + ']'}`: {t.doc}" for t in TABLES]
    return "\n".join(out) + "\n"
