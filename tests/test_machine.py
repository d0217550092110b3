"""Machine descriptions: TOML in, frozen values out, every mistake one line naming its key."""

from __future__ import annotations

import pytest

from kdumplab.errors import KdumplabError
from kdumplab.machine import load_machine
from kdumplab.presets import machine, preset_names, qemu_virt

GOOD = """
name = "two banks"
[[bank]]
start = "0x40000000"
size = "4G"
[[bank]]
start = 0x140000000
size = "4G"
node = 1
[[reserved]]
name = "firmware"
start = 0x50000000
size = "16M"
nomap = true
"""


def test_load():
    m = load_machine(GOOD)
    assert [(b.start, b.size, b.node) for b in m.banks] == [(0x4000_0000, 4 << 30, 0), (0x1_4000_0000, 4 << 30, 1)]
    assert m.reserved[0].nomap and m.ram_size == 8 << 30


@pytest.mark.parametrize("text,fragment", [
    ("name = 'x'\n", "no [[bank]]"),
    ("[[bank]]\nstart = 0\nsize = '1G'\n[[bank]]\nstart = 0x20000000\nsize = '1G'\n", "overlap"),
    ("[[bank]]\nstart = 0\nsize = 'lots'\n", "not a size"),
    ("[[bank]]\nstart = 0\nsize = 0x1_0000_0000_0000_0000\n", "2^64"),
    ("[[bank]]\nstart = 0\nsize = '1G'\ncolour = 'red'\n", "unknown key"),
    ("[[bank\n", "not valid TOML"),
    ("arch = 'sparc'\n[[bank]]\nstart = 0\nsize = '1G'\n", "unknown arch"),
    ("[[bank]]\nstart = 0\nsize = '1G'\nnomap = 'yes'\n", "true or false"),
])
def test_bad_input_is_one_clear_error(text, fragment):
    with pytest.raises(KdumplabError) as err:
        load_machine(text, "m.toml")
    assert fragment in err.value.one_line() and "\n" not in err.value.one_line()


def test_qemu_virt_places_like_qemu():
    m = qemu_virt(8 << 30, None, 987889, "6.1")
    assert (m.banks[0].start, m.banks[0].size) == (0x4000_0000, 8 << 30)
    assert (m.initrd.start, m.dtb.start, m.dtb.size) == (0x4800_0000, 0x4820_0000, 1 << 20)
    assert qemu_virt(256 << 20, None, 4096, "6.1").initrd.start == 0x4800_0000


def test_qemu_virt_numa_must_add_up():
    with pytest.raises(KdumplabError):
        qemu_virt(8 << 30, (2 << 30, 2 << 30))


def test_every_preset_loads():
    for name in preset_names():
        assert machine(name).ram_size > 0


# -- the description: round trip, the documented schema, file errors --------------------------------------

from pathlib import Path  # noqa: E402

from kdumplab.machine import machine_to_toml, read_machine_file, schema_markdown  # noqa: E402
from kdumplab.presets import qemu_virt_high_io  # noqa: E402


@pytest.mark.parametrize("m", [machine(n) for n in preset_names()] + [
    qemu_virt(16 << 30, (8 << 30, 8 << 30), 12345, "6.12"), qemu_virt(512 << 30, kernel="5.10")],
    ids=lambda m: m.name)
def test_saved_toml_loads_back_identically(m):
    text = machine_to_toml(m)
    assert load_machine(text, "saved.toml") == m
    assert machine_to_toml(load_machine(text, "saved.toml")) == text


def test_docs_machine_md_carries_the_generated_schema():
    doc = (Path(__file__).parent.parent / "docs" / "machine.md").read_text()
    assert schema_markdown() in doc


# Expected values: `qemu-system-aarch64 -M virt,dumpdtb=F,memory-backend=m0 -object memory-backend-ram,id=m0,
# size=MEM,reserve=off -cpu cortex-a57 -m MEM` (QEMU 7.2.22, Debian 1:7.2+dfsg-7+deb12u18), read back from the
# DTB's /pcie@10000000 reg (ECAM) and the 64-bit entry of its ranges (MMIO), 2026-11-30. 16T: QEMU refused
# with "Addressing limited to 44 bits, but memory exceeds it by 1073741824 bytes".
@pytest.mark.parametrize("mem,ecam,mmio", [
    ("8G", 0x40_1000_0000, 0x80_0000_0000), ("255G", 0x40_1000_0000, 0x80_0000_0000),
    ("256G", 0x40_5000_0000, 0x80_0000_0000), ("512G", 0x80_5000_0000, 0x100_0000_0000),
    ("1022G", 0xFF_D000_0000, 0x100_0000_0000), ("1023G", 0x100_1000_0000, 0x180_0000_0000),
    ("2T", 0x200_5000_0000, 0x280_0000_0000), ("15T", 0xF00_5000_0000, 0xF80_0000_0000),
])
def test_qemu_virt_high_io_moves_above_ram_like_qemu(mem, ecam, mmio):
    from kdumplab.ranges import parse_memory

    size = parse_memory(mem, "mem")
    assert qemu_virt_high_io(size) == ((ecam, 256 << 20, "PCI ECAM"), (mmio, 512 << 30, "pcie@10000000"))
    m = qemu_virt(size)
    assert all(not line.startswith(f"{ecam:x}") or "ECAM" in line for line in m.iomem_devices)
    assert m.ram_end <= ecam


def test_qemu_virt_refuses_what_qemu_refuses():
    with pytest.raises(KdumplabError, match="exceeds it by 1 GiB"):
        qemu_virt(16 << 40)


@pytest.mark.parametrize("text,fragment", [
    ("[[bank]]\nstart = 0x40000000\nsize = '1G'\n[kernel]\n", "kernel: needs load_address and stext"),
    ("[[bank]]\nstart = 0x40000000\nsize = '4096'\n", "has no unit"),
    ("[[bank]]\nstart = 0x40000000\nsize = '" + "9" * 5000 + "'\n", "not a size"),
    ("[[bank]]\nstart = 0x40000000\nsize = " + "9" * 5000 + "\n", "not valid TOML"),
    ("a = " + "[" * 100_000 + "\n", "not valid TOML"),
    ("[[bank]]\nstart = 0x1000000000000\nsize = '1G'\n", "48-bit physical address space"),
    ("[[bank]]\nstart = 0\nsize = '1G'\nnode = 5000\n", "node 5000"),
])
def test_toml_errors_name_the_file_and_key(text, fragment):
    with pytest.raises(KdumplabError) as err:
        load_machine(text, "m.toml")
    line = err.value.one_line()
    assert line.startswith("m.toml") and fragment in line and "\n" not in line and len(line) < 300


def test_key_errors_name_the_line():
    text = "name = 'x'\n[[bank]]\nstart = 0\nsize = '1G'\n[[bank]]\nstart = 0x80000000\nsize = '4096'\n[kernel]\n"
    with pytest.raises(KdumplabError) as err:
        load_machine(text, "m.toml")
    assert err.value.where == "m.toml:7" and err.value.what.startswith("bank[1].size: ")
    with pytest.raises(KdumplabError) as err:
        load_machine(text.replace("'4096'", "'4G'"), "m.toml")
    assert err.value.where == "m.toml:8" and err.value.what.startswith("kernel: needs load_address")


def test_toml_syntax_error_names_the_line():
    with pytest.raises(KdumplabError) as err:
        load_machine("name = 'x'\n\n[[bank\n", "m.toml")
    assert err.value.where == "m.toml:3"


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "latin.toml"
    bad.write_bytes(b"name = 'x'\nnotes = ['caf\xe9']\n")
    with pytest.raises(KdumplabError) as err:
        read_machine_file(str(bad))
    assert err.value.where == f"{bad}:2" and "UTF-8" in err.value.what
    with pytest.raises(KdumplabError, match="not a regular file"):
        read_machine_file(str(tmp_path))
    with pytest.raises(KdumplabError, match="cannot read"):
        read_machine_file(str(tmp_path / "missing.toml"))
