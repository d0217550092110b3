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


# -- OVMF (firmware="uefi") ---------------------------------------------------------------------------------------
# Expected values: the BIOS-e820 and efi=debug lines of the OVMF calibration boots (tests/data/boots-x86-uefi/cal-*,
# -m 1G / 2560M / 6G / 16G, all four kernels), written from the top of low RAM T.

def test_ovmf_e820_by_hand_on_6g() -> None:
    from kdumplab.presets.q35 import ovmf_e820

    t = 0x8000_0000  # -m 6G: 2 GiB below 4 GiB
    assert ovmf_e820(6 << 30) == (
        (0, 0xA0000, "usable"), (0x100000, 0x800000, "usable"), (0x800000, 0x808000, "ACPI NVS"),
        (0x808000, 0x80B000, "usable"), (0x80B000, 0x80C000, "ACPI NVS"), (0x80C000, 0x810000, "usable"),
        (0x810000, 0x900000, "ACPI NVS"), (0x900000, 0x7EEB7000, "usable"), (0x7EEB7000, 0x7EF78000, "reserved"),
        (0x7EF78000, 0x7F8ED000, "usable"), (0x7F8ED000, 0x7FB6D000, "reserved"),
        (0x7FB6D000, 0x7FB7F000, "ACPI data"), (0x7FB7F000, 0x7FBFF000, "ACPI NVS"),
        (0x7FBFF000, 0x7FF58000, "usable"), (0x7FF58000, 0x7FF78000, "reserved"), (0x7FF78000, t, "ACPI NVS"),
        (0xB0000000, 0xC0000000, "reserved"), (1 << 32, 0x200000000, "usable"))


@pytest.mark.parametrize(("gen", "mem", "at"), [
    ("6.1", 6 << 30, 0x1600000), ("6.12", 1 << 30, 0x1600000), ("7.2", 0xA0000000, 0x1600000),
    # 5.10: LoadImage puts the 0x3d7a000-byte PE image right under the boot-services block at T - 0x408b000 and
    # the kernel runs in place: align_up(0x7bf75000 - 0x3d7a000, 2M) = 0x78200000 (Kernel code, 6G and 2G)
    ("5.10", 6 << 30, 0x78200000), ("5.10", 2 << 30, 0x78200000), ("5.10", 1 << 30, 0x38200000)])
def test_ovmf_nokaslr_kernel_address(gen: str, mem: int, at: int) -> None:
    assert qemu_q35(mem, None, 0, gen, firmware="uefi").kernel.load_address == at


def test_ovmf_kaslr_slots_by_hand() -> None:
    from kdumplab import kaslr

    # 6.1 (EFI stub, efi_random_alloc of 64 MiB from 16 MiB, 2 MiB aligned) on 6 GiB: conventional
    # [0x1500000, 0x7bf75000) gives slots 0x1600000 .. round_down(0x7bf75000 - 64M, 2M) = 0x77e00000: 949;
    # [4G, 8G) gives 1 + (4G - 64M) / 2M = 2017
    m = qemu_q35(6 << 30, None, 0, "6.1", firmware="uefi")
    assert kaslr.slot_areas(kaslr.layout_for(m)) == (kaslr.SlotArea(0x1600000, 949), kaslr.SlotArea(1 << 32, 2017))
    # 7.2: its 14 MiB PE image sits under the block, so conventional memory ends at 0x7b12a000
    m = qemu_q35(6 << 30, None, 0, "7.2", firmware="uefi")
    assert kaslr.slot_areas(kaslr.layout_for(m))[0] == kaslr.SlotArea(0x1600000, 1 + (0x7B000000 - 0x3C00000
                                                                                       - 0x1600000) // (2 << 20))
    # 5.10: the decompressor, from min(0x78200000, 512 MiB): [512M, 0x781fb000) holds 1 + (0x781fa000 - 512M -
    # 60M) // 2M slots
    m = qemu_q35(6 << 30, None, 0, "5.10", firmware="uefi")
    assert kaslr.slot_areas(kaslr.layout_for(m))[0] == kaslr.SlotArea(0x20000000, 1 + (0x781FB000 - 0x20000000
                                                                                        - 0x3C00000) // (2 << 20))


def test_ovmf_machine_saves_and_loads_back() -> None:
    from kdumplab.machine import load_machine, machine_to_toml

    m = qemu_q35(6 << 30, None, 0, "7.2", firmware="uefi")
    assert load_machine(machine_to_toml(m), "saved.toml") == m


def test_ovmf_numa_is_refused() -> None:
    with pytest.raises(KdumplabError, match="one NUMA node"):
        qemu_q35(16 << 30, (8 << 30, 8 << 30), firmware="uefi")


# The EFI loader's allocations under OVMF (presets.q35.ovmf_loader). Expected values: the RAMDISK line (the EFI
# stub's initrd copy) and the efi=debug "Loader Code" range (the PE image) of real boots, initrd sizes from their
# case.json / cycle.json provenance.
@pytest.mark.parametrize(("gen", "mem", "initrd", "ramdisk", "pe"), [
    # cal-6.12-uefi-2G-256M-initrd17M: PE image [0x7b374000, 0x7bf75000) right under the PEI stack, the copy under it
    ("6.12", 2 << 30, 17811130, 0x7A277000, 0x7B374000),
    # the three OVMF cycles' first boots (tests/data/cycles-x86-uefi)
    ("6.12", 2 << 30, 17804800, 0x7A279000, None), ("7.2", 6 << 30, 19828224, 0x79061000, None),
    ("7.2", 4 << 30, 20312576, 0x78FEA000, None),
    # 5.10-holdout-uefi-2G-256M-initrd31M: LoadImage's file buffer too goes under the stack, the PE image under it
    # and the kernel (Kernel code 0x77c00000) with it
    ("5.10", 2 << 30, 32495682, 0x75C3E000, 0x77B3C000),
    # 6.1-uefi-2560M-256M-initrd33M: DXE's late 1 MiB block under the stack, then buffer, PE image, copy
    ("6.1", 2560 << 20, 0x20FDAB8, 0x98D76000, 0x9AE74000),
])
def test_ovmf_initrd_copy_and_pe_image(gen: str, mem: int, initrd: int, ramdisk: int, pe: int | None) -> None:
    from kdumplab.presets.q35 import X86_IMAGES, ovmf_loader

    ld = ovmf_loader(mem, X86_IMAGES[gen], initrd)
    assert ld.initrd == (ramdisk, ramdisk + initrd)
    if pe is not None:
        assert ld.pe_image[0] == pe
    assert qemu_q35(mem, None, initrd, gen, firmware="uefi").initrd.start == ramdisk


def test_ovmf_small_initrd_stays_in_the_gap_above_the_pei_stack() -> None:
    from kdumplab.presets.q35 import X86_IMAGES, ovmf_loader

    # cal-6.12-uefi-6G-512M (1 MiB initrd, efi=debug): PE image at 0x7c3dd000, RAMDISK 0x7da87000; the model is
    # one page higher for both: that boot's long command line costs DXE one page more (0x17e1000, not 0x17e0000)
    ld = ovmf_loader(6 << 30, X86_IMAGES["6.12"], 1028151)
    assert (ld.pe_image[0], ld.initrd[0]) == (0x7C3DD000 + 0x1000, 0x7DA87000 + 0x1000)
    assert ld.initrd[0] > ld.pei_stack == 0x7BF75000


def test_ovmf_initrd_too_large_for_pei_memory_is_refused() -> None:
    # 7.2's 14 MiB bzImage and a 30 MiB initrd leave 0x9000 above the PEI stack, less than DXE's later pieces
    with pytest.raises(KdumplabError, match="fw_cfg blobs"):
        qemu_q35(2 << 30, None, 30 << 20, "7.2", firmware="uefi")
