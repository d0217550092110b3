"""The command line: click commands that hand off to tools/ and render/. No logic lives here."""

from __future__ import annotations

import sys

import click

from kdumplab import __version__
from kdumplab.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, KdumplabError
from kdumplab.ranges import format_size, parse_count
from kdumplab.tools.options import (
    CMDLINE_HELP,
    MachineArgs,
    build_machine,
    lab_arch,
    lab_kernel,
    lab_mem,
    machine_options,
)


class _Group(click.Group):
    """Turns bad input into one line on stderr and exit 2, never a traceback; ``-h`` is ``--help``."""

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
@click.version_option(__version__, prog_name="kdumplab")
def main() -> None:
    """kdumplab: what each kernel generation reserves for kdump, what kexec-tools does with it, and
    what the crash kernel sees.

    \b
    Example:
      kdumplab plan --kernel 6.12 --mem 16G --cmdline 'crashkernel=1G'

    Exit status of every command: 0 reserved / ok, 1 not reserved or warnings, 2 bad input,
    3 kdump will not work.
    """


@main.command(epilog="Example: kdumplab plan --machine rpi4-8g --kernel 6.1.0-28-arm64 --cmdline 'crashkernel=512M'")
@machine_options()
@click.option("--cmdline", default="console=ttyAMA0 crashkernel=512M", show_default=True, help=CMDLINE_HELP)
@click.option("--kexec-tools", "kexec_tools", help="Also model kexec -p with this kexec-tools version.")
@click.option("--emit-dtb", type=click.Path(dir_okay=False), help="With --kexec-tools: write the crash kernel's DTB.")
@click.option("--emit-elfcorehdr", type=click.Path(dir_okay=False), help="With --kexec-tools: write the elfcorehdr.")
@click.option("--base-dtb", type=click.Path(dir_okay=False, exists=True),
              help="With --emit-dtb: the running kernel's /sys/firmware/fdt, which kexec-tools starts from.")
@click.option("--crash-append", default=None,
              help="The crash kernel's command line (kexec --append); default: this one without crashkernel=.")
@click.option("--crash-initrd-size", default=None, metavar="BYTES",
              help="With --kexec-tools: the kdump initramfs' size in bytes (default: the machine's initrd).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document (docs/plan-json.md).")
def plan(margs: MachineArgs, cmdline: str, kexec_tools: str | None, emit_dtb: str | None,
         emit_elfcorehdr: str | None, base_dtb: str | None, crash_append: str | None, crash_initrd_size: str | None,
         as_json: bool) -> None:
    """What a kernel reserves for the crash kernel on a machine, and what it logs.

    Exit status: 0 a crash region was reserved and kdump works as far as modelled, 1 none was (failed, or
    nothing asked for), 2 bad input, 3 reserved but kdump will not work (with --kexec-tools).
    """
    from rich.console import Console

    from kdumplab.render.plan import plan_json, render_kaslr, render_plan
    from kdumplab.tools.plan import kaslr_for
    from kdumplab.tools.plan import plan as run_plan
    from kdumplab.verdict import exit_status

    machine = build_machine(margs)
    size = None if crash_initrd_size is None else parse_count(crash_initrd_size, "--crash-initrd-size")
    result = run_plan(machine, cmdline, margs.kernel, kexec_tools, size)
    dist = kaslr_for(result.scenario, pinned=margs.kernel_at is not None)
    if emit_dtb or emit_elfcorehdr:
        from kdumplab.tools.plan import emit_artifacts

        emit_artifacts(result, emit_dtb, emit_elfcorehdr, base_dtb, crash_append)
    if as_json:
        click.echo(plan_json(result, dist), nl=False)
    else:
        render_plan(result, Console())
        render_kaslr(dist, Console())
    sys.exit(exit_status(result))


@main.command(epilog="Examples: kdumplab verify --kernel 6.1.0-28-arm64 --mem 4G --cmdline 'crashkernel=1G'; "
              "kdumplab verify --recorded tests/data")
@machine_options(kernel=None, lab=True)
@click.option("--cmdline", default="crashkernel=512M", show_default=True,
              help=CMDLINE_HELP + " The lab adds console=ttyAMA0 panic=-1 when they are absent, and says so.")
@click.option("--suite", "suite_file", type=click.Path(exists=True, dir_okay=False), help="A TOML suite of boots.")
@click.option("--recorded", type=click.Path(exists=True, file_okay=False),
              help="Check recordings offline instead: every case.json / cycle.json under this directory.")
@click.option("--kexec-tools", type=click.Choice(["2.0.20", "2.0.25", "2.0.29", "2.0.32"]), default=None,
              help="With --kernel: a full kdump cycle with this real kexec-tools, not just a boot.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None, help="QEMUs at once (default: cores).")
@click.option("--json", "as_json", is_flag=True)
def verify(margs: MachineArgs, cmdline: str, suite_file: str | None, recorded: str | None,
           kexec_tools: str | None, jobs: int | None, as_json: bool) -> None:
    """The model against real boots, field by field.

    One boot (--kernel), one full kdump cycle (--kernel --kexec-tools), a suite (--suite, several QEMUs at
    once; cases with kexec_tools are cycles) or recordings (--recorded). Exit 0 when every field agrees, 1
    when any disagrees or a run was lost, 2 for bad input.
    """
    from kdumplab.tools.verify_cli import run_verify

    kernel = lab_kernel(margs.kernel) if margs.kernel else None
    mem, numa = lab_mem(margs) if kernel else ("8G", ())
    sys.exit(run_verify(kernel, mem, ",".join(numa) or None, cmdline, suite_file, recorded, jobs, as_json,
                        kexec_tools, cpu=margs.cpu or ("cortex-a57" if lab_arch(margs) == "arm64" else ""),
                        dma_window=None if margs.dma_window is None else format_size(margs.dma_window),
                        arch=lab_arch(margs), firmware=margs.firmware or ""))


def _register() -> None:
    """Attach the command groups that live in their own modules."""
    from kdumplab.lab.cli import lab
    from kdumplab.tools.cli import register_tools
    from kdumplab.tools.scale_cli import register_scale

    main.add_command(lab)
    register_tools(main)
    register_scale(main)


_register()
