"""kdumplab.firmware_fdt: the running kernel's device tree counted from QEMU's -dtb file through QEMU's loader,
EDK2 and the EFI stub, against every recorded first kernel that booted from such a file (its /sys/firmware/fdt
in cycle.json), every recorded -dtb file size, and hand counts of libfdt's layout."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from kdumplab import presets
from kdumplab.errors import KdumplabError
from kdumplab.firmware_fdt import (
    QEMU_PSCI_NODE,
    FdtShape,
    QemuDtb,
    as_the_kernel_keeps_it,
    edk2_handed,
    efi_stub_amended,
    qemu_cpu_bytes,
    qemu_dtb_file_size,
    qemu_loaded,
    shape_of,
    with_property,
)
from kdumplab.lab.cycle import load_cycle
from kdumplab.ranges import SZ_1G

DATA = Path(__file__).parent / "data"
DTB_CYCLES = sorted(p for d in ("cycles", "cycles-uefi") for p in (DATA / d).glob("*")
                    if (p / "cycle.json").is_file() and load_cycle(p).first.dma_window)
_SIZE = {"G": 30, "M": 20}


def _bytes(text: str) -> int:
    return int(text[:-1]) << _SIZE[text[-1]]


def _nodes(mem: str, numa: list[str]) -> tuple[tuple[int, int], ...]:
    out, start = [], 0x4000_0000
    for size in map(_bytes, numa or [mem]):
        out.append((start, size))
        start += size
    return tuple(out)


def test_the_recordings_are_there() -> None:
    firmwares = {load_cycle(p).first.firmware for p in DTB_CYCLES}
    assert len(DTB_CYCLES) >= 14 and firmwares == {"dt", "uefi"}


@pytest.mark.parametrize("case", DTB_CYCLES, ids=[p.name for p in DTB_CYCLES])
def test_the_first_kernels_tree_from_the_dtb_file(case: Path) -> None:
    # QEMU loads the -dtb file; on a DT boot the kernel keeps it, under EDK2 (acpi=off) the firmware and the
    # EFI stub amend it first. Its packed size and /chosen equal the recorded /sys/firmware/fdt's.
    cyc = load_cycle(case)
    f = cyc.first
    uefi = f.firmware == "uefi"
    shape = qemu_loaded(QemuDtb(f.provenance.dtb_size, _nodes(f.mem, f.numa), bool(f.numa)),
                        f.cmdline.removesuffix(" initrd=initrd"), initrd=not uefi)
    if uefi:
        shape = efi_stub_amended(edk2_handed(shape), f.cmdline)
    shape = as_the_kernel_keeps_it(shape)
    real = shape_of(cyc.first_fdt)
    assert shape.size == real.size
    assert dict(shape.chosen or ()) == dict(real.chosen or ())
    for name, _ in shape.chosen or ():
        assert name.encode() + b"\0" in real.strings


def _recorded_dtb_files() -> list[tuple[str, tuple[str, ...], int]]:
    seen = set()
    for path in DATA.glob("boots*/*/case.json"):
        case = json.loads(path.read_text())
        if case.get("dma_window") and case.get("arch", "arm64") == "arm64":
            seen.add((case["mem"], tuple(case.get("numa") or ()), int(case["provenance"]["dtb_size"])))
    return sorted(seen)


@pytest.mark.parametrize(("mem", "numa", "size"), _recorded_dtb_files())
def test_the_dtb_file_size_from_the_memory_nodes(mem: str, numa: tuple[str, ...], size: int) -> None:
    # every -dtb file the lab recorded (dumpdtb + fdtput): 7,553 on one node, 7,686 for 2G+2G, 7,690 for
    # 3G+3G and 4G+4G (a node at 0x100000000 or above has a longer name)
    assert qemu_dtb_file_size(_nodes(mem, list(numa)), bool(numa)) == size


def test_the_preset_carries_the_file() -> None:
    m = presets.qemu_virt(4 * SZ_1G, numa=(2 * SZ_1G, 2 * SZ_1G), kernel="6.12", dma_window=SZ_1G,
                          firmware="uefi", cmdline="crashkernel=512M")
    assert m.qemu_dtb == QemuDtb(7686, ((0x4000_0000, 2 * SZ_1G), (0xC000_0000, 2 * SZ_1G)), True)
    assert presets.qemu_virt(8 * SZ_1G, kernel="6.12").qemu_dtb is None  # QEMU's built-in tree


def test_hand_counts() -> None:
    # /psci: BEGIN_NODE 4 + "psci\0" in 8 + compatible 12+36 + method 12+4 + four one-cell properties 4*16
    # + END_NODE 4
    assert QEMU_PSCI_NODE == 144
    one = QemuDtb(7553, ((0x4000_0000, 4 * SZ_1G),))
    # 7,553 + psci 144 + memory node 72 (4 + "memory@40000000\0" 16 + reg 28 + device_type 20 + 4),
    # bootargs 12 + 4 ("ab\0" padded) and its name 9
    assert qemu_loaded(one, "ab").size == 7553 + 144 + 72 + 16 + 9
    # the stub sets bootargs over QEMU's (resized in place: 4 -> 8 bytes) and six new names
    # (+12 header +value each; names 24+22+21+26+25+23 bytes); EDK2's two status = "disabled" 2*24 + 7
    base = qemu_loaded(one, "ab")
    assert efi_stub_amended(edk2_handed(base), "abcdef").size == base.size + 48 + 7 + 4 + (
        6 * 12 + 8 + 8 + 4 + 4 + 4 + 4) + (24 + 22 + 21 + 26 + 25 + 23)


def test_with_property_follows_libfdt() -> None:
    empty = FdtShape(100, (("bootargs", 5),), b"bootargs\0xlinux,elfcorehdr\0")
    assert with_property(empty, "bootargs", 9).size == 104  # 8 -> 12 bytes in place
    assert with_property(empty, "linux,elfcorehdr", 16).size == 100 + 28  # name already ends a string
    assert with_property(empty, "elfcorehdr", 16).size == 100 + 28  # ... and so does its tail
    grown = with_property(empty, "kaslr-seed", 8)
    assert grown.size == 100 + 20 + 11 and grown.strings.endswith(b"kaslr-seed\0")
    assert with_property(FdtShape(100, None, b""), "bootargs", 1).size == 100 + 16 + 16 + 9  # /chosen made


def test_a_damaged_tree_is_one_line() -> None:
    with pytest.raises(KdumplabError, match="not a flattened device tree"):
        shape_of(b"\0" * 64, "first kernel fdt")
    header = struct.pack(">10I", 0xD00DFEED, 200, 56, 60, 40, 17, 16, 0, 0, 500)
    with pytest.raises(KdumplabError, match="truncated"):
        shape_of(header + bytes(60), "first kernel fdt")
    with pytest.raises(KdumplabError, match="is not QEMU's tree"):
        QemuDtb(10, ((0, 1),))


# QEMU 7.2 `-M virt,dumpdtb=F -smp N` then `fdtput ... dma-ranges` (lab/qemu.py make_dtb), run here once per
# shape: the -dtb file's size by memory nodes and CPUs (cortex-a57; neoverse-n1 gave the same for 4G+4G -smp 8)
@pytest.mark.parametrize(("nodes", "numa", "cpus", "size"), [
    (((0x4000_0000, 4 * SZ_1G),), False, 2, 7724),
    (((0x4000_0000, 4 * SZ_1G),), False, 8, 8588),
    (((0x4000_0000, 4 * SZ_1G), (0x1_4000_0000, 4 * SZ_1G)), True, 2, 7877),
    (((0x4000_0000, 4 * SZ_1G), (0x1_4000_0000, 4 * SZ_1G)), True, 8, 8837),
    (((0x4000_0000, SZ_1G), (0x8000_0000, 3 * SZ_1G)), True, 3, 8033),
])
def test_the_dtb_file_size_with_more_cpus(nodes: tuple, numa: bool, cpus: int, size: int) -> None:
    assert qemu_dtb_file_size(nodes, numa, cpus) == size


def test_cpu_bytes_by_hand() -> None:
    # dumpdtb of the built-in tree (4G, cortex-a57): structure 6,992 / 7,156 / 7,300 / 8,020 bytes with
    # -smp 1 / 2 / 3 / 8, strings 454 then 461: cpu@N 112 + coreN 32 per CPU, enable-method on cpu@0 20, the
    # string "enable-method\0" replacing "method\0" 7
    assert qemu_cpu_bytes(1) == 0
    assert qemu_cpu_bytes(2) == 7156 - 6992 + 7
    assert qemu_cpu_bytes(3) - qemu_cpu_bytes(2) == 7300 - 7156
    assert qemu_cpu_bytes(8) == 8020 - 6992 + 7
