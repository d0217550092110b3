"""The qemu-q35 preset against what QEMU 7.2 + SeaBIOS really gave the recorded boots (tests/data/boots-x86)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kdumplab.errors import KdumplabError
from kdumplab.presets.q35 import q35_e820, q35_initrd_start, q35_lowmem, qemu_q35

BOOTS = Path(__file__).parent / "data" / "boots-x86"


def _e820(serial: str) -> list[tuple[int, int, str]]:
    out = []
    for m in re.finditer(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (usable|reserved)", serial):
        out.append((int(m.group(1), 16), int(m.group(2), 16) + 1, m.group(3)))
    return out[: len(out) // 2] if out[: len(out) // 2] == out[len(out) // 2:] else out


@pytest.mark.parametrize(("case", "mem"), [("cal-6.1-6G-512M", 6 << 30), ("cal-6.1-16G-numa-2G", 16 << 30)])
def test_e820_is_seabios_map(case: str, mem: int) -> None:
    serial = (BOOTS / case / "serial.log").read_text()
    assert list(q35_e820(mem)) == _e820(serial.split("=== KDUMPLAB BEGIN")[0])


def test_initrd_goes_where_qemu_put_it() -> None:
    # RAMDISK: [mem 0x7fed4000-0x7ffcffff] for the 1,028,151-byte lab initramfs on 6 GiB
    assert q35_initrd_start(6 << 30, 1028151) == 0x7FED4000


@pytest.mark.parametrize(("mem", "low"), [(2 << 30, 2 << 30), (0xAFE00000, 0xAFE00000), (0xB0000000, 0x80000000)])
def test_low_ram_split(mem: int, low: int) -> None:
    assert q35_lowmem(mem) == low


def test_numa_nodes_follow_ram_order() -> None:
    m = qemu_q35(16 << 30, (8 << 30, 8 << 30))
    assert [(b.start, b.start + b.size, b.node) for b in m.banks][-2:] == [
        (0x100000000, 0x280000000, 0), (0x280000000, 0x480000000, 1)]  # SRAT: node 1 from 10 GiB


def test_kernel_at_must_be_2m_aligned() -> None:
    with pytest.raises(KdumplabError, match="2 MiB"):
        qemu_q35(kernel_at=0x1100000)
