"""Bytes kexec-tools hands to the crash kernel: the modified DTB and the elfcorehdr (kernel-spec.md D.4, D.5)."""

from __future__ import annotations

import struct

import fdt

from kdumplab.errors import KdumplabError
from kdumplab.kexec import KexecLoad

__all__ = ["crash_dtb", "elfcorehdr_bytes", "base_dtb"]

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


def crash_dtb(base: bytes, load: KexecLoad, bootargs: str) -> bytes:
    """/chosen gets linux,elfcorehdr, linux,usable-memory-range (in load order) and bootargs; cells from the root."""
    if load.elfcorehdr is None:
        raise KdumplabError("dtb", "the load has no elfcorehdr", "only a successful kexec_load path builds one")
    tree = fdt.parse_dtb(base)
    ac = tree.get_property("#address-cells").value if tree.exist_property("#address-cells") else 1
    sc = tree.get_property("#size-cells").value if tree.exist_property("#size-cells") else 1
    addr, size = load.elfcorehdr
    tree.set_property("linux,elfcorehdr", _cells(addr, ac) + _cells(size, sc), path="/chosen")
    usable: list[int] = []
    for s, e in load.usable_memory_ranges:
        usable += _cells(s, ac) + _cells(e + 1 - s, sc)
    tree.set_property("linux,usable-memory-range", usable, path="/chosen")
    if bootargs:  # an empty command line leaves /chosen without bootargs
        tree.set_property("bootargs", bootargs, path="/chosen")
    return tree.to_dtb(version=17)


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
