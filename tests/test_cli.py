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
    f.write_text("[[bank]]\nstart = 0\nsize = '1G'\n[[bank]]\nstart = 0x20000000\nsize = '1G'\n")
    r = run("plan", "--machine", str(f))
    assert r.exit_code == 2 and "overlap" in r.output


def test_plan_with_kexec_tools_2_0_20_and_two_regions_is_refused():
    """lab-notes.md (real full cycles): 2.0.20 with two "Crash kernel" entries loads into the low one and the
    kernel refuses it (kexec_load failed: Cannot assign requested address); 2.0.25 loads high."""
    old = json.loads(run("plan", "--kernel", "6.12", "--cmdline", "crashkernel=1G,high", "--kexec-tools", "2.0.20",
                         "--json").output)
    assert old["kexec"]["loaded"] is False and "Cannot assign requested address" in old["kexec"]["error"]
    assert old["crash_kernel"] is None
    new = json.loads(run("plan", "--kernel", "6.12", "--cmdline", "crashkernel=1G,high", "--kexec-tools", "2.0.25",
                         "--json").output)
    assert new["kexec"]["loaded"] is True
    high, low = new["kexec"]["usable_memory_ranges"]  # high first, low last (kexec-tools 2.0.24+)
    assert high == [0x1_F6E0_0000, 0x2_36DF_FFFF] and low == [0xF400_0000, 0xFBFF_FFFF]
    assert new["crash_kernel"]["vmcore_size"] > 0


def test_plan_emits_dtb_and_elfcorehdr(tmp_path):
    dtb, elf = tmp_path / "crash.dtb", tmp_path / "elfcorehdr"
    r = run("plan", "--kernel", "6.12", "--cmdline", "crashkernel=1G,high", "--kexec-tools", "2.0.25",
            "--emit-dtb", str(dtb), "--emit-elfcorehdr", str(elf))
    assert r.exit_code == 0, r.output
    assert dtb.read_bytes()[:4] == b"\xd0\x0d\xfe\xed" and elf.read_bytes()[:4] == b"\x7fELF"


def test_emit_without_kexec_tools_is_bad_input(tmp_path):
    r = run("plan", "--emit-dtb", str(tmp_path / "x.dtb"))
    assert r.exit_code == 2 and "needs --kexec-tools" in r.output
