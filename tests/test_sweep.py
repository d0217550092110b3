"""sweep: sizes, the fold into runs and boundaries, the back-ends, the CLI.

Anchors from recorded boots (tests/data/boots): on qemu-virt with 8 GiB, ``crashkernel=3G`` fails on 5.10
("cannot allocate crashkernel (size:0xc0000000)", 5.10-nofit-low-3G) and on 6.12 falls back above the DMA
limit with a 128 MiB low region (6.12-nofit-low-3G).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from kdumplab import model, sweep
from kdumplab.cli import main
from kdumplab.errors import KdumplabError
from kdumplab.parallel import Backend
from kdumplab.render.sweep import sweep_html, sweep_json, sweep_svg, sweep_text
from kdumplab.tools.sweep import resolve_kernels, resolve_kexec_tools, run_sweep

G, M = 1 << 30, 1 << 20


def test_mem_range_and_step():
    assert sweep.parse_mem_range("1G..4T") == (G, 4 << 40)
    assert sweep.default_step(G, 4 << 40) == G  # 4096 sizes of 1 GiB
    assert sweep.default_step(G, 64 * G) == 16 * M
    assert sweep.sizes(G, 3 * G + 512 * M, G) == [G, 2 * G, 3 * G, 3 * G + 512 * M]  # the end is always in
    for bad in ("4G", "8G..4G", "64M..1G", "1G..3000001K"):
        with pytest.raises(KdumplabError):
            sweep.parse_mem_range(bad)
    with pytest.raises(KdumplabError):
        sweep.sizes(G, 2 * G, 3 * M)


def test_recorded_boots_at_8g():
    assert sweep.point("5.10", 8 * G, "crashkernel=3G", None).verdict == "failed"
    p = sweep.point("6.12", 8 * G, "crashkernel=3G", None)
    assert (p.verdict, p.where, p.low_memory) == ("reserved", "high", True)
    assert [(r, s, e) for r, s, e in p.regions] == [("low", 0xF4000000, 0xFC000000),
                                                     ("main", 0x176E00000, 0x236E00000)]


def _sweep(jobs: int, dask: str | None = None):
    return run_sweep("crashkernel=3G", "2G..12G", "1G", ("5.10", "6.12"), None, Backend(jobs, dask))


def test_runs_fold_model_points_and_boundaries_are_changes():
    s = _sweep(1)
    assert s.points == 22
    for r in s.runs:  # every run's sample is model.run at its first size; its last size has the same key
        assert sweep.point(r.kernel, r.first, s.cmdline, None) == r.sample
        assert sweep.point(r.kernel, r.last, s.cmdline, None).key == r.sample.key
    for a, b in s.boundaries():
        assert a.kernel == b.kernel and a.last + s.step == b.first and a.sample.key != b.sample.key
    # 5.10: 3 GiB never fits below 4 GiB with the early allocations there: not reserved at any size
    assert [(r.first, r.last, r.sample.verdict) for r in s.runs if r.kernel == "5.10"] == [(2 * G, 12 * G, "failed")]
    assert s.failing


def test_pool_gives_the_serial_answer():
    assert _sweep(2) == _sweep(1)


def test_renderings():
    s = _sweep(1)
    doc = json.loads(sweep_json(s))
    assert doc["step"] == G and doc["scenarios"] == 22 and doc["model_only_above"] is None
    assert {b["kernel"] for b in doc["boundaries"]} <= {"5.10", "6.12"}
    assert "boundaries" in sweep_text(s) and "in steps of 1G" in sweep_text(s)
    svg = sweep_svg(s)
    assert svg.count('class="run"') == len(s.runs)
    assert "<svg" in sweep_html(s)


def test_resolve_names():
    assert resolve_kernels("all")[:4] == ("5.10", "6.1", "6.12", "7.2")
    assert resolve_kernels("6.1.0-27-arm64,7.2") == ("6.1", "7.2")
    assert resolve_kexec_tools(None) == "2.0.32" and resolve_kexec_tools("none") is None
    with pytest.raises(KdumplabError):
        resolve_kexec_tools("1.0")


def test_large_machines_and_the_model_only_note():
    # past 255 GiB QEMU moves its high PCI windows above RAM (presets.qemu_virt_high_io)
    p = sweep.point("6.1", 1 << 40, "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M", "2.0.32")
    assert p.verdict == "reserved" and p.kexec == "loads" and p.regions[0][2] - p.regions[0][1] == 512 * M
    s = run_sweep("crashkernel=512M", "60G..70G", "2G", ("6.1",), None, Backend(1))
    assert s.model_only_above == 64 * G and "the model's alone" in sweep_text(s)


def test_cli_json_exit_codes_and_bad_input(tmp_path):
    r = CliRunner().invoke(main, ["sweep", "--cmdline", "crashkernel=256M", "--mem", "1G..3G", "--step", "1G",
                                  "--kernel", "6.1,6.12", "--jobs", "1", "--json", "--svg", str(tmp_path / "s.svg")])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)  # exactly one document, no progress text mixed in
    assert doc["kernels"] == ["6.1", "6.12"] and doc["kexec_tools"] == "2.0.32"
    assert (tmp_path / "s.svg").read_text().startswith("<svg")
    r = CliRunner().invoke(main, ["sweep", "--cmdline", "crashkernel=3G", "--mem", "6G..8G", "--step", "2G",
                                  "--kernel", "5.10", "--jobs", "1"])
    assert r.exit_code == 1 and "not reserved" in r.output
    r = CliRunner().invoke(main, ["sweep", "--cmdline", "crashkernel=3G", "--mem", "8G..6G"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "--mem" in r.output


def test_model_run_agrees_with_point():
    sc = model.Scenario(sweep._machine("7.2", 6 * G), "crashkernel=1G,high", "7.2", "2.0.20")
    res = model.run(sc)
    p = sweep.point("7.2", 6 * G, "crashkernel=1G,high", "2.0.20")
    assert p.regions == tuple((r.role.value, r.start, r.end) for r in res.outcome.regions)
    assert p.kexec == ("loads" if res.kexec.loaded else "refuses")


def _pt(kernel: str, mem: int, verdict: str) -> sweep.Point:
    return sweep.Point(kernel, mem, verdict, "", False, "", (), "")


@pytest.mark.parametrize("cuts", [(1,), (2, 5), (3,), (1, 2, 3, 4, 5, 6, 7), ()])
def test_runs_folded_per_block_then_joined_equal_points_folded_one_by_one(cuts):
    """A worker folds its block of sizes into runs and the parent joins the blocks: the same runs (first, last
    and sample) as folding every point in order, wherever the blocks are cut."""
    pts = [_pt("6.1", n, v) for n, v in enumerate("aabbbab")] + [_pt("6.12", n, v) for n, v in enumerate("bba")]
    whole = sweep.extend_runs([], pts)
    joined: list[sweep.Run] = []
    edges = (0, *cuts, len(pts))
    for a, b in zip(edges, edges[1:], strict=False):
        sweep.join_runs(joined, sweep.extend_runs([], pts[a:b]))
    assert joined == whole


def _fold_one_by_one(runs: list[sweep.Run], points: list[sweep.Point]) -> list[sweep.Run]:
    """The fold as the rule says it, one point at a time (the reference for extend_runs, which makes each run
    once when it ends)."""
    for p in points:
        last = runs[-1] if runs else None
        if last is not None and last.kernel == p.kernel and last.sample.key == p.key:
            runs[-1] = sweep.Run(last.kernel, last.first, p.mem, last.sample)
        else:
            runs.append(sweep.Run(p.kernel, p.mem, p.mem, p))
    return runs


@given(st.lists(st.tuples(st.sampled_from(["6.1", "6.12"]), st.sampled_from("ab")), max_size=12),
       st.integers(min_value=0, max_value=12))
def test_extend_runs_equals_folding_one_point_at_a_time(marks: list[tuple[str, str]], cut: int) -> None:
    pts = [_pt(k, n, v) for n, (k, v) in enumerate(marks)]
    before = _fold_one_by_one([], pts[:cut])
    assert sweep.extend_runs(list(before), pts[cut:]) == _fold_one_by_one(list(before), pts[cut:])
