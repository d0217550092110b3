"""kdumplab.frozen.maker: an instance it makes equals the one the class's own constructor makes.

These run in the pure build (slotted dataclasses) and, in `.ci/compiled`, against the mypyc-compiled modules
(native classes without ``__slots__``), so both roads of ``maker`` are proved on the classes that use it."""

import dataclasses
from dataclasses import dataclass

import pytest

from kdumplab import iomem, kexec, memblock
from kdumplab.frozen import attributes, maker
from kdumplab.machine import Machine
from kdumplab.presets import qemu_virt

G = 1 << 30


def _values(obj: object) -> tuple:
    return tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))


@pytest.mark.parametrize("cls", [memblock.Region, memblock.Memblock, iomem.Resource, kexec.IomemLine, Machine])
def test_attributes_are_the_dataclass_fields(cls):
    assert sorted(attributes(cls)) == sorted(f.name for f in dataclasses.fields(cls))


def test_region_equals_constructor():
    r = memblock.Region(0x4000_0000, 0x20_0000, 1, memblock.Flag.NOMAP)
    made = maker(memblock.Region, ("base", "size", "nid", "flags", "end"))(*_values(r))
    assert type(made) is memblock.Region
    assert made == r and made.end == r.end == 0x4020_0000 and hash(made) == hash(r)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.base = 0  # type: ignore[misc]


def test_fields_given_in_another_order():
    code = iomem.Resource(0x4020_0000, 0x4100_0000, "Kernel code")
    res = iomem.Resource(0x4000_0000, 0x8000_0000, "System RAM", (code,))
    made = maker(iomem.Resource, ("name", "children", "end", "start"))(res.name, res.children, res.end, res.start)
    assert made == res and made.children[0].name == "Kernel code"
    line = kexec.IomemLine(0x4000_0000, 0x7fff_ffff, "System RAM", 0)
    assert maker(kexec.IomemLine, ("start", "last", "name", "depth"))(*_values(line)) == line


def test_machine_equals_constructor():
    m = qemu_virt(4 * G, kernel="6.12")
    made = maker(Machine, tuple(f.name for f in dataclasses.fields(Machine)))(*_values(m))
    assert made == m and type(made) is Machine


def test_every_attribute_must_be_named():
    with pytest.raises(TypeError, match="Region"):
        maker(memblock.Region, ("base", "size", "nid", "flags"))


def test_a_class_without_slots_is_refused():
    @dataclass(frozen=True)
    class Plain:
        a: int

    with pytest.raises(TypeError, match="Plain"):
        maker(Plain, ("a",))


def test_sweep_results_survive_pickle():
    """A process pool sends Runs back; compiled frozen classes need frozen.picklable for that."""
    import pickle

    from kdumplab import sweep

    runs = sweep.sweep_runs(("6.12", (G, 2 * G, 8 * G), "crashkernel=1G-4G:192M,4G-:256M", "2.0.32"))
    back = pickle.loads(pickle.dumps(runs))
    assert back == runs and type(back[0]) is sweep.Run and type(back[0].sample) is sweep.Point
