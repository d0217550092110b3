"""Bytes kexec-tools hands to the crash kernel: the modified DTB and the elfcorehdr (kernel-spec.md D.4, D.5)."""

from __future__ import annotations

import struct

import fdt

from kdumplab.errors import KdumplabError
from kdumplab.firmware_fdt import FdtShape, shape_of, with_property
from kdumplab.kexec import KexecLoad

__all__ = ["crash_dtb", "crash_dtb_size", "bootargs_value", "efi_stub_fdt", "elfcorehdr_bytes", "base_dtb",
           "without_nops"]

_PT = {"PT_LOAD": 1, "PT_NOTE": 4}


def _cells(value: int, n: int) -> list[int]:
    return [value & 0xFFFFFFFF] if n == 1 else [value >> 32, value & 0xFFFFFFFF]


def base_dtb(address_cells: int = 2, size_cells: int = 2) -> bytes:
    """A minimal running-kernel DT (root cells and an empty /chosen) for when the real one is not at hand;
    QEMU -M virt and EFI boots use 2/2."""
    tree = fdt.FDT()
    tree.set_property("#address-cells", address_cells)
    tree.set_property("#size-cells", size_cells)
    tree.add_item(fdt.Node("chosen"))
    return tree.to_dtb(version=17)


def efi_stub_fdt(cmdline: str, *, system_table: int = 0, mmap_start: int = 0, mmap_size: int = 0,
                 desc_size: int = 0x30, desc_ver: int = 1, secure_boot: int = 2,
                 initrd: tuple[int, int] | None = None, kaslr_seed: int | None = None,
                 last_comp_version: int = 16) -> bytes:
    """The device tree the arm64 EFI stub hands the kernel when the firmware has none (ACPI; "EFI stub:
    Generating empty DTB"), which the kernel keeps as /sys/firmware/fdt and kexec-tools starts from.

    drivers/firmware/efi/libstub/fdt.c update_fdt (Debian 5.10.223 and 6.12.117): an empty tree with the root's
    #address-cells and #size-cells (2 each), no memory reservations, and a /chosen holding, in the order set,
    ``bootargs`` (the command line, if any), on 5.10 ``linux,initrd-start``/``-end`` (the initrd the stub
    loaded; later stubs pass it only through the LINUX_EFI_INITRD_MEDIA_GUID configuration table),
    ``linux,uefi-system-table`` and ``linux,uefi-mmap-start`` (64 bits), ``-mmap-size``, ``-mmap-desc-size``,
    ``-mmap-desc-ver`` (32 bits; filled in after ExitBootServices), ``kaslr-seed`` (only when the firmware has
    an RNG) and ``linux,uefi-secure-boot``; then packed. libfdt puts each new property first in its node,
    so they read back in reverse, and appends each name to the strings block as it is first set. Only the
    command line and the optional properties change its size (469 bytes with the lab's 55-character command
    line, tests/data/cycles-uefi); the values are the firmware's. The header's last compatible version is
    libfdt's of that kernel (2 in 5.10's copy, 16 later). Byte for byte the stub's tree in every recording.
    """
    tree = fdt.FDT()
    tree.set_property("#size-cells", 2)  # set after #address-cells (fdt_update_cell_size), so read first
    tree.set_property("#address-cells", 2)
    chosen = fdt.Node("chosen")
    props: list[fdt.Property] = []
    if cmdline:
        props.append(fdt.PropStrings("bootargs", cmdline))
    if initrd is not None:
        props += [fdt.PropWords("linux,initrd-start", *_cells(initrd[0], 2)),
                  fdt.PropWords("linux,initrd-end", *_cells(initrd[1], 2))]
    props += [fdt.PropWords("linux,uefi-system-table", *_cells(system_table, 2)),
              fdt.PropWords("linux,uefi-mmap-start", *_cells(mmap_start, 2)),
              fdt.PropWords("linux,uefi-mmap-size", mmap_size),
              fdt.PropWords("linux,uefi-mmap-desc-size", desc_size),
              fdt.PropWords("linux,uefi-mmap-desc-ver", desc_ver)]
    if kaslr_seed is not None:
        props.append(fdt.PropWords("kaslr-seed", *_cells(kaslr_seed, 2)))
    props.append(fdt.PropWords("linux,uefi-secure-boot", secure_boot))
    for prop in reversed(props):
        chosen.append(prop)
    tree.add_item(chosen)
    names = ["#address-cells", "#size-cells", *(p.name for p in props)]
    return tree.to_dtb(version=17, last_comp_version=last_comp_version, strings="".join(n + "\0" for n in names))


_FDT_BEGIN_NODE, _FDT_END_NODE, _FDT_PROP, _FDT_NOP, _FDT_END = 1, 2, 3, 4, 9


def without_nops(blob: bytes, where: str = "dtb") -> bytes:
    """The same flattened tree without FDT_NOP tokens, which libfdt (QEMU, the kernel) leaves where it deleted
    or shrank something and which the ``fdt`` library cannot read. Structure and strings are kept byte for
    byte otherwise; a damaged blob is a one-line KdumplabError."""
    try:
        return _strip_nops(blob, where)
    except (ValueError, struct.error) as err:
        raise KdumplabError(where, f"truncated device tree ({err})") from None


def _strip_nops(blob: bytes, where: str) -> bytes:
    if len(blob) < 40 or struct.unpack_from(">I", blob, 0)[0] != 0xD00DFEED:
        raise KdumplabError(where, "not a flattened device tree (bad magic or too short)")
    total, off_struct, off_strings, off_rsv, version, last_comp, boot_cpu, size_strings, size_struct = (
        struct.unpack_from(">9I", blob, 4))
    if version < 17 or off_struct + size_struct > len(blob) or off_strings + size_strings > len(blob):
        raise KdumplabError(where, f"unsupported or truncated tree (version {version}, {len(blob)} bytes)")
    out = bytearray()
    pos, end = off_struct, off_struct + size_struct
    while pos < end:
        (tag,) = struct.unpack_from(">I", blob, pos)
        if tag == _FDT_BEGIN_NODE:
            name_end = blob.index(b"\0", pos + 4)
            nxt = pos + 4 + ((name_end - pos - 4 + 1 + 3) & ~3)
        elif tag == _FDT_PROP:
            (length,) = struct.unpack_from(">I", blob, pos + 4)
            nxt = pos + 12 + ((length + 3) & ~3)
        elif tag in (_FDT_END_NODE, _FDT_NOP, _FDT_END):
            nxt = pos + 4
        else:
            raise KdumplabError(where, f"unknown structure token {tag} at offset {pos:#x}")
        if tag != _FDT_NOP:
            out += blob[pos:nxt]
        if tag == _FDT_END:
            break
        pos = nxt
    rsv_end = off_rsv
    while True:  # the reservation map: 16-byte entries up to an all-zero one
        if rsv_end + 16 > len(blob):
            raise KdumplabError(where, "memory reservation map runs past the end")
        rsv_end += 16
        if blob[rsv_end - 16:rsv_end] == bytes(16):
            break
    rsv = blob[off_rsv:rsv_end]
    strings = blob[off_strings:off_strings + size_strings]
    new_struct = 40 + len(rsv)
    new_strings = new_struct + len(out)
    header = struct.pack(">10I", 0xD00DFEED, new_strings + len(strings), new_struct, new_strings, 40, version,
                         last_comp, boot_cpu, len(strings), len(out))
    return header + rsv + bytes(out) + strings


def bootargs_value(text: str) -> bytes:
    """A string property as kexec-tools' dtb_set_property stores it: NUL-terminated, then NUL-padded to 4 bytes."""
    raw = text.encode() + b"\0"
    return raw + b"\0" * (-len(raw) % 4)


def crash_dtb(base: bytes, load: KexecLoad, bootargs: str, where: str = "dtb") -> bytes:
    """The running kernel's flattened tree with what kexec-tools changes in /chosen for the crash kernel.

    Seen in the recorded cycles (tests/data/cycles: first kernel's /sys/firmware/fdt against the crash
    kernel's, every kexec-tools version): ``linux,usable-memory-range`` (the load order), ``linux,elfcorehdr``,
    ``linux,initrd-start``/``-end`` (rewritten with the root's address cells even where the firmware used
    one cell; end = start + the initrd's bytes) and ``bootargs`` (NUL-padded to 4 bytes); nothing else moves.
    """
    if load.elfcorehdr is None:
        raise KdumplabError("dtb", "the load has no elfcorehdr", "only a successful kexec_load path builds one")
    try:
        tree = fdt.parse_dtb(without_nops(base, where))
    except KdumplabError:
        raise
    except Exception as err:  # noqa: BLE001 - the fdt library raises bare Exception on a damaged blob
        raise KdumplabError(where, f"not a readable device tree: {err}") from None
    shape = shape_of(base, where)
    ac, sc = shape.address_cells, shape.size_cells
    if not tree.exist_node("chosen"):
        tree.add_item(fdt.Node("chosen"))
    addr, size = load.elfcorehdr
    tree.set_property("linux,elfcorehdr", _cells(addr, ac) + _cells(size, sc), path="/chosen")
    usable: list[int] = []
    for s, e in load.usable_memory_ranges:
        usable += _cells(s, ac) + _cells(e + 1 - s, sc)
    tree.set_property("linux,usable-memory-range", usable, path="/chosen")
    if load.low_memory_range is not None:  # the v6/v7 companion of the 2019 series (kexec-tools 2.0.25-lowmem)
        s, e = load.low_memory_range
        tree.set_property("linux,low-memory-range", _cells(s, ac) + _cells(e + 1 - s, sc), path="/chosen")
    initrd = next((seg for seg in load.segments if seg.what == "initrd"), None)
    chosen = tree.get_node("chosen")
    for name in ("linux,initrd-start", "linux,initrd-end"):
        if chosen.exist_property(name):
            chosen.remove_property(name)
    if initrd is not None:
        length = getattr(initrd, "bufsz", 0) or initrd.size
        tree.set_property("linux,initrd-start", _cells(initrd.start, ac), path="/chosen")
        tree.set_property("linux,initrd-end", _cells(initrd.start + length, ac), path="/chosen")
    if chosen.exist_property("bootargs"):
        chosen.remove_property("bootargs")
    if bootargs:  # an empty command line leaves /chosen without bootargs
        chosen.append(fdt.PropBytes("bootargs", data=bootargs_value(bootargs)))
    return tree.to_dtb(version=17)


def crash_dtb_size(base: bytes | FdtShape, usable_ranges: int, initrd: bool, bootargs: str,
                   low_range: bool = False, where: str = "dtb") -> int:
    """The size of the DTB segment kexec-tools builds from the running kernel's tree (``base``: its bytes, or
    its shape as ``kdumplab.firmware_fdt`` counts it when only the boot chain is known), without building it.

    kexec-tools (kexec-arm64.c setup_2nd_dtb, dt-ops.c dtb_set_property, the same in 2.0.20-2.0.32) opens the
    tree into a bigger buffer, sets each /chosen property with ``fdt_setprop`` and packs it again
    (``fdt_pack``: header, reservation map, structure, strings, no gaps), so the segment is the packed size
    of the first kernel's /sys/firmware/fdt (QEMU's 1 MiB buffer or the EFI stub's tree alike) plus, per
    property, what ``firmware_fdt.with_property`` counts: the change of its 4-byte-padded value when it
    exists, else a 12-byte property header, the padded value and its name with a NUL in the strings block,
    unless that text already ends some string there (libfdt's fdt_find_add_string matches any ``name\0``
    inside the block, so names QEMU once set and the kernel deleted still count). Set: linux,elfcorehdr (one
    address/size pair), linux,usable-memory-range (one pair per range), linux,low-memory-range
    (2.0.25-lowmem), linux,initrd-start/-end (64 bits each), bootargs (the text and its NUL). A tree without
    /chosen gets the node (16 bytes).
    """
    shape = base if isinstance(base, FdtShape) else shape_of(base, where)
    pair = 4 * (shape.address_cells + shape.size_cells)
    sets = [("linux,elfcorehdr", pair), ("linux,usable-memory-range", pair * usable_ranges)]
    if low_range:
        sets.append(("linux,low-memory-range", pair))
    if initrd:
        sets += [("linux,initrd-start", 8), ("linux,initrd-end", 8)]
    if bootargs:
        sets.append(("bootargs", len(bootargs.encode()) + 1))
    for name, length in sets:
        shape = with_property(shape, name, length)
    return shape.size


def elfcorehdr_bytes(load: KexecLoad) -> bytes:
    """ELF64 LE, ET_CORE, EM_AARCH64; program headers in load order; buffer rounded up to 1024 bytes."""
    if load.elfcorehdr is None:
        raise KdumplabError("elfcorehdr", "the load has no elfcorehdr", None)
    n = len(load.phdrs)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    out = bytearray(ident + struct.pack("<HHIQQQIHHHHHH", 4, 183, 1, 0, 64, 0, 0, 64, 56, n, 0, 0, 0))
    for p in load.phdrs:
        flags = 7 if p.type == "PT_LOAD" else 0
        out += struct.pack("<IIQQQQQQ", _PT[p.type], flags, p.paddr, p.vaddr, p.paddr, p.size, p.size, 0)
    return bytes(out) + bytes(load.elfcorehdr[1] - len(out))
