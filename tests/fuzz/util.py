"""The one rule every harness checks: a result, or a KdumplabError of one line naming a place."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from click.testing import CliRunner

from kdumplab.errors import KdumplabError

T = TypeVar("T")


def result_or_one_line(fn: Callable[..., T], *args: object, **kwargs: object) -> T | KdumplabError:
    """Call ``fn``; a KdumplabError is returned (after checking it is one line with a place), any other
    exception propagates and fails the test."""
    try:
        return fn(*args, **kwargs)
    except KdumplabError as err:
        line = err.one_line()
        assert "\n" not in line and "\r" not in line, line
        assert err.where, line
        return err


def cli_ok_or_exit_2(args: list[str]) -> int:
    """Run the CLI: any exit but 2 is fine if nothing was raised; 2 must come with exactly one stderr line."""
    from kdumplab.cli import main

    r = CliRunner().invoke(main, args, prog_name="kdumplab")
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    if r.exit_code == 2:
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("kdumplab: "), r.stderr
    return r.exit_code
