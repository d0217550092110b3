"""Click commands for the people-facing tools (check, explain, recommend, compare, report).

Bad input raises KdumplabError, which the main group turns into one line and exit 2.
"""

from __future__ import annotations

import sys

import click

_MACHINE = click.option("--machine", "machine_name", required=True, help="A preset name or a machine TOML file.")
_KERNEL = click.option("--kernel", default="6.1", show_default=True,
                       help="Kernel generation (5.10, 6.1, 6.12, 7.2, proposal-2019-v5, proposal-2019-review) or "
                            "a Debian release.")


def _machine(name: str, kernel: str):  # noqa: ANN202
    from kdumplab.tools.plan import resolve_machine

    return resolve_machine(name, kernel)


def _scenario(machine_name: str, cmdline: str, kernel: str):  # noqa: ANN202
    from kdumplab import model, policy

    machine = _machine(machine_name, kernel)
    policy.for_kernel(kernel, machine.arch)  # refuses an unknown generation with exit 2
    return model.Scenario(machine, cmdline, kernel)


def register_tools(main: click.Group) -> None:
    """Attach the tool commands to the main group."""

    @main.command()
    @click.option("--root", type=click.Path(file_okay=False), help="A directory of captured files (proc/iomem ...).")
    @click.option("--sosreport", type=click.Path(dir_okay=False), help="A sosreport tarball (.tar.xz/.gz/.bz2).")
    @click.option("--json", "as_json", is_flag=True)
    def check(root: str | None, sosreport: str | None, as_json: bool) -> None:
        """Is kdump set up right on this system (or a captured one)?

        Exit status: 0 nothing wrong, 1 warnings only, 2 bad input, 3 kdump will not work (an error finding).
        """
        from kdumplab.render.check import check_json, check_text
        from kdumplab.tools.check import check as run_check
        from kdumplab.tools.check import exit_code

        analysis = run_check(root, sosreport)
        click.echo(check_json(analysis) if as_json else check_text(analysis), nl=False)
        sys.exit(exit_code(analysis))

    @main.command()
    @_MACHINE
    @click.option("--cmdline", required=True)
    @_KERNEL
    def explain(machine_name: str, cmdline: str, kernel: str) -> None:
        """Why a reservation failed or surprised, and the smallest changes that work (each rerun on the model).

        Exit status: 0 reserved, 1 not reserved, 2 bad input.
        """
        from kdumplab.render.check import explain_text
        from kdumplab.tools.explain import explain as run_explain

        e = run_explain(_scenario(machine_name, cmdline, kernel))
        click.echo(explain_text(e), nl=False)
        sys.exit(0 if e.result.outcome.regions else 1)

    @main.command()
    @_MACHINE
    @_KERNEL
    @click.option("--page-size", type=click.Choice(["4K", "16K", "64K"]), default="4K", show_default=True)
    @click.option("--smmu", is_flag=True, help="The machine has an SMMU (adds kdump-utils' 64K queue memory).")
    @click.option("--nic-drivers", default="", help="Comma-separated NIC drivers, e.g. mlx5_core.")
    @click.option("--json", "as_json", is_flag=True)
    def recommend(machine_name: str, kernel: str, page_size: str, smmu: bool, nic_drivers: str,
                  as_json: bool) -> None:
        """crashkernel= values from kdump-utils, Ubuntu and ours, each checked on the model.

        Exit status: 0 at least one value reserves, 1 none does, 2 bad input.
        """
        from kdumplab.recommend import recommend as run_recommend
        from kdumplab.render.check import recommend_json, recommend_text

        scn = _scenario(machine_name, "", kernel)
        ps = {"4K": 4096, "16K": 16384, "64K": 65536}[page_size]
        rec = run_recommend(scn.machine, kernel, ps, smmu, tuple(d for d in nic_drivers.split(",") if d))
        click.echo(recommend_json(rec) if as_json else recommend_text(rec), nl=False)
        sys.exit(0 if any(c.verdict == "reserved" for c in rec.candidates) else 1)

    @main.command()
    @_MACHINE
    @click.option("--cmdline", required=True)
    def compare(machine_name: str, cmdline: str) -> None:
        """Every kernel policy x kexec-tools version (2.0.20/25/29/32) for one machine and cmdline. Exit 0, or 2."""
        from kdumplab.render.check import compare_text
        from kdumplab.tools.compare import compare as run_compare

        click.echo(compare_text(run_compare(_machine(machine_name, "6.1"), cmdline)), nl=False)

    @main.command()
    @click.option("--html", "html_path", required=True, type=click.Path(dir_okay=False))
    @_MACHINE
    @click.option("--cmdline", required=True)
    @_KERNEL
    def report(html_path: str, machine_name: str, cmdline: str, kernel: str) -> None:
        """One self-contained HTML page: memory map, findings, policy matrix. Exit 0, or 2."""
        from kdumplab.tools.report import build, write

        write(html_path, build(_scenario(machine_name, cmdline, kernel)))
        click.echo(f"wrote {html_path}")
