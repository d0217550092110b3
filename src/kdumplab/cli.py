"""The command line: click commands that hand off to tools/ and render/. No logic lives here.

The commands live in their own modules, imported only when one is invoked or its help is shown (click's lazy
subcommands), so that starting the CLI costs Python and click, not the model (tests/test_cli_start.py).
"""

from __future__ import annotations

import importlib
import sys
from gettext import gettext

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


#: The first sentence of each command's help, which ``kdumplab --help`` lists, so that listing the commands imports
#: none of them (tests/test_cli_start.py checks every line against the command's own help at every width).
LAZY_HELP = {
    "check": "Is kdump set up right on this system (or a captured or pasted one)?",
    "compare": "Every kernel policy x kexec-tools version (2.0.20/25/29/32) for one machine and cmdline: reserved "
               "where, loaded where, the crash kernel's memory, and a verdict.",
    "explain": "Why a reservation failed or surprised, and the smallest changes that work (each rerun on the model).",
    "fleet": "check on many hosts: captured roots, sosreport tarballs, directories of them, or glob patterns.",
    "lab": "Boot real Debian kernels under QEMU and record what they reserve.",
    "machine": "The machine description every command uses: presets, TOML files (docs/machine.md).",
    "plan": "What a kernel reserves for the crash kernel on a machine, and what it logs.",
    "recommend": "The crashkernel= value to use, why, a range expression for a fleet, and how to apply it.",
    "report": "One self-contained HTML page: memory map, findings, policy matrix.",
    "sweep": "For each generation and RAM size: reserved or not, where, low memory, does kexec-tools load it; then "
             "the sizes where that answer changes.",
    "verify": "The model against real boots, field by field.",
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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's list of commands, each not yet imported standing in as a command with its line of
        :data:`LAZY_HELP` (click shortens both alike), so that ``kdumplab --help`` imports no command module."""
        commands = [(name, self.commands.get(name) or click.Command(name, help=LAZY_HELP[name]))
                    for name in self.list_commands(ctx)]
        commands = [(name, cmd) for name, cmd in commands if not cmd.hidden]
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section(gettext("Commands")):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in commands])

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
