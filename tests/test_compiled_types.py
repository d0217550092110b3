"""The modules the opt-in compiled build compiles (pyproject.toml's mypyc hook, its ``include`` list) type-check
as that build checks them, so a change that mypyc would refuse fails here, in the default run, and not only in
`.ci/compiled`. mypyc also checks the annotations at run time; `.ci/compiled` runs the tests against the build."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _hook() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "hooks"]["mypyc"]


def test_the_hook_is_opt_in() -> None:
    hook = _hook()
    assert hook["enable-by-default"] is False
    assert all((ROOT / p.lstrip("/")).is_file() for p in hook["include"])


def _mypy_api():  # noqa: ANN202
    """mypy (the test extras); a venv made before it joined them skips, CI (KDUMPLAB_REQUIRE_TOOLS=1) fails."""
    try:
        from mypy import api  # noqa: PLC0415
    except ImportError:
        if os.environ.get("KDUMPLAB_REQUIRE_TOOLS") == "1":
            pytest.fail("mypy is required (pip install -e '.[test]')")
        pytest.skip("mypy not installed: pip install -e '.[test]'")
    return api


def test_the_tests_check_with_the_hooks_mypy() -> None:
    _mypy_api()
    from importlib.metadata import version  # noqa: PLC0415

    assert f"mypy=={version('mypy')}" in _hook()["dependencies"]


def test_compiled_modules_type_check(tmp_path: Path) -> None:
    api = _mypy_api()
    hook = _hook()
    files = [str(ROOT / p.lstrip("/")) for p in hook["include"]]
    out, err, status = api.run([*hook["mypy-args"], "--cache-dir", str(tmp_path), *files])
    assert status == 0, out + err
