"""``model.run`` reuses the early memblock state, the parsed crashkernel= and the cmdline facts between calls.

The property: whatever was computed before, a reused run equals a run that computes every stage afresh
(``reuse=False``), field by field, including memblock's allocation logs (which ``==`` on Memblock skips).
Runs are drawn in random orders over machines and command lines that share keys, so cache hits happen.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab import model
from kdumplab.iomem import Resource
from kdumplab.iomem_build import _reserve_all_with_split
from kdumplab.policy import POLICY_NAMES
from kdumplab.presets import DEBIAN_IMAGES, qemu_virt

G, M = 1 << 30, 1 << 20
KERNELS = POLICY_NAMES("arm64")  # every row, so a new generation is covered when it lands
TOKENS = ("crashkernel=512M", "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M", "crashkernel=3G",
          "crashkernel=1G,high", "crashkernel=128M,low", "crashkernel=256M@0x80000000", "cma=64M", "cma=0",
          "rodata=full", "debug_pagealloc=on", "crashkernel=64M,cma", "crashkernel=x", "quiet",
          "crashkernel=0-2G:128M,2G-:384M@1G")

machines = st.builds(
    lambda mem_mib, halves, initrd, kernel: qemu_virt(
        mem_mib * M, numa=(mem_mib * M // 2, mem_mib * M // 2) if halves else None, initrd_size=initrd,
        kernel=kernel if kernel in DEBIAN_IMAGES else "5.10"),
    st.integers(512, 40 * 1024).map(lambda n: n - n % 4),
    st.booleans(), st.sampled_from((0, 0xF2000, 30 << 20)), st.sampled_from(KERNELS))
scenarios = st.builds(model.Scenario, machines, st.lists(st.sampled_from(TOKENS), max_size=4).map(" ".join),
                      st.sampled_from(KERNELS), st.sampled_from((None, "2.0.20", "2.0.32")))


def _same(a: model.Result, b: model.Result) -> None:
    assert a == b
    # made on first use (the reused run prints no text for kexec-tools: it hands over the tree's lines)
    assert a.iomem_text == b.iomem_text and a.crash_view == b.crash_view and a.linear_map == b.linear_map
    assert a.memblock.log == b.memblock.log and a.final_memblock.log == b.final_memblock.log


@settings(max_examples=60, deadline=None)
@given(st.lists(scenarios, min_size=1, max_size=6), st.data())
def test_reused_run_equals_fresh_run(batch, data):
    # the same machines again with other command lines and kernels: the reused state is hit
    batch += [model.Scenario(s.machine, data.draw(st.sampled_from(TOKENS)), data.draw(st.sampled_from(KERNELS)))
              for s in batch]
    for sc in data.draw(st.permutations(batch)):
        _same(model.run(sc), model.run(sc, reuse=False))


regions = st.lists(st.tuples(st.integers(0, 256), st.integers(0, 64)), max_size=8).map(
    lambda xs: sorted((s * 0x400, n * 0x400) for s, n in xs))


@settings(max_examples=300, deadline=None)
@given(regions, st.lists(st.tuples(st.integers(0, 80), st.integers(0, 8)), max_size=4),
       st.sampled_from((0x1000, 0x4000)), st.integers(0, 4))
def test_one_pass_split_equals_call_by_call(reserved, kids, page, first):
    """build_iomem's one-pass split of memblock's reserved regions (rounded out to pages) is reserve_with_split
    called once per region (which sorts the children and the new pieces by address, a child first where both
    start at one address: empty children are drawn too)."""
    from kdumplab.iomem import reserve_with_split
    from kdumplab.memblock import Region

    children, cursor = [], 0x1000
    for i, (gap, size) in enumerate(kids):  # non-overlapping, sorted children such as Kernel code / Crash kernel
        start = cursor + gap * 0x1000
        children.append(Resource(start, start + size * 0x1000, f"child {i}"))
        cursor = start + size * 0x1000
    parent = Resource(0x1000, 0x40000, "System RAM", tuple(children))
    step = parent
    for base, size in reserved[first:]:
        step = reserve_with_split(step, base // page * page, -(-(base + size) // page) * page)
    made = tuple(Region(base, size) for base, size in reserved)
    kids = _reserve_all_with_split(parent.start, parent.end, parent.children, made, first, page)
    assert Resource(parent.start, parent.end, parent.name, kids) == step


# -- the sweep's fast path: model.outcome and sweep.point against the plain, fresh model.run ----------------

from kdumplab import sweep  # noqa: E402
from kdumplab.presets.q35 import qemu_q35  # noqa: E402

X86_KERNELS = POLICY_NAMES("x86_64")
any_machine = st.one_of(
    machines,
    st.builds(lambda mem_mib, kernel: qemu_virt(mem_mib * M, kernel=kernel, firmware="uefi"),
              st.integers(1024, 16 * 1024).map(lambda n: n - n % 2), st.sampled_from(("5.10", "6.1", "6.12", "7.2"))),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.builds(model.Scenario, any_machine, st.lists(st.sampled_from(TOKENS), max_size=4).map(" ".join),
                          st.sampled_from(KERNELS)), min_size=1, max_size=4))
def test_outcome_equals_the_fresh_runs_outcome(batch):
    for sc in batch:
        assert model.outcome(sc) == model.run(sc, reuse=False).outcome


@settings(max_examples=25, deadline=None)
@given(st.integers(1024, 64 * 1024).map(lambda n: n - n % 2), st.sampled_from(X86_KERNELS),
       st.lists(st.sampled_from(TOKENS), max_size=3).map(" ".join))
def test_outcome_equals_the_fresh_runs_outcome_x86(mem_mib, kernel, line):
    sc = model.Scenario(qemu_q35(mem_mib * M, kernel=kernel if kernel in ("5.10", "6.1", "6.12") else "6.1"),
                        line, kernel)
    assert model.outcome(sc) == model.run(sc, reuse=False).outcome


def _plain_point(kernel: str, mem: int, cmdline: str, kexec_tools: str | None) -> sweep.Point:
    """What a sweep point says, read off a fresh ``model.run`` (no reuse, every stage computed)."""
    res = model.run(model.Scenario(sweep._machine(kernel, mem), cmdline, kernel, kexec_tools), reuse=False)
    out, main = res.outcome, res.outcome.main
    kexec = "" if res.kexec is None or main is None else ("loads" if res.kexec.loaded else "refuses")
    return sweep.Point(kernel, mem, out.verdict.value, "" if main is None else ("high" if main.high else "low"),
                       any(r.start < out.low_max for r in out.regions), kexec,
                       tuple((r.role.value, r.start, r.end) for r in out.regions), out.reason)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KERNELS), st.lists(st.integers(64, 48 * 1024), min_size=1, max_size=8),
       st.lists(st.sampled_from(TOKENS), max_size=4).map(" ".join), st.sampled_from((None, "2.0.20", "2.0.32")))
def test_sweep_chunk_equals_plain_runs(kernel, mems_2m, line, kexec_tools):
    """A sweep task (sizes in a row, as a worker runs them, with everything it reuses) gives, point for point,
    what a fresh model.run says at each size."""
    mems = tuple(n * 2 * M for n in mems_2m)
    assert sweep.sweep_chunk((kernel, mems, line, kexec_tools)) == [
        _plain_point(kernel, mem, line, kexec_tools) for mem in mems]
