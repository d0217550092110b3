"""The command line: click commands that hand off to tools/ and render/. No logic lives here."""

from __future__ import annotations

import sys

import click

from kdumplab import __version__
from kdumplab.errors import EXIT_BAD_INPUT, KdumplabError


class _Group(click.Group):
    """Turns bad input into one line on stderr and exit 2, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except KdumplabError as err:
            click.echo(f"kdumplab: {err.one_line()}", err=True)
            sys.exit(EXIT_BAD_INPUT)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="kdumplab")
def main() -> None:
    """kdumplab: what each kernel generation reserves for kdump, what kexec-tools does with it, and
    what the crash kernel sees."""


def _register() -> None:
    """Attach the command groups that live in their own modules."""
    from kdumplab.lab.cli import lab
    from kdumplab.tools.cli import register_tools

    main.add_command(lab)
    register_tools(main)


_register()
