"""The flattened device tree the running kernel was handed (its /sys/firmware/fdt), counted as the boot chain
amends QEMU's ``-dtb`` file: QEMU's loader, then (under UEFI with ``acpi=off``) EDK2 and the arm64 EFI stub.

kexec-tools starts the crash kernel's DTB from that tree and packs it (``artifacts.crash_dtb_size``), so only
three things of it move the crash kernel's DTB: its packed size, the lengths of the /chosen properties and the
strings block (libfdt adds a property name only when ``name\\0`` is not already in it). ``FdtShape`` holds
exactly those; each stage below is a pure function from one shape to the next, written from the sources and
checked against real trees (QEMU 7.2's own ``-machine dumpdtb`` before and after loading a ``-dtb`` file, and
the first kernel's /sys/firmware/fdt of the recorded cycles, tests/data/cycles-uefi/*-dma1G-*).

libfdt's rules used throughout (scripts/dtc/libfdt/fdt_rw.c, the same in QEMU 7.2, EDK2 2022.11 and the
kernels' stubs): a new property is a 12-byte header plus its value padded to 4 bytes; setting an existing one
resizes it in place; a deleted node or property becomes FDT_NOP tokens of the same size (``fdt_nop_node``,
``fdt_nop_property``), which ``fdt_pack`` keeps; ``fdt_open_into`` and ``fdt_pack`` lay the header (40 bytes),
the reservation map, the structure and the strings end to end.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from kdumplab.errors import KdumplabError

__all__ = ["FdtShape", "QemuDtb", "shape_of", "with_property", "qemu_dtb_file_size", "qemu_cpu_bytes", "qemu_loaded",
           "edk2_handed", "efi_stub_amended", "as_the_kernel_keeps_it", "QEMU_PSCI_NODE", "EDK2_DISABLED_NODES"]

_HEADER = 40
_BEGIN_NODE, _END_NODE, _PROP, _NOP, _END = 1, 2, 3, 4, 9


def _pad(n: int) -> int:
    return (n + 3) & ~3


@dataclass(frozen=True, slots=True)
class FdtShape:
    """What of a flattened tree moves the DTB kexec-tools builds from it.

    ``size``: packed (header, reservation map with its terminator, structure including FDT_NOP tokens,
    strings); ``chosen``: /chosen's properties as (name, value length), None when there is no /chosen;
    ``strings``: the strings block (a tree counted rather than read keeps the names that matter, each with
    its NUL); ``address_cells``/``size_cells``: the root's."""

    size: int
    chosen: tuple[tuple[str, int], ...] | None
    strings: bytes
    address_cells: int = 2
    size_cells: int = 2

    def chosen_length(self, name: str) -> int | None:
        return dict(self.chosen or ()).get(name)


def with_property(shape: FdtShape, name: str, length: int, in_chosen: bool = True) -> FdtShape:
    """``fdt_setprop`` of ``name`` with a ``length``-byte value: in /chosen (created, 16 bytes with its end
    tag, when missing), or, with ``in_chosen=False``, in some other node that lacks it."""
    size, chosen, strings = shape.size, shape.chosen, shape.strings
    if in_chosen and chosen is None:
        size, chosen = size + 16, ()  # BEGIN_NODE, "chosen\0" padded to 8, END_NODE
    old = dict(chosen or ()).get(name) if in_chosen else None
    if old is not None:
        size += _pad(length) - _pad(old)
    else:
        size += 12 + _pad(length)
        key = name.encode() + b"\0"
        if key not in strings:  # fdt_find_string_: any ``name\0`` inside the block will do
            strings += key
            size += len(key)
    if in_chosen:
        chosen = tuple((n, length if n == name else v) for n, v in chosen or ()) + (
            ((name, length),) if old is None else ())
    return replace(shape, size=size, chosen=chosen, strings=strings)


def shape_of(blob: bytes, where: str = "dtb") -> FdtShape:
    """The shape of a real flattened tree (a /sys/firmware/fdt, a dumpdtb file); a damaged one is a one-line
    KdumplabError naming ``where``."""
    try:
        return _shape_of(blob, where)
    except (ValueError, struct.error, UnicodeDecodeError) as err:
        raise KdumplabError(where, f"truncated device tree ({err})") from None


def _shape_of(blob: bytes, where: str) -> FdtShape:
    if len(blob) < _HEADER or struct.unpack_from(">I", blob, 0)[0] != 0xD00DFEED:
        raise KdumplabError(where, "not a flattened device tree (bad magic or too short)")
    _, off_struct, off_strings, off_rsv, version = struct.unpack_from(">5I", blob, 4)
    size_strings, size_struct = struct.unpack_from(">2I", blob, 32)
    if version < 17 or off_struct + size_struct > len(blob) or off_strings + size_strings > len(blob):
        raise KdumplabError(where, f"unsupported or truncated tree (version {version}, {len(blob)} bytes)")
    strings = blob[off_strings:off_strings + size_strings]
    rsv = off_rsv
    while True:  # 16-byte entries up to an all-zero one
        if rsv + 16 > len(blob):
            raise KdumplabError(where, "memory reservation map runs past the end")
        rsv += 16
        if blob[rsv - 16:rsv] == bytes(16):
            break
    depth, here = 0, False
    chosen: list[tuple[str, int]] | None = None
    root: dict[str, bytes] = {}
    pos = off_struct
    while pos < off_struct + size_struct:
        (tag,) = struct.unpack_from(">I", blob, pos)
        if tag == _BEGIN_NODE:
            name_end = blob.index(b"\0", pos + 4)
            depth += 1
            here = depth == 2 and blob[pos + 4:name_end] == b"chosen"
            if here:
                chosen = []
            pos += 4 + _pad(name_end - pos - 4 + 1)
            continue
        if tag == _PROP:
            length, nameoff = struct.unpack_from(">2I", blob, pos + 4)
            name = strings[nameoff:strings.index(b"\0", nameoff)].decode()
            if here and chosen is not None:
                chosen.append((name, length))
            elif depth == 1:
                root[name] = blob[pos + 12:pos + 12 + length]
            pos += 12 + _pad(length)
            continue
        if tag == _END_NODE:
            depth -= 1
            here = False
        elif tag == _END:
            break
        elif tag != _NOP:
            raise KdumplabError(where, f"unknown structure token {tag} at offset {pos:#x}")
        pos += 4
    cells = {k: _root_cells(root.get(k), k, where) for k in ("#address-cells", "#size-cells")}
    return FdtShape(_HEADER + (rsv - off_rsv) + size_struct + size_strings,
                    None if chosen is None else tuple(chosen), strings,
                    cells["#address-cells"], cells["#size-cells"])


def _root_cells(raw: bytes | None, name: str, where: str) -> int:
    """The root's ``#address-cells``/``#size-cells``: one 32-bit cell, 1 or 2 (kexec-tools writes its /chosen
    numbers with these; arm64 needs 2, a 32-bit tree has 1). Absent means 1, the devicetree spec's default.
    Anything else (an empty property, several cells, 0 or 3) is a one-line error, not a guess."""
    if raw is None:
        return 1
    value = struct.unpack(">I", raw)[0] if len(raw) == 4 else None
    if value not in (1, 2):
        shown = "an empty property" if not raw else f"{[b for b in raw[:16]]!r}"
        raise KdumplabError(where, f"root {name} must be one cell holding 1 or 2, not {shown}")
    return int(value)


# --- QEMU 7.2 (-M virt) -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class QemuDtb:
    """A ``-dtb`` file made from QEMU's own -M virt tree (``-machine dumpdtb``, then ``fdtput`` of one more
    property, which packs it): its size in bytes, and QEMU's memory nodes, (start, size) each, one per NUMA
    node (``numa``: with ``numa-node-id``) or one for all RAM. The file's /chosen is QEMU's create_fdt one:
    ``stdout-path`` ("/pl011@9000000"), ``rng-seed`` (32 bytes) and ``kaslr-seed`` (8)."""

    file_size: int
    memory_nodes: tuple[tuple[int, int], ...]
    numa: bool = False

    def __post_init__(self) -> None:
        if self.file_size <= _HEADER + 16 or not self.memory_nodes:
            raise KdumplabError("dtb", f"a -dtb file of {self.file_size} bytes with {len(self.memory_nodes)} "
                                "memory nodes is not QEMU's tree")


#: QEMU 7.2 hw/arm/boot.c fdt_add_psci_node: /psci with compatible "arm,psci-1.0\0arm,psci-0.2\0arm,psci"
#: (35 bytes), method ("hvc" or "smc", 4), cpu_suspend, cpu_off, cpu_on, migrate (one cell each): 144 bytes
#: with its tags, the same for cortex-a57 and neoverse-n1 (dumpdtb of both).
QEMU_PSCI_NODE = 4 + 8 + 12 + _pad(35) + 12 + 4 + 4 * (12 + 4) + 4
#: QEMU 7.2's -M virt /chosen as create_fdt leaves it (create_randomness, then create_uart's stdout-path)
_QEMU_CHOSEN = (("stdout-path", 15), ("rng-seed", 32), ("kaslr-seed", 8))
#: every name QEMU's tree has that a later stage could set: the ones above (the rest cannot collide)
_QEMU_STRINGS = b"kaslr-seed\0rng-seed\0stdout-path\0"
#: the one-node -M virt tree with -smp 1 as dumpdtb writes it plus the lab's dma-ranges (7,553 bytes,
#: tests/data/boots/*-dma*), less its one 72-byte memory node
_QEMU_VIRT_TREE_BASE = 7553 - 72
#: with -numa: the string "numa-node-id\0" and one such property (16 bytes) in each CPU node
_QEMU_NUMA_STRING = 13
_QEMU_NUMA_ID = 16
#: each CPU beyond the first (hw/arm/virt.c fdt_add_cpu_nodes): its cpu@N node (name, phandle, reg,
#: enable-method "psci", compatible, device_type: 112 bytes) and its cpu-map core (32); with two or more CPUs
#: every cpu node has ``enable-method`` (20 bytes on cpu@0 too) and the strings block holds
#: "enable-method\0", which then also serves psci's "method" (+7 bytes). dumpdtb of -smp 1, 2, 3 and 8
#: (cortex-a57 and neoverse-n1): structure 6,992, 7,156, 7,300, 8,020 bytes, strings 454, then 461.
_QEMU_PER_EXTRA_CPU = 112 + 32
_QEMU_SMP_ONCE = 20 + 7


def qemu_cpu_bytes(cpus: int, numa: bool = False) -> int:
    """What QEMU's -M virt tree holds beyond a one-CPU tree for ``cpus`` CPUs (``qemu_dtb_file_size``, and
    the crash kernel's DTB from QEMU's built-in tree, kexec.KexecInputs.dtb_size)."""
    extra = (_QEMU_PER_EXTRA_CPU + (_QEMU_NUMA_ID if numa else 0)) * (cpus - 1)
    return extra + (_QEMU_SMP_ONCE if cpus > 1 else 0)


def _memory_node(start: int, numa: bool) -> int:
    """One /memory@START node as QEMU's fdt_add_memory_node writes it: its name, ``reg`` (two address and two
    size cells), ``device_type = "memory"`` and, with -numa, ``numa-node-id``."""
    return 4 + _pad(len(f"memory@{start:x}") + 1) + (12 + 16) + (12 + 8) + (16 if numa else 0) + 4


def qemu_dtb_file_size(memory_nodes: tuple[tuple[int, int], ...], numa: bool, cpus: int = 1) -> int:
    """The size of the lab's ``-dtb`` file for these memory nodes and -smp ``cpus``: checked against dumpdtb +
    fdtput for 4G and 8G on one node (7,553 bytes, cortex-a57 and neoverse-n1 alike), 1G+3G (7,686) and
    4G+4G (7,690): the unit address in each memory node's name changes its padding."""
    return (_QEMU_VIRT_TREE_BASE + sum(_memory_node(s, numa) for s, _ in memory_nodes)
            + (_QEMU_NUMA_STRING + _QEMU_NUMA_ID if numa else 0) + qemu_cpu_bytes(cpus, numa))


def qemu_loaded(dtb: QemuDtb, append: str, initrd: bool = False) -> FdtShape:
    """The tree QEMU 7.2 puts in guest RAM for a ``-dtb`` file (hw/arm/boot.c arm_load_dtb), packed.

    - every root ``/memory*`` node becomes NOPs and one node per NUMA node (or one for all RAM) is added;
    - /psci becomes NOPs and QEMU's own is added (fdt_add_psci_node: "a pre-existing /psci node might specify
      function ID values that don't match");
    - ``bootargs`` = the ``-append`` text, also when firmware boots the kernel;
    - ``linux,initrd-start``/``-end``, one cell each, only when QEMU itself loads the kernel (a DT boot).
    NOPs keep their bytes, so the tree grows by the psci and memory nodes it had (``-machine dumpdtb`` with
    the -dtb file, packed: 4G under EDK2 with a 41-byte -append 7,553 -> 7,834 bytes; a 1G+3G NUMA direct
    boot with a 24-byte -append and an initrd 7,686 -> 8,123).
    """
    nodes = sum(_memory_node(s, dtb.numa) for s, _ in dtb.memory_nodes)
    shape = FdtShape(dtb.file_size + QEMU_PSCI_NODE + nodes, _QEMU_CHOSEN, _QEMU_STRINGS)
    if append:
        shape = with_property(shape, "bootargs", len(append.encode()) + 1)
    if initrd:
        shape = with_property(with_property(shape, "linux,initrd-start", 4), "linux,initrd-end", 4)
    return shape


# --- EDK2 2022.11 (ArmVirtQemu) and the EFI stub -------------------------------------------------------------

#: Nodes EDK2 2022.11's ArmVirtQemu marks ``status = "disabled"`` before it installs the tree as the DT
#: configuration table, so that the OS leaves them to the firmware: the PL031 RTC (its runtime services'
#: clock; ArmVirtPkg ArmVirtPL031FdtClientLib) and the NOR flash holding the variable store (ArmVirtPkg
#: NorFlashQemuLib). Seen as the two new ``status`` properties of /sys/firmware/fdt against the -dtb file.
EDK2_DISABLED_NODES = ("pl031@9010000", "flash@0")


def edk2_handed(shape: FdtShape) -> FdtShape:
    """The tree EDK2 hands the EFI stub: QEMU's, with one ``status = "disabled"`` (9 bytes) per node of
    ``EDK2_DISABLED_NODES``. EDK2 copies it into a bigger buffer; the stub packs it again."""
    for _ in EDK2_DISABLED_NODES:
        shape = with_property(shape, "status", 9, in_chosen=False)
    return shape


def efi_stub_amended(shape: FdtShape, cmdline: str, *, initrd_in_dt: bool = False,
                     kaslr_seed: bool = False) -> FdtShape:
    """The stub's tree when the firmware has one (drivers/firmware/efi/libstub/fdt.c update_fdt, Debian
    5.10.223, 6.1.192, 6.12.117): ``fdt_open_into`` it, delete every reservation-map entry (QEMU's tree has
    none), set /chosen ``bootargs`` (the EFI load options: the command line the kernel prints, if any),
    on 5.10 ``linux,initrd-start``/``-end`` (64 bits), ``linux,uefi-system-table``, ``-mmap-start`` (64 bits),
    ``-mmap-size``, ``-mmap-desc-size``, ``-mmap-desc-ver`` (32 bits), ``kaslr-seed`` with an RNG (QEMU's
    tree has it already: resized in place), ``linux,uefi-secure-boot``; then ``fdt_pack``. Memory nodes stay
    (the kernel ignores them under UEFI). 8,146 bytes for the recorded 6.12/7.2 4G and 8G dma1G boots."""
    if cmdline:
        shape = with_property(shape, "bootargs", len(cmdline.encode()) + 1)
    names: list[tuple[str, int]] = []
    if initrd_in_dt:
        names += [("linux,initrd-start", 8), ("linux,initrd-end", 8)]
    names += [("linux,uefi-system-table", 8), ("linux,uefi-mmap-start", 8), ("linux,uefi-mmap-size", 4),
              ("linux,uefi-mmap-desc-size", 4), ("linux,uefi-mmap-desc-ver", 4)]
    if kaslr_seed:
        names.append(("kaslr-seed", 8))
    names.append(("linux,uefi-secure-boot", 4))
    for name, length in names:
        shape = with_property(shape, name, length)
    return shape


def as_the_kernel_keeps_it(shape: FdtShape) -> FdtShape:
    """The tree as /sys/firmware/fdt shows it: the kernel turns /chosen ``rng-seed`` into NOPs once it has fed
    it to the entropy pool (drivers/of/fdt.c early_init_dt_scan_chosen, 5.10 to 7.x) and zeroes
    ``kaslr-seed`` in place (arm64 KASLR's seed reader); neither changes the size."""
    return replace(shape, chosen=tuple((n, v) for n, v in shape.chosen or () if n != "rng-seed"))
