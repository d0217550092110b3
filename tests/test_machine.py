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
    ("[[bank]]\nstart = 0\nsize = '1G'\n[[bank]]\nstart = '512M'\nsize = '1G'\n", "overlap"),
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
