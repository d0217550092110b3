"""One crashkernel= line over every RAM size and kernel generation: where the verdict changes.

A distribution ships one default (``crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M``) for machines of every
size. For each generation and each RAM size of a range, the model answers: is a region reserved, where
(below or above the DMA limit), does the crash kernel get memory below that limit, and would the chosen
kexec-tools load the crash kernel into it. Consecutive sizes with the same answer form a run; the sizes
where the answer changes are the boundaries, known to within one step.

The machine is ``qemu-virt`` grown to each size (what the lab boots); every point is ``model.run`` with
reuse. Sizes above what the lab can boot under TCG (``LAB_MAX``) are the model's alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Final

from kdumplab import model, presets
from kdumplab.errors import KdumplabError
from kdumplab.frozen import maker, picklable
from kdumplab.machine import Machine
from kdumplab.ranges import SZ_1G, SZ_2M, SZ_128M, format_size, parse_size

__all__ = ["Point", "Run", "Sweep", "parse_mem_range", "default_step", "sizes", "sweep_chunk", "sweep_runs",
           "extend_runs", "join_runs", "LAB_MAX", "MAX_POINTS_DEFAULT"]

#: the largest guest the lab boots under TCG in reasonable time (docs/lab.md); above it, model only
LAB_MAX = 64 * SZ_1G
#: the default step keeps a sweep at most this many sizes per generation
MAX_POINTS_DEFAULT = 4096


@dataclass(frozen=True, slots=True)
class Point:
    """One generation at one RAM size."""

    kernel: str
    mem: int
    verdict: str  # reserved | failed | none (outcome.Verdict)
    where: str  # "low", "high", "" (nothing reserved): where the main region is, against the DMA limit
    low_memory: bool  # some crash region lies below the DMA limit (the crash kernel gets ZONE_DMA memory)
    kexec: str  # "loads", "refuses", "" (not asked, or nothing to load into)
    regions: tuple[tuple[str, int, int], ...]  # (role, start, end exclusive)
    reason: str

    @property
    def key(self) -> tuple[str, str, bool, str]:
        """What a boundary is a change of (addresses move with every size; these do not)."""
        return (self.verdict, self.where, self.low_memory, self.kexec)

    def label(self) -> str:
        if self.verdict != "reserved":
            return "not reserved" if self.verdict == "failed" else "nothing asked"
        text = f"reserved {self.where}" + ("" if self.low_memory else ", no low memory")
        if self.kexec:
            text += f", kexec {self.kexec}"
        return text


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive sizes of one generation with the same key."""

    kernel: str
    first: int  # smallest size in the run
    last: int  # largest size in the run
    sample: Point  # the run's first point


@dataclass(frozen=True, slots=True)
class Sweep:
    cmdline: str
    machine: str
    kernels: tuple[str, ...]
    start: int
    end: int
    step: int
    kexec_tools: str | None
    runs: tuple[Run, ...]
    points: int

    @property
    def model_only_above(self) -> int | None:
        return LAB_MAX if self.end > LAB_MAX else None

    def boundaries(self) -> Iterator[tuple[Run, Run]]:
        """Pairs of neighbouring runs of one generation: the answer changes between a.last and b.first."""
        for a, b in zip(self.runs, self.runs[1:], strict=False):
            if a.kernel == b.kernel:
                yield a, b

    @property
    def failing(self) -> bool:
        """Some size does not reserve, or kexec-tools would refuse to load."""
        return any(r.sample.verdict != "reserved" or r.sample.kexec == "refuses" for r in self.runs)


picklable(Point, Run, Sweep)  # a pool's workers send them back (kdumplab.frozen: for the compiled build)


def parse_mem_range(text: str) -> tuple[int, int]:
    """``1G..4T`` (both ends included)."""
    lo, sep, hi = text.partition("..")
    if not sep:
        raise KdumplabError("--mem", f"not a range: {text!r}", "write FROM..TO, e.g. 1G..4T")
    start, end = parse_size(lo, "--mem"), parse_size(hi, "--mem")
    if start < SZ_128M:
        raise KdumplabError("--mem", f"{lo}: the qemu-virt machine needs at least 128M")
    if end < start:
        raise KdumplabError("--mem", f"{text!r}: the end is below the start")
    if start % SZ_2M or end % SZ_2M:
        raise KdumplabError("--mem", f"{text!r}: qemu-virt RAM sizes are whole multiples of 2M")
    return start, end


def default_step(start: int, end: int, max_points: int = MAX_POINTS_DEFAULT) -> int:
    """The smallest power-of-two multiple of 2 MiB that keeps the sweep at ``max_points`` sizes or fewer."""
    step = SZ_2M
    while (end - start) // step + 1 > max_points:
        step *= 2
    return step


def sizes(start: int, end: int, step: int) -> list[int]:
    """``start, start + step, ...`` up to ``end``; ``end`` itself is always included."""
    if step <= 0 or step % SZ_2M:
        raise KdumplabError("--step", f"{format_size(step)}: must be a positive multiple of 2M")
    out = list(range(start, end + 1, step))
    if out[-1] != end:
        out.append(end)
    return out


def _image(kernel: str) -> str:
    """The Debian image qemu-virt loads for ``kernel``: its own, or 6.1's for a kernel without one (the 2019
    proposals)."""
    return kernel if kernel in presets.DEBIAN_IMAGES else "6.1"


def _machine(kernel: str, mem: int) -> model.Machine:
    """qemu-virt with ``mem`` of RAM and the Debian image of ``kernel`` (:func:`_image`): a sweep's machine."""
    return presets.qemu_virt(mem, kernel=_image(kernel))


def _native_point(kernel: str, mem: int, verdict: str, where: str, low_memory: bool, kexec: str,
                  regions: tuple[tuple[str, int, int], ...], reason: str) -> Point:
    """``Point(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = Point.__new__(Point)
    o.kernel = kernel  # type: ignore[misc]
    o.mem = mem  # type: ignore[misc]
    o.verdict = verdict  # type: ignore[misc]
    o.where = where  # type: ignore[misc]
    o.low_memory = low_memory  # type: ignore[misc]
    o.kexec = kexec  # type: ignore[misc]
    o.regions = regions  # type: ignore[misc]
    o.reason = reason  # type: ignore[misc]
    return o


def _native_run(kernel: str, first: int, last: int, sample: Point) -> Run:
    """``Run(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = Run.__new__(Run)
    o.kernel = kernel  # type: ignore[misc]
    o.first = first  # type: ignore[misc]
    o.last = last  # type: ignore[misc]
    o.sample = sample  # type: ignore[misc]
    return o


def _native_scenario(machine: Machine, cmdline: str, kernel: str, kexec_tools: str | None,
                     crash_initrd_size: int | None, crash_cmdline: str | None,
                     kaslr_tables: tuple[int, int]) -> model.Scenario:
    """``Scenario(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = model.Scenario.__new__(model.Scenario)
    o.machine = machine  # type: ignore[misc]
    o.cmdline = cmdline  # type: ignore[misc]
    o.kernel = kernel  # type: ignore[misc]
    o.kexec_tools = kexec_tools  # type: ignore[misc]
    o.crash_initrd_size = crash_initrd_size  # type: ignore[misc]
    o.crash_cmdline = crash_cmdline  # type: ignore[misc]
    o.kaslr_tables = kaslr_tables  # type: ignore[misc]
    return o


#: Point, Run and model.Scenario made from every field in order (kdumplab.frozen; a sweep makes them per size):
#: they refuse to be built if a class gains a field this module does not fill
_make_point: Final = maker(Point, tuple(f.name for f in fields(Point)), _native_point)
_make_run: Final = maker(Run, tuple(f.name for f in fields(Run)), _native_run)
_make_scenario: Final = maker(model.Scenario, tuple(f.name for f in fields(model.Scenario)), _native_scenario)


def point(kernel: str, mem: int, cmdline: str, kexec_tools: str | None) -> Point:
    """model.run at one size (without kexec-tools, only the stages up to the reservation: ``model.outcome``).
    The model's caches are left alone: each size is a new machine, so no key would ever be found again."""
    return _point(kernel, _image(kernel), mem, cmdline, kexec_tools)


def _point(kernel: str, image: str, mem: int, cmdline: str, kexec_tools: str | None) -> Point:
    """:func:`point` with the image of ``kernel`` already chosen (once per block of sizes)."""
    # qemu-virt with ``mem`` of RAM and the Debian image; the scenario's other inputs at their defaults
    scenario = _make_scenario(presets.qemu_virt(mem, kernel=image), cmdline, kernel, kexec_tools, None, None, (0, 0))
    kexec = ""
    if kexec_tools is None:
        out = model.outcome(scenario, cache=False)
    else:
        res = model.run(scenario, cache=False)
        out = res.outcome
        if res.kexec is not None and out.main is not None:
            kexec = "loads" if res.kexec.loaded else "refuses"
    main = out.main
    low_max = out.low_max
    low_memory = False  # some crash region starts below the DMA limit (a loop: cheaper than any() of a generator)
    for r in out.regions:
        if r.start < low_max:
            low_memory = True
            break
    # ``_value_``: the enum's value as a plain attribute (``.value`` is a Python-level property)
    return _make_point(kernel, mem, out.verdict._value_, "" if main is None else ("high" if main.high else "low"),
                       low_memory, kexec, tuple([(r.role._value_, r.start, r.end) for r in out.regions]),
                       out.reason)


def sweep_chunk(task: tuple[str, tuple[int, ...], str, str | None]) -> list[Point]:
    """One task for the back-end: one generation over a block of sizes (a pool or Dask worker runs it)."""
    kernel, mems, cmdline, kexec_tools = task
    image = _image(kernel)
    return [_point(kernel, image, mem, cmdline, kexec_tools) for mem in mems]


def sweep_runs(task: tuple[str, tuple[int, ...], str, str | None]) -> list[Run]:
    """:func:`sweep_chunk` folded into runs where it ran: a worker sends back a few runs, not every point."""
    return extend_runs([], sweep_chunk(task))


def join_runs(runs: list[Run], more: list[Run]) -> list[Run]:
    """Append the runs of the next block of sizes (``more``, folded on their own) to ``runs``: the same runs
    as folding the block's points one by one (:func:`extend_runs`). A first run with the key of the last run
    of its generation continues it (keeping that run's sample); every later one starts after a change."""
    if more and runs and runs[-1].kernel == more[0].kernel and runs[-1].sample.key == more[0].sample.key:
        last = runs.pop()
        runs.append(Run(last.kernel, last.first, more[0].last, last.sample))
        more = more[1:]
    runs.extend(more)
    return runs


def extend_runs(runs: list[Run], points: list[Point]) -> list[Run]:
    """Fold points (in kernel order, then size order) onto ``runs``: a point with the key of the last run of
    its generation extends it, any other starts a run. (A run is made once, when it ends, not per point.)"""
    if not points:
        return runs
    sample: Point | None = None
    if runs:
        last = runs.pop()
        kernel, first, end, sample = last.kernel, last.first, last.last, last.sample
        key = sample.key
    for p in points:
        k = p.key
        if sample is not None and p.kernel == kernel and k == key:
            end = p.mem
            continue
        if sample is not None:
            runs.append(_make_run(kernel, first, end, sample))
        kernel, first, end, sample, key = p.kernel, p.mem, p.mem, p, k
    runs.append(_make_run(kernel, first, end, sample))
    return runs
