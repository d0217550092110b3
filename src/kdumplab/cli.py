"""The command line: click commands that hand off to tools/ and render/. No logic lives here.

The commands live in their own modules, imported only when one is invoked or its help is shown (click's lazy
subcommands), so that starting the CLI costs Python and click, not the model (tests/test_cli_start.py).
"""

from __future__ import annotations

import importlib
import sys

import click

from kdumplab import __version__, compiled
from kdumplab.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, KdumplabError

_TOOLS = "kdumplab.tools.cli:register_tools"
_SCALE = "kdumplab.tools.scale_cli:register_scale"
#: Each command -> "module:attr" that provides it: a click command, or a function that adds its module's commands
#: to the group (tools/cli.py, tools/scale_cli.py). A new command is added here too (tests/test_cli_start.py
#: checks this table against the commands the modules define).
LAZY_COMMANDS = {
    "plan": "kdumplab.tools.model_cli:plan",
    "verify": "kdumplab.tools.model_cli:verify",
    "lab": "kdumplab.lab.cli:lab",
    "check": _TOOLS, "explain": _TOOLS, "recommend": _TOOLS, "compare": _TOOLS, "report": _TOOLS, "machine": _TOOLS,
    "sweep": _SCALE, "fleet": _SCALE,
}


class _Group(click.Group):
    """Turns bad input into one line on stderr and exit 2, never a traceback; ``-h`` is ``--help``.

    Commands named in :data:`LAZY_COMMANDS` are imported the first time click asks for them.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[cmd_name].split(":")
            provider = getattr(importlib.import_module(module), attr)
            if isinstance(provider, click.Command):
                self.add_command(provider)
            else:
                provider(self)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except KdumplabError as err:
            click.echo(f"kdumplab: {err.one_line()}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.UsageError as err:  # name the subcommand whose option was bad (click leaves ctx unset)
            sub = self.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
            if err.ctx is None and sub is not None:
                err.ctx = click.Context(sub, info_name=ctx.invoked_subcommand, parent=ctx)
            raise

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[override]  # noqa: ANN002, ANN003, ANN201
        """click's usage errors as one line naming the command, with where to read its help."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as err:
            click.echo(err.ctx.get_help() if err.ctx else "", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.UsageError as err:
            path = " ".join(["kdumplab", *(err.ctx.command_path.split()[1:] if err.ctx else [])])
            click.echo(f"kdumplab: {path}: {' '.join(err.format_message().split())} (see {path} -h)", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.ClickException as err:
            click.echo(f"kdumplab: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("kdumplab: aborted", err=True)
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kdumplab",
                      message=f"%(prog)s, version %(version)s (compiled: {'yes' if compiled() else 'no'})")
def main() -> None:
    """kdumplab: what each kernel generation reserves for kdump, what kexec-tools does with it, and
    what the crash kernel sees.

    \b
    Example:
      kdumplab plan --kernel 6.12 --mem 16G --cmdline 'crashkernel=1G'

    Exit status of every command: 0 reserved / ok, 1 not reserved or warnings, 2 bad input,
    3 kdump will not work.
    """
