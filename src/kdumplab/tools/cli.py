"""Click commands for the people-facing tools (check, explain, recommend, compare, report).

Bad input raises KdumplabError, which the main group turns into one line and exit 2.
"""

from __future__ import annotations

import dataclasses
import sys

import click

from kdumplab.tools.options import CMDLINE_HELP, MachineArgs, build_machine, machine_options

_CMDLINE = click.option("--cmdline", required=True, help=CMDLINE_HELP)


def _scenario(margs: MachineArgs, cmdline: str):  # noqa: ANN202
    from kdumplab import model, policy

    machine = build_machine(dataclasses.replace(margs, cmdline=cmdline))
    policy.for_kernel(margs.kernel, machine.arch)  # refuses an unknown generation with exit 2
    return model.Scenario(machine, cmdline, margs.kernel)


def register_tools(main: click.Group) -> None:
    """Attach the tool commands to the main group."""

    @main.command(epilog="Examples: kdumplab check (this system); kdumplab check --sosreport sosreport-host.tar.xz")
    @click.option("--root", type=click.Path(file_okay=False), help="A directory of captured files (proc/iomem ...).")
    @click.option("--sosreport", type=click.Path(dir_okay=False), help="A sosreport tarball (.tar.xz/.gz/.bz2).")
    @click.option("--log", "log", help="A kernel log in any form (dmesg, journalctl -k, pasted); - for stdin.")
    @click.option("--iomem", "iomem", help="/proc/iomem, whole or in part (grep, excerpt, diff -u); - for stdin.")
    @click.option("--cmdline", "cmdline_file", help="A file holding /proc/cmdline; - for stdin.")
    @click.option("--other", "other_file", help="Any other pasted text (kdumpctl/kdump-tools output, xsos, notes).")
    @click.option("--release", help="The kernel release (uname -r) when the evidence does not show it.")
    @click.option("--arch", type=click.Choice(["arm64", "x86_64"]), help="The architecture, when not shown.")
    @click.option("--json", "as_json", is_flag=True)
    def check(root: str | None, sosreport: str | None, log: str | None, iomem: str | None,
              cmdline_file: str | None, other_file: str | None, release: str | None, arch: str | None,
              as_json: bool) -> None:
        """Is kdump set up right on this system (or a captured or pasted one)?

        Any one of --log, --iomem is enough; with --root/--sosreport they add to or replace the archive's files.
        Exit status: 0 nothing wrong, 1 warnings only, 2 bad input, 3 kdump will not work (an error finding).
        """
        from kdumplab.render.check import check_json, check_text
        from kdumplab.tools.check import check as run_check
        from kdumplab.tools.check import exit_code

        if sum(x == "-" for x in (log, iomem, cmdline_file, other_file)) > 1:
            raise click.UsageError("only one of --log/--iomem/--cmdline/--other can read stdin")
        analysis = run_check(root, sosreport, log, iomem, cmdline_file, release, arch, other_file)
        click.echo(check_json(analysis) if as_json else check_text(analysis), nl=False)
        sys.exit(exit_code(analysis))

    @main.command(epilog="Example: kdumplab explain --machine rpi4-8g --cmdline 'crashkernel=1G'")
    @machine_options()
    @_CMDLINE
    def explain(margs: MachineArgs, cmdline: str) -> None:
        """Why a reservation failed or surprised, and the smallest changes that work (each rerun on the model).

        Exit status: 0 reserved, 1 not reserved, 2 bad input.
        """
        from kdumplab.render.check import explain_text
        from kdumplab.tools.explain import explain as run_explain
        from kdumplab.verdict import exit_status

        e = run_explain(_scenario(margs, cmdline))
        click.echo(explain_text(e), nl=False)
        sys.exit(exit_status(e.result))

    @main.command(epilog="Examples: sudo kdumplab recommend (this system); kdumplab recommend --machine "
                  "ampere-altra-2p --kernel 6.12")
    @machine_options(default=None, kernel=None)
    @click.option("--page-size", type=click.Choice(["4K", "16K", "64K"]), default=None,
                  help="The kernel's page size (default: the kernel's own, e.g. 16K for 6.12-16k).")
    @click.option("--smmu", is_flag=True, help="The machine has an SMMU (adds kdump-utils' 64K queue memory).")
    @click.option("--nic-drivers", default="", help="Comma-separated NIC drivers, e.g. mlx5_core.")
    @click.option("--calibrate-conf", type=click.Path(dir_okay=False),
                  help="A SUSE /usr/lib/kdump/calibrate.conf (default: openSUSE Tumbleweed's numbers).")
    @click.option("--kdump-cpus", type=click.IntRange(1, 4096), default=32, show_default=True,
                  help="SUSE KDUMP_CPUS (the CPUs the crash kernel brings up).")
    @click.option("--network-dump", is_flag=True, help="SUSE: the dump goes over the network (KDUMP_PROTO not file).")
    @click.option("--json", "as_json", is_flag=True)
    def recommend(margs: MachineArgs, page_size: str, smmu: bool, nic_drivers: str,
                  calibrate_conf: str | None, kdump_cpus: int, network_dump: bool, as_json: bool) -> None:
        """The crashkernel= value to use, why, a range expression for a fleet, and how to apply it.

        Reads this system (/proc/iomem, as root; uname -r) unless --machine is given. Every candidate (kdump-utils,
        Ubuntu, SUSE's calibrate, ours) is checked on the model, with the kexec-tools Debian ships beside the kernel.
        Exit status: 0 the marked value reserves and kdump works, 1 it reserves with warnings or nothing reserves,
        2 bad input, 3 it reserves but kdump will not work on this kernel whatever the size.
        """
        import dataclasses
        import json

        from kdumplab import policy
        from kdumplab.bootconfig import METHODS, applicable
        from kdumplab.errors import KdumplabError
        from kdumplab.inputfile import read_text
        from kdumplab.recommend import parse_calibrate_conf, suse_flavour
        from kdumplab.recommend import recommend as run_recommend
        from kdumplab.render.check import recommend_json, recommend_text
        from kdumplab.tools.options import live_machine

        if margs.machine is None and not margs.qemu_options:
            machine, release = live_machine()
            kernel = margs.kernel or release
            live = True
        else:
            kernel = margs.kernel or "6.1"
            machine = build_machine(dataclasses.replace(margs, kernel=kernel))
            live = False
        try:
            row = policy.for_kernel(kernel, machine.arch)
        except KdumplabError as err:
            raise KdumplabError("--kernel" if not live or margs.kernel else f"this kernel ({kernel})",
                                err.what, (err.hint or "") + "; give --kernel") from None
        # the kernel's page size, unless told (a page size the modelled kernel does not have is a mistake)
        ps = row.page_size if page_size is None else {"4K": 4096, "16K": 16384, "64K": 65536}[page_size]
        if page_size is not None and row.page_size != 4096 and ps != row.page_size:
            raise KdumplabError("--page-size", f"{page_size}, but kernel {row.name} uses {row.page_size >> 10}K pages",
                                "leave out --page-size")
        conf = None
        if calibrate_conf:
            try:
                text = read_text(calibrate_conf, strict=True)  # bounded; FIFO/device/non-UTF-8: one line
            except FileNotFoundError:
                raise KdumplabError(calibrate_conf, "cannot read: No such file or directory") from None
            conf = parse_calibrate_conf(text, calibrate_conf, suse_flavour(machine.arch, ps))
        rec = run_recommend(machine, kernel, ps, smmu, tuple(d for d in nic_drivers.split(",") if d), conf,
                            kdump_cpus, network_dump)
        methods = applicable("/") if live else METHODS
        if as_json:
            doc = json.loads(recommend_json(rec, methods))
            cal = rec.calibration
            doc["suse_calibrate"] = None if cal is None else {
                "total": cal.total, "low": cal.low, "high": cal.high, "min_low": cal.min_low, "max_low": cal.max_low,
                "min_high": cal.min_high, "max_high": cal.max_high, "cmdline": cal.cmdline,
                "calibrate_conf": cal.conf.source, "steps_kib": dict(cal.steps)}
            click.echo(json.dumps(doc, indent=2))
        else:
            click.echo(recommend_text(rec, methods), nl=False)
        use = rec.use
        sys.exit(1 if use is None else use.status)

    @main.command(epilog="Example: kdumplab compare --machine qemu-virt --mem 16G --cmdline 'crashkernel=1G,high'")
    @machine_options()
    @_CMDLINE
    @click.option("--json", "as_json", is_flag=True, help="Every cell with its full verdict sentence.")
    def compare(margs: MachineArgs, cmdline: str, as_json: bool) -> None:
        """Every kernel policy x kexec-tools version (2.0.20/25/29/32) for one machine and cmdline: reserved
        where, loaded where, the crash kernel's memory, and a verdict.

        Exit status: that of --kernel's row with the kexec-tools Debian ships beside it (marked *): 0 kdump
        works, 1 nothing reserved or warnings, 2 bad input, 3 kdump will not work.
        """
        import dataclasses
        import json

        from kdumplab import policy
        from kdumplab.render.check import compare_text
        from kdumplab.tools.compare import compare as run_compare
        from kdumplab.tools.compare import compare_status

        machine = build_machine(dataclasses.replace(margs, cmdline=cmdline))
        kernel = policy.for_kernel(margs.kernel, machine.arch).name
        from kdumplab.tools.options import machine_per_kernel

        rows = run_compare(machine, cmdline, machine_per_kernel(margs))
        status = compare_status(rows, kernel)
        if as_json:
            click.echo(json.dumps({"machine": machine.name, "firmware": machine.firmware,
                                   "dma_address_limit": machine.dma_address_limit, "cmdline": cmdline, "kernel": kernel,
                                   "exit_status": status, "rows": [dataclasses.asdict(r) for r in rows]}, indent=1))
        else:
            click.echo(compare_text(rows, kernel, machine=machine), nl=False)
        sys.exit(status)

    @main.command(epilog="Example: kdumplab report --html k.html --machine ampere-altra-2p --cmdline crashkernel=1G")
    @click.option("--html", "html_path", required=True, type=click.Path(dir_okay=False))
    @machine_options()
    @_CMDLINE
    def report(html_path: str, margs: MachineArgs, cmdline: str) -> None:
        """One self-contained HTML page: memory map, findings, policy matrix.

        Exit status as compare's: --kernel with the kexec-tools Debian ships beside it, 0 kdump works, 1 nothing
        reserved or warnings, 2 bad input, 3 kdump will not work.
        """
        from kdumplab.tools.options import machine_per_kernel
        from kdumplab.tools.report import build, write

        text, status = build(_scenario(margs, cmdline), machine_per_kernel(margs))
        write(html_path, text)
        click.echo(f"wrote {html_path}")
        sys.exit(status)

    @main.group(epilog="Example: kdumplab machine show --machine rpi4-8g")
    def machine() -> None:
        """The machine description every command uses: presets, TOML files (docs/machine.md)."""

    @machine.command("show", epilog="Example: kdumplab machine show --mem 16G --numa 8G,8G --save my.toml")
    @machine_options()
    @click.option("--save", "save_path", type=click.Path(dir_okay=False), help="Also write it as TOML to this file.")
    @click.option("--toml", "as_toml", is_flag=True, help="Print the TOML instead of the summary.")
    def machine_show(margs: MachineArgs, save_path: str | None, as_toml: bool) -> None:
        """Print the machine description in use (what --machine and the QEMU options make of it).

        The TOML that --save writes loads back to the same machine (--machine FILE).
        """
        from kdumplab.machine import machine_to_toml
        from kdumplab.render.machine import machine_text
        from kdumplab.tools.report import write

        m = build_machine(margs)
        text = machine_to_toml(m)
        if save_path:
            write(save_path, text)
        click.echo(text if as_toml else machine_text(m), nl=False)
        if save_path:
            click.echo(f"wrote {save_path}", err=True)

    @machine.command("list", epilog="Example: kdumplab machine list")
    def machine_list() -> None:
        """The built-in machines (presets) for --machine."""
        from kdumplab.render.machine import preset_table

        click.echo(preset_table(), nl=False)
