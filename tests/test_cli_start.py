"""The CLI starts without the model: importing kdumplab.cli loads no command module and none of the heavy
libraries, so `kdumplab --version` or a light command does not pay for the others (issue 15, item 3; timings
in bench/bench_cli_start.py). Every lazily named command resolves, and the modules define no unnamed command."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from kdumplab import __version__, compiled
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
    assert out[3] == "(compiled:" and out[4] in ("yes)", "no)")
    assert out[5:] == []


def test_version_says_whether_compiled() -> None:
    """Like black's: "(compiled: yes)" for the opt-in mypyc build; `.ci/compiled` runs this against that build
    with KDUMPLAB_EXPECT_COMPILED=1, the default run against the pure install."""
    expected = "yes" if os.environ.get("KDUMPLAB_EXPECT_COMPILED") == "1" else "no"
    out = CliRunner().invoke(main, ["--version"]).output
    assert out == f"kdumplab, version {__version__} (compiled: {expected})\n"
    assert compiled() is (expected == "yes")


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


#: What a command's --help must not import: the machine model, the kernel profiles and what only reading an
#: option needs (issue 15: every --help within 60 ms; bench/bench_cli_start.py)
HELP_LIGHT = ("kdumplab.machine", "kdumplab.profiles", "kdumplab.policy", "kdumplab.ranges", "kdumplab.presets")


def _help_in_fresh_process(argv: list[str], watch: tuple[str, ...] = HELP_LIGHT) -> tuple[str, list[str]]:
    """The help a new process prints, and which of the modules ``watch`` it imported."""
    code = (f"import sys; sys.argv = ['kdumplab', *{argv!r}]; import kdumplab.cli\n"
            "try:\n    kdumplab.cli.main()\nexcept SystemExit:\n    pass\n"
            f"sys.stderr.write(' '.join(m for m in sys.modules if m in {watch!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "COLUMNS": "80"})
    return done.stdout, done.stderr.split()


@pytest.mark.parametrize("argv", [["check", "--help"], ["plan", "--help"], ["lab", "--help"], ["--help"]])
def test_help_imports_no_model_and_is_the_same_text(argv: list[str]) -> None:
    """The shared machine options import the machine model, the profiles and the size parsers only when an
    option is read; the help a fresh process prints is the help click renders once all of them are loaded."""
    text, loaded = _help_in_fresh_process(argv)
    assert loaded == []
    import kdumplab.machine  # noqa: F401, PLC0415
    import kdumplab.profiles  # noqa: F401, PLC0415
    from kdumplab.tools import options  # noqa: PLC0415

    assert "6.12" in options.lab_kernels()  # the profiles are read now
    assert CliRunner().invoke(main, argv, prog_name="kdumplab", terminal_width=78).output == text


def test_lazy_help_lines_shorten_as_the_commands_own_help() -> None:
    """`kdumplab --help` lists a command not yet imported by its line of LAZY_HELP: at every width the line
    click shows is the one the command's own help gives."""
    from kdumplab.cli import LAZY_HELP  # noqa: PLC0415

    ctx = click.Context(main)
    assert set(LAZY_HELP) == set(LAZY_COMMANDS)
    for name, line in LAZY_HELP.items():
        cmd = main.get_command(ctx, name)
        assert cmd is not None and not cmd.hidden
        stand_in = click.Command(name, help=line)
        for limit in range(8, 240):
            assert stand_in.get_short_help_str(limit) == cmd.get_short_help_str(limit), (name, limit)


def test_help_lists_the_same_commands_before_and_after_they_are_imported() -> None:
    modules = tuple(sorted({target.split(":")[0] for target in LAZY_COMMANDS.values()}))
    text, loaded = _help_in_fresh_process(["--help"], (*HELP_LIGHT, *modules))
    assert loaded == []
    ctx = click.Context(main)
    for name in LAZY_COMMANDS:
        main.get_command(ctx, name)
    assert CliRunner().invoke(main, ["--help"], prog_name="kdumplab", terminal_width=78).output == text
