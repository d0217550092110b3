"""The model's own commands, ``plan`` and ``verify``, loaded by the main group only when invoked or when
their help is shown (kdumplab.cli keeps the start of every other command fast)."""

from __future__ import annotations

import dataclasses
import sys

import click

from kdumplab.tools.options import (
    CMDLINE_HELP,
    MachineArgs,
    build_machine,
    lab_arch,
    lab_kernel,
    lab_mem,
    machine_options,
)


@click.command(epilog="Example: kdumplab plan --machine rpi4-8g --kernel 6.1.0-28-arm64 --cmdline 'crashkernel=512M'")
@machine_options()
@click.option("--cmdline", default="console=ttyAMA0 crashkernel=512M", show_default=True, help=CMDLINE_HELP)
@click.option("--kexec-tools", "kexec_tools", help="Also model kexec -p with this kexec-tools version.")
@click.option("--emit-dtb", type=click.Path(dir_okay=False), help="With --kexec-tools: write the crash kernel's DTB.")
@click.option("--emit-elfcorehdr", type=click.Path(dir_okay=False), help="With --kexec-tools: write the elfcorehdr.")
@click.option("--base-dtb", type=click.Path(dir_okay=False, exists=True),
              help="With --emit-dtb: the running kernel's /sys/firmware/fdt, which kexec-tools starts from.")
@click.option("--crash-append", default=None,
              help="The crash kernel's command line (kexec --append): its cma= and nr_cpus= move its MemTotal "
              "and CMA; default: the lab's (console=ttyAMA0 panic=-1 maxcpus=1 reset_devices).")
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

    from kdumplab.ranges import parse_count
    from kdumplab.render.plan import plan_json, render_kaslr, render_plan
    from kdumplab.tools.plan import kaslr_for
    from kdumplab.tools.plan import plan as run_plan
    from kdumplab.verdict import exit_status

    machine = build_machine(dataclasses.replace(margs, cmdline=cmdline))
    size = None if crash_initrd_size is None else parse_count(crash_initrd_size, "--crash-initrd-size")
    result = run_plan(machine, cmdline, margs.kernel, kexec_tools, size, crash_append)
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


@click.command(epilog="Examples: kdumplab verify --kernel 6.1.0-28-arm64 --mem 4G --cmdline 'crashkernel=1G'; "
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
    once; cases with kexec_tools are cycles) or recordings (--recorded; with --kernel, every plain boot is judged
    as that kernel, e.g. a profile file from `lab calibrate` against boots it was not calibrated on). Exit 0 when
    every field agrees, 1
    when any disagrees or a run was lost, 2 for bad input.
    """
    from kdumplab.ranges import format_size
    from kdumplab.tools.verify_cli import run_verify

    if recorded and margs.kernel:  # the recordings judged as this kernel (e.g. a profile from lab calibrate)
        from kdumplab.policy import for_kernel

        sys.exit(run_verify(None, "8G", None, cmdline, None, recorded, jobs, as_json,
                            as_kernel=for_kernel(margs.kernel).name))
    kernel = lab_kernel(margs.kernel) if margs.kernel else None
    mem, numa = lab_mem(margs) if kernel else ("8G", ())
    sys.exit(run_verify(kernel, mem, ",".join(numa) or None, cmdline, suite_file, recorded, jobs, as_json,
                        kexec_tools, cpu=margs.cpu or ("cortex-a57" if lab_arch(margs) == "arm64" else ""),
                        dma_window=None if margs.dma_window is None else format_size(margs.dma_window),
                        arch=lab_arch(margs), firmware=margs.firmware or ""))
