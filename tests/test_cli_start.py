"""The CLI starts without the model: importing kdumplab.cli loads no command module and none of the heavy
libraries, so `kdumplab --version` or a light command does not pay for the others (issue 15, item 3; timings
in bench/bench_cli_start.py). Every lazily named command resolves, and the modules define no unnamed command."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from kdumplab.cli import LAZY_COMMANDS, main

HEAVY = ("rich", "duckdb", "dask", "fdt", "elftools", "kdumplab.model", "kdumplab.machine", "kdumplab.tools.options")


def test_import_cli_loads_no_heavy_module() -> None:
    code = (f"import sys, kdumplab.cli; heavy = {HEAVY!r}; "
            "print(' '.join(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == []


def test_version_loads_no_command_module() -> None:
    code = ("import sys; sys.argv = ['kdumplab', '--version']; import kdumplab.cli\n"
            "try:\n    kdumplab.cli.main()\nexcept SystemExit:\n    pass\n"
            "print(' '.join(m for m in sys.modules if m.startswith('kdumplab.') and m not in "
            "('kdumplab.cli', 'kdumplab.errors')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["kdumplab,", "version"]
    assert out[3:] == []


def test_lazy_table_matches_the_commands_defined() -> None:
    ctx = click.Context(main)
    for name in LAZY_COMMANDS:
        cmd = main.get_command(ctx, name)
        assert cmd is not None and cmd.name == name
    assert set(main.commands) == set(LAZY_COMMANDS)
    assert main.get_command(ctx, "no-such-command") is None


def test_help_lists_every_command() -> None:
    out = CliRunner().invoke(main, ["-h"]).output
    listed = {line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.startswith("  ")}
    assert listed == set(LAZY_COMMANDS)
