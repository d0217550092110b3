"""Every kind of bad invocation is one stderr line and exit 2 (issue 12: click's usage errors were 3 lines)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kdumplab.cli import main


@pytest.mark.parametrize(("args", "start"), [
    (["plan", "--bogus"], "kdumplab plan: No such option '--bogus'"),
    (["bogus"], "kdumplab: No such command 'bogus'"),
    (["plan", "--kernel"], "kdumplab plan: Option '--kernel' requires an argument"),
    (["lab", "cycle", "--kernel", "6.1"], "kdumplab lab cycle: Missing option '--kexec-tools'"),
    (["verify", "--suite", "/nonexistent/suite.toml"], "kdumplab verify: Invalid value for '--suite'"),
])
def test_usage_errors_are_one_line_with_a_hint(args: list[str], start: str) -> None:
    r = CliRunner().invoke(main, args, prog_name="kdumplab")
    assert r.exit_code == 2
    lines = r.stderr.splitlines()
    cmd = start.split(":")[0]
    assert len(lines) == 1 and lines[0].startswith(f"kdumplab: {cmd}: " + start.split(": ", 1)[1]), lines
    assert lines[0].endswith(f"(see {cmd} -h)")


def test_dash_h_is_help() -> None:
    r = CliRunner().invoke(main, ["plan", "-h"], prog_name="kdumplab")
    assert r.exit_code == 0 and r.output.startswith("Usage: kdumplab plan")
