"""Fuzz the DTB reader (the running kernel's /sys/firmware/fdt given as --base-dtb) and the recording readers
(case.json, cycle.json): mutated real inputs and random ones give a result or one line."""

from __future__ import annotations

import json
from pathlib import Path

import fdt
from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab.artifacts import crash_dtb
from kdumplab.lab.cycle import Cycle
from kdumplab.lab.observe import Observation
from tests.fuzz.util import cli_ok_or_exit_2, result_or_one_line
from tests.test_artifacts import LOAD, root_cells_dtb

DATA = Path(__file__).parents[1] / "data"


_SEEDS = [root_cells_dtb(c) for c in (2, 1, None, [1, 2], "x", 0)]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    blob = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, len(blob) - 1))
        blob[i] = draw(st.integers(0, 255))
    cut = draw(st.none() | st.integers(0, len(blob)))
    return bytes(blob[:cut] if cut is not None else blob)


@settings(settings.get_profile("fuzz"))
@given(blob=_mutated() | st.binary(max_size=200))
def test_dtb_input(blob: bytes) -> None:
    out = result_or_one_line(crash_dtb, blob, LOAD, "console=ttyAMA0", "base.dtb")
    if isinstance(out, bytes):
        assert fdt.parse_dtb(out).exist_node("chosen")


def test_dtb_input_through_the_cli(tmp_path: Path) -> None:
    for i, blob in enumerate(_SEEDS + [b"", b"\xd0\x0d\xfe\xed" + bytes(36)]):
        base = tmp_path / f"b{i}.dtb"
        base.write_bytes(blob)
        assert cli_ok_or_exit_2(["plan", "--kexec-tools", "2.0.25", "--base-dtb", str(base),
                                 "--emit-dtb", str(tmp_path / "out.dtb")]) in (0, 1, 2, 3)


_CASE = sorted((DATA / "boots").glob("*/case.json"))[0].read_text()
_CYCLE = sorted((DATA / "cycles").glob("*/cycle.json"))[0].read_text()
_VALUES = st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.floats() | st.text(max_size=8) \
    | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [prefix] + [p for k, v in node.items() for p in _paths(v, (*prefix, k))]
    if isinstance(node, list):
        return [prefix] + [p for i, v in enumerate(node[:3]) for p in _paths(v, (*prefix, i))]
    return [prefix]


@st.composite
def _json_mutation(draw: st.DrawFn, text: str) -> str:
    doc = json.loads(text)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in _paths(doc) if p]))
        node = doc
        for key in path[:-1]:
            node = node[key]
        if draw(st.booleans()):
            node[path[-1]] = draw(_VALUES)
        elif isinstance(node, dict):
            del node[path[-1]]
    out = json.dumps(doc)
    cut = draw(st.none() | st.integers(0, len(out)))
    return out if cut is None else out[:cut]


@settings(settings.get_profile("fuzz"))
@given(text=_json_mutation(_CASE) | st.text(max_size=50))
def test_case_json(text: str) -> None:
    result_or_one_line(Observation.from_json, text)


@settings(settings.get_profile("fuzz"))
@given(text=_json_mutation(_CYCLE))
def test_cycle_json(text: str) -> None:
    result_or_one_line(Cycle.from_json, text, "cycle.json")
