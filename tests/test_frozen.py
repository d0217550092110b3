"""kdumplab.frozen.maker: an instance it makes equals the one the class's own constructor makes.

These run in the pure build (slotted dataclasses, the ``exec`` road) and, in `.ci/compiled`, against the
mypyc-compiled modules (native classes without ``__slots__``, the native roads written beside each maker line),
so both roads of ``maker`` are proved on every class that uses it (``frozen.MAKERS``)."""

import dataclasses
import inspect
import os
from dataclasses import dataclass

import pytest

from kdumplab import early, iomem, kexec, memblock, model, reserve, sweep  # noqa: F401 - every module with makers
from kdumplab.frozen import MAKERS, attributes, compiled, maker
from kdumplab.machine import Machine
from kdumplab.presets import qemu_virt

G = 1 << 30


@pytest.fixture(autouse=True)
def _keep_the_registry():
    """Makers these tests make for themselves leave ``frozen.MAKERS`` as the model's modules made it."""
    saved = list(MAKERS)
    yield
    MAKERS[:] = saved


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


def _reachable(*roots: object) -> dict[type, object]:
    """One instance of each dataclass reachable from ``roots`` (fields, tuples, lists), by class."""
    found: dict[type, object] = {}
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        o = todo.pop()
        if id(o) in seen or isinstance(o, (str, bytes, int, float, type)) or o is None:
            continue
        seen.add(id(o))
        if isinstance(o, (tuple, list)):
            todo.extend(o)
        elif dataclasses.is_dataclass(o):
            found.setdefault(type(o), o)
            todo.extend(getattr(o, f.name) for f in dataclasses.fields(o))
    return found


@pytest.fixture(scope="module")
def samples() -> dict[type, object]:
    """Instances of every class a maker builds: as the model makes them (a boot with kexec-tools 2.0.32, run
    and its _boot stage, its /proc/iomem lines as kexec-tools reads them, a sweep's runs), and the working
    objects no result holds, made by their own constructors from that boot's values."""
    scenario = model.Scenario(qemu_virt(6 * G, kernel="6.12"), "crashkernel=1G-4G:192M,4G-:256M", "6.12", "2.0.32")
    result = model.run(scenario)
    boot = model._boot(scenario, True, False)
    runs = sweep.sweep_runs(("6.12", (G, 2 * G, 8 * G), "crashkernel=1G-4G:192M,4G-:256M", "2.0.32"))
    found = _reachable(result, boot, kexec.iomem_lines(result.iomem), runs)
    out = boot.outcome
    working = (
        reserve.Placement(out.regions, out.log, out.reason, boot.at_reservation),
        model._EarlyState(boot.at_reservation, boot.low_max, out.early, (), boot.free_after_sparse),
    )
    for o in working:
        found.setdefault(type(o), o)
    return found


def test_every_maker_has_a_native_road_with_its_names():
    """Each maker line has a compiled road beside it, taking the maker's attribute names in order (maker
    refuses other names; this also catches a maker line that gives none)."""
    assert len(MAKERS) >= 16
    for m in MAKERS:
        assert m.native is not None, f"{m.cls.__name__}: maker without a native road"
        assert tuple(inspect.signature(m.native).parameters) == m.names


def test_the_native_road_is_taken_only_where_mypyc_compiled_the_class():
    """Interpreted, a native road would hit the frozen __setattr__: it is chosen only in the compiled build
    (and there for every class: KDUMPLAB_EXPECT_COMPILED=1 is the compiled test run)."""
    expect = os.environ.get("KDUMPLAB_EXPECT_COMPILED") == "1"
    for m in MAKERS:
        assert compiled(m.cls) is expect, m.cls.__name__
        assert (m.make is m.native) is expect, m.cls.__name__


def test_a_native_road_with_other_names_is_refused():
    def _region(base, size, nid, end, flags):  # noqa: ANN001, ANN202 - names in another order
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="native road"):
        maker(memblock.Region, ("base", "size", "nid", "flags", "end"), _region)


def test_every_maker_makes_what_the_constructor_makes(samples):
    """For every maker (in the compiled run: every native road): given the attribute values of an instance the
    model made, it makes an instance equal, equal-hashing and attribute-by-attribute the same as the class's own
    constructor (``dataclasses.replace``: __init__ and __post_init__) makes, and frozen from Python."""
    for m in MAKERS:
        assert m.cls in samples, f"no {m.cls.__name__} made by the sample runs: add one to samples()"
        obj = samples[m.cls]
        made = m.make(*(getattr(obj, n) for n in m.names))
        ref = dataclasses.replace(obj)
        assert type(made) is m.cls
        assert made == ref, m.cls.__name__
        assert all(getattr(made, n) == getattr(ref, n) for n in attributes(m.cls)), m.cls.__name__
        if m.cls.__hash__ is not None:
            assert hash(made) == hash(ref), m.cls.__name__
        if m.cls.__dataclass_params__.frozen:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(made, m.names[0], getattr(obj, m.names[0]))


def test_defaults_are_the_class_defaults(samples):
    """A maker whose native road has defaults, called by keyword with only the fields without one, makes what
    the class makes from those (both roads: the exec function takes the native road's defaults)."""
    with_defaults = 0
    for m in MAKERS:
        params = inspect.signature(m.native).parameters
        given = {n: getattr(samples[m.cls], n) for n, p in params.items() if p.default is p.empty}
        if len(given) < len(params):
            with_defaults += 1
            made, ref = m.make(**given), m.cls(**given)
            assert all(getattr(made, n) == getattr(ref, n) for n in attributes(m.cls)), m.cls.__name__
    assert with_defaults >= 3  # Result, Placement, Bank, ... (a test that checks nothing would pass too)


def test_a_native_default_other_than_the_class_default_is_refused():
    def _crash_request(size, base, high, low_size, cma_size=1):  # noqa: ANN001, ANN202
        raise AssertionError("never called")

    from kdumplab.cmdline import CrashRequest  # noqa: PLC0415

    with pytest.raises(TypeError, match="default"):
        maker(CrashRequest, ("size", "base", "high", "low_size", "cma_size"), _crash_request)


def test_checked_range_keeps_the_check():
    """ranges.checked_range makes what PhysRange makes, and refuses what PhysRange refuses (kexec's spans of
    /proc/iomem text go through it)."""
    from kdumplab.ranges import PhysRange, checked_range  # noqa: PLC0415

    assert checked_range(0x4000_0000, 0x8000_0000) == PhysRange(0x4000_0000, 0x8000_0000)
    for start, end in ((0x2000, 0x1000), (-1, 5)):
        with pytest.raises(ValueError, match="bad range"):
            PhysRange(start, end)
        with pytest.raises(ValueError, match="bad range"):
            checked_range(start, end)
