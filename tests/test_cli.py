"""The plan command as a user meets it: exit codes, one-line errors, the JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdumplab.cli import main

DOCS = Path(__file__).parent.parent / "docs" / "plan-json.md"


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_plan_runs_with_no_arguments():
    r = run("plan")
    assert r.exit_code == 0, r.output
    assert "Crash kernel" in r.output and "dc000000-fbffffff" in r.output


def test_plan_json_has_the_documented_keys():
    r = run("plan", "--kernel", "6.12", "--cmdline", "crashkernel=3G", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    documented = {line.split("`")[1] for line in DOCS.read_text().splitlines()
                  if line.startswith("| `") and not line.startswith("| `kdumplab")}
    assert documented <= set(doc), documented - set(doc)
    assert doc["schema"] == "kdumplab.plan/1"
    low, main_ = doc["regions"]
    assert (low["role"], low["start"], low["end"]) == ("low", 0xF400_0000, 0xFBFF_FFFF)
    assert main_["size"] == 3 << 30 and main_["high"] is True
    assert doc["kexec_crash_size"] == (3 << 30) + (128 << 20)


def test_failed_reservation_exits_1():
    r = run("plan", "--kernel", "5.10", "--cmdline", "crashkernel=3G", "--json")
    assert r.exit_code == 1
    assert json.loads(r.output)["log"] == ["cannot allocate crashkernel (size:0xc0000000)"]


@pytest.mark.parametrize("args,fragment", [
    (("--kernel", "4.19"), "unknown kernel generation"),
    (("--mem", "lots"), "not a size"),
    (("--mem", "8G", "--numa", "4G,2G"), "add up"),
    (("--machine", "/nonexistent/m.toml"), "cannot read"),
    (("--machine", "no-such-preset"), "no preset"),
])
def test_bad_input_is_one_line_and_exit_2(args, fragment):
    r = run("plan", *args)
    assert r.exit_code == 2
    assert fragment in r.output and r.output.count("\n") == 1 and "Traceback" not in r.output


def test_bad_machine_file(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text("[[bank]]\nstart = 0\nsize = '1G'\n[[bank]]\nstart = '512M'\nsize = '1G'\n")
    r = run("plan", "--machine", str(f))
    assert r.exit_code == 2 and "overlap" in r.output
