"""The command line: click commands that hand off to tools/ and render/. No logic lives here."""

from __future__ import annotations

import sys

import click

from kdumplab import __version__
from kdumplab.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, KdumplabError


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


@main.command()
@click.option("--machine", "machine_name", default="qemu-virt", show_default=True,
              help="A preset name or a machine TOML file.")
@click.option("--cmdline", default="console=ttyAMA0 crashkernel=512M", show_default=True,
              help="The kernel command line.")
@click.option("--kernel", default="6.1", show_default=True,
              help="Kernel generation (5.10, 6.1, 6.12, 7.2), a Debian release string, or a 2019 proposal "
                   "(proposal-2019-v5, proposal-2019-review).")
@click.option("--mem", help="qemu-virt: the -m size (e.g. 8G).")
@click.option("--numa", help="qemu-virt: node sizes (e.g. 4G,4G).")
@click.option("--initrd-size", type=int, help="qemu-virt: initrd size in bytes.")
@click.option("--kexec-tools", "kexec_tools", help="Also model kexec -p with this kexec-tools version.")
@click.option("--emit-dtb", type=click.Path(dir_okay=False), help="With --kexec-tools: write the crash kernel's DTB.")
@click.option("--emit-elfcorehdr", type=click.Path(dir_okay=False), help="With --kexec-tools: write the elfcorehdr.")
@click.option("--base-dtb", type=click.Path(dir_okay=False, exists=True),
              help="With --emit-dtb: the running kernel's /sys/firmware/fdt, which kexec-tools starts from.")
@click.option("--crash-append", default=None,
              help="The crash kernel's command line (kexec --append); default: this one without crashkernel=.")
@click.option("--crash-initrd-size", type=int, default=None,
              help="With --kexec-tools: the kdump initramfs' size in bytes (default: the machine's initrd).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document (docs/plan-json.md).")
def plan(machine_name: str, cmdline: str, kernel: str, mem: str | None, numa: str | None,
         initrd_size: int | None, kexec_tools: str | None, emit_dtb: str | None, emit_elfcorehdr: str | None,
         base_dtb: str | None, crash_append: str | None, crash_initrd_size: int | None, as_json: bool) -> None:
    """What a kernel generation reserves for the crash kernel on a machine, and what it logs.

    Exit status: 0 a crash region was reserved, 1 none was (failed, or nothing asked for), 2 bad input.
    """
    from rich.console import Console

    from kdumplab.render.plan import plan_json, render_plan
    from kdumplab.tools.plan import plan as run_plan
    from kdumplab.tools.plan import resolve_machine

    machine = resolve_machine(machine_name, kernel, mem, numa, initrd_size)
    result = run_plan(machine, cmdline, kernel, kexec_tools, crash_initrd_size)
    if emit_dtb or emit_elfcorehdr:
        from kdumplab.tools.plan import emit_artifacts

        emit_artifacts(result, emit_dtb, emit_elfcorehdr, base_dtb, crash_append)
    if as_json:
        click.echo(plan_json(result), nl=False)
    else:
        render_plan(result, Console())
    sys.exit(EXIT_OK if result.outcome.regions else EXIT_FAILED)


@main.command()
@click.option("--kernel", type=click.Choice(["5.10", "6.1", "6.12", "7.2"]), help="Boot this kernel.")
@click.option("--mem", default="8G", show_default=True)
@click.option("--numa", default=None, help="Node sizes, e.g. 4G,4G.")
@click.option("--cmdline", default="crashkernel=512M", show_default=True,
              help="Appended after 'console=ttyAMA0 panic=-1'.")
@click.option("--suite", "suite_file", type=click.Path(exists=True, dir_okay=False), help="A TOML suite of boots.")
@click.option("--recorded", type=click.Path(exists=True, file_okay=False),
              help="Check recordings (a directory of <case>/case.json or <case>/cycle.json) offline instead.")
@click.option("--kexec-tools", type=click.Choice(["2.0.20", "2.0.25", "2.0.29", "2.0.32"]), default=None,
              help="With --kernel: a full kdump cycle with this real kexec-tools, not just a boot.")
@click.option("--jobs", type=int, default=None, help="QEMUs at once (default: cores).")
@click.option("--json", "as_json", is_flag=True)
def verify(kernel: str | None, mem: str, numa: str | None, cmdline: str, suite_file: str | None,
           recorded: str | None, kexec_tools: str | None, jobs: int | None, as_json: bool) -> None:
    """The model against real boots, field by field.

    One boot (--kernel), one full kdump cycle (--kernel --kexec-tools), a suite (--suite, several QEMUs at
    once; cases with kexec_tools are cycles) or recordings (--recorded). Exit 0 when every field agrees, 1
    when any disagrees or a run was lost, 2 for bad input.
    """
    from kdumplab.tools.verify_cli import run_verify

    sys.exit(run_verify(kernel, mem, numa, cmdline, suite_file, recorded, jobs, as_json, kexec_tools))


def _register() -> None:
    """Attach the command groups that live in their own modules."""
    from kdumplab.lab.cli import lab
    from kdumplab.tools.cli import register_tools
    from kdumplab.tools.scale_cli import register_scale

    main.add_command(lab)
    register_tools(main)
    register_scale(main)


_register()
