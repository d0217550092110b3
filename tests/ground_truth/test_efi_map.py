"""The EFI memory map EDK2 really handed over (``efi=debug`` boots in tests/data/boots-uefi) against
``kdumplab.efi.edk2_boot``, entry by entry, and the stub's kernel and initrd placement against the kernel's
own memblock lines.

The map is read from the raw serial log with a small extractor of its own (not kdumplab.lab.observe);
neighbouring entries of one type are joined, as the firmware's page allocator would have them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kdumplab import efi, presets
from kdumplab.tools.verify import kernel_code_start, kernel_text_at

DATA = Path(__file__).parent.parent / "data" / "boots-uefi"
_LINE = re.compile(r"efi:   0x([0-9a-f]+)-0x([0-9a-f]+) \[([A-Za-z ]+?)\s*\|")
_SIZES = {"M": 20, "G": 30}
CASES = sorted(p for p in DATA.glob("*") if (p / "serial.log").exists() and "efi=debug" in
               json.loads((p / "case.json").read_text())["cmdline"]
               and "efi:   0x" in (p / "serial.log").read_text(errors="replace"))  # earlycon: the map was printed


def _joined(entries: list[tuple[int, int, str]]) -> set[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for lo, hi, kind in sorted(set(entries)):
        if out and out[-1][2] == kind and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi, kind)
        else:
            out.append((lo, hi, kind))
    return set(out)


def _real_map(serial: str) -> set[tuple[int, int, str]]:
    first_boot = serial.split("=== DMESG", 1)[0]  # the console copy; the DMESG section repeats it
    return _joined([(int(m[1], 16), int(m[2], 16) + 1, m[3].strip()) for m in _LINE.finditer(first_boot)])


def _model(case: dict) -> efi.EfiMap:
    sizes = [int(n[:-1]) << _SIZES[n[-1]] for n in case["numa"]] or [int(case["mem"][:-1]) << _SIZES[case["mem"][-1]]]
    banks, start = [], presets.QEMU_VIRT_RAM_BASE
    for size in sizes:
        banks.append((start, start + size))
        start += size
    gen = case["generation"]
    build = efi.EDK2_2022_11 if case.get("dma_window") is None else efi.EDK2_2022_11_DT  # acpi=off
    rng = "virtio-rng-pci" in case["provenance"].get("qemu_cmdline", ())  # the stub drew the kernel's place
    return efi.edk2_boot(build, banks[0], tuple(banks[1:]), presets.DEBIAN_IMAGE_FILE_SIZES[gen],
                         presets.DEBIAN_IMAGES[gen][1].image_size, case["provenance"]["initrd_size"], gen,
                         case["cmdline"], case["provenance"].get("dtb_size") or 0, rng,
                         kernel_text_at(gen, kernel_code_start(case["iomem"])) if rng else None)


# Known disagreements (strict xfails): the firmware's own boot-data bin holds pages more or fewer than modelled.
# Nothing Linux keeps or places moves on the first; the second moves the memory attributes table (test_boots).
KNOWN = {
    # the only efi=debug map with the memory attributes table in its chunk (a command line under 102
    # characters): 2 boot-data pages more at the bin's bottom, allocated after the table; not modelled
    "6.1-u-dbg-1536M-128M": "two boot-data pages more in the firmware's bin, below the memory attributes table",
    # 16K acpi=off with a 1 MB initrd: the descriptor-pool page the stub's initrd load adds (StubFacts.boot_data_pages)
    # two pages lower in the initrd's head slack than with the default initrd, two free pages above it
    "6.12-16k-u-dbg-initrd1M-dma1G-4G-256M": "the stub's descriptor page 2 pages lower in the initrd's head slack",
    # 16K with ACPI and a 1 MB initrd: the kernel, the PE image and the table agree (Edk2Build.dxe_after_files,
    # loadimage_pool); the stub's boot-data pages after its pool page are not where the model has them (two right
    # below that page, one 15 pages lower than in the initrd's head slack), as in the acpi=off twin above
    "6.12-16k-u-dbg-initrd1M-4G-512M": "the stub's boot-data pages: two below its pool page, one lower in the slack",
    # the same with a 13 MB initrd (its fw_cfg blob below the runtime regions, the kernel 12.6 MiB lower): the
    # table where the model puts it, but one boot-data page more below it (a larger map: a descriptor page?)
    "6.1-u-dbg-dma1G-4G-512M-initrd13M": "one boot-data page more at the bin's bottom, below the table"}
EXACT = [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN[p.name])) if p.name in KNOWN else p
         for p in CASES]


def test_there_are_efi_debug_boots():
    assert len(CASES) >= 10


@pytest.mark.parametrize("case_dir", EXACT, ids=lambda p: p.name)
def test_efi_memory_map_entry_by_entry(case_dir: Path):
    case = json.loads((case_dir / "case.json").read_text())
    real = _real_map((case_dir / "serial.log").read_text(errors="replace"))
    ours = _joined([(r.start, r.end, r.kind.value) for r in _model(case).regions])
    assert sorted(ours - real) == sorted(real - ours) == []


_LINUX = {"Conventional": "usable", "Boot Code": "usable", "Boot Data": "usable"}


LINUX_KNOWN: dict[str, str] = {}


@pytest.mark.parametrize("case_dir", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=LINUX_KNOWN[p.name])) if p.name in LINUX_KNOWN else p
    for p in CASES], ids=lambda p: p.name)
def test_what_linux_sees(case_dir: Path):
    """The map as Linux tells it apart: free memory (boot services and conventional alike), the loader's
    code and data (kernel, initrd, DT, tables), runtime services, ACPI reclaim, MMIO."""
    case = json.loads((case_dir / "case.json").read_text())
    real = _joined([(lo, hi, _LINUX.get(k, k)) for lo, hi, k in
                    _real_map((case_dir / "serial.log").read_text(errors="replace"))])
    ours = _joined([(r.start, r.end, _LINUX.get(r.kind.value, r.kind.value)) for r in _model(case).regions])
    assert sorted(ours - real) == sorted(real - ours) == []


@pytest.mark.parametrize("case_dir", CASES, ids=lambda p: p.name)
def test_stub_placement_is_what_the_kernel_reserved(case_dir: Path):
    """arm64_memblock_init's two reservations: the initrd (page-rounded) and the kernel image."""
    case = json.loads((case_dir / "case.json").read_text())
    serial = (case_dir / "serial.log").read_text(errors="replace").split("=== DMESG", 1)[0]
    got = [(int(a, 16), int(b, 16) + 1) for a, b in
           re.findall(r"memblock_reserve: \[0x([0-9a-f]+)-0x([0-9a-f]+)\].*arm64_memblock_init", serial)]
    if not got:
        pytest.skip("booted without memblock=debug: the kernel's reservations are not in the log")
    fw = _model(case)
    _, image = presets.DEBIAN_IMAGES[case["generation"]]
    page = 16384 if case["generation"].endswith("16k") else 4096
    initrd = (fw.initrd[0] & -page, -(-fw.initrd[1] // page) * page)
    assert got[0] == initrd
    assert got[1][1] == fw.kernel_text + image.end  # from _text (5.10) or _stext (6.1+): the end says where


# The memory attributes table's address (the "MEMATTR=" of the kernel's first efi: line, printed on every
# boot) against the model, on every UEFI boot: efi=debug or not, ACPI or acpi=off (Edk2Build.memattr_offset).
# every boot whose log kept the kernel's first efi: line (a memblock=debug boot without earlycon loses it)
ALL = sorted(p for p in DATA.glob("*") if (p / "serial.log").exists()
             and "MEMATTR=" in (p / "serial.log").read_text(errors="replace"))
# (6.1 acpi=off is no longer here: efi.image_protection_splits.)
MEMATTR_KNOWN: dict[str, str] = {}
MEMATTR = [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=MEMATTR_KNOWN[p.name]))
           if p.name in MEMATTR_KNOWN else p for p in ALL]


@pytest.mark.parametrize("case_dir", MEMATTR, ids=lambda p: p.name)
def test_memory_attributes_table_address(case_dir: Path):
    case = json.loads((case_dir / "case.json").read_text())
    if case["generation"] not in presets.DEBIAN_IMAGES:
        pytest.skip(f"no Debian image facts for {case['generation']}")
    real = re.search(r"MEMATTR=0x([0-9a-f]+)", (case_dir / "serial.log").read_text(errors="replace"))
    assert real is not None
    assert _model(case).memattr[0] == int(real[1], 16)
