"""Click commands for work at fleet scale: ``sweep`` (one crashkernel= over every RAM size and generation)
and ``fleet`` (check on many captured hosts). Imports stay inside the commands so ``kdumplab --help``
starts fast."""

from __future__ import annotations

import sys

import click

_JOBS = click.option("--jobs", type=int, default=None, help="Local worker processes (default: all cores; 1: none).")
_DASK = click.option("--dask", "dask_address", default=None, metavar="ADDRESS|local",
                     help="Run on a Dask cluster (tcp://host:8786) or a LocalCluster ('local'). Workers need "
                          "kdumplab installed.")


def register_scale(main: click.Group) -> None:
    """Attach sweep and fleet to the main group."""

    @main.command()
    @click.option("--cmdline", required=True, help="The kernel command line to sweep (with crashkernel=...).")
    @click.option("--mem", "mem_range", default="1G..4T", show_default=True, help="RAM sizes FROM..TO, both included.")
    @click.option("--step", default=None,
                  help="Size step (a multiple of 2M). Default: the smallest power of two times 2M that keeps "
                       "4096 sizes or fewer; the output states it.")
    @click.option("--kernel", "kernels", default="all", show_default=True,
                  help="'all' or a comma-separated list of generations.")
    @click.option("--machine", "machine_name", default="qemu-virt", show_default=True,
                  type=click.Choice(["qemu-virt"]), help="The machine shape grown to each size.")
    @click.option("--kexec-tools", "kexec_tools", default=None,
                  help="Check that this kexec-tools loads the crash kernel (default: the newest modelled; 'none').")
    @click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout (docs/fleet.md).")
    @click.option("--svg", "svg_path", type=click.Path(dir_okay=False), help="Write the plot as SVG.")
    @click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write the plot and table as HTML.")
    @_JOBS
    @_DASK
    def sweep(cmdline: str, mem_range: str, step: str | None, kernels: str, machine_name: str,
              kexec_tools: str | None, as_json: bool, svg_path: str | None, html_path: str | None,
              jobs: int | None, dask_address: str | None) -> None:
        """For each generation and RAM size: reserved or not, where, low memory, does kexec-tools load it;
        then the sizes where that answer changes.

        Exit status: 0 every size of every generation reserves (and loads), 1 some do not, 2 bad input.
        """
        from kdumplab.parallel import Backend, Progress
        from kdumplab.render.sweep import sweep_html, sweep_json, sweep_svg, sweep_text
        from kdumplab.tools.sweep import resolve_kernels, resolve_kexec_tools, run_sweep

        names = resolve_kernels(kernels)
        tools = resolve_kexec_tools(kexec_tools)
        result = run_sweep(cmdline, mem_range, step, names, tools, Backend(jobs, dask_address),
                           Progress("sweep", None))
        for path, render in ((svg_path, sweep_svg), (html_path, sweep_html)):
            if path:
                _write(path, render(result))
        click.echo(sweep_json(result) if as_json else sweep_text(result), nl=False)
        sys.exit(1 if result.failing else 0)

    @main.command()
    @click.argument("paths", nargs=-1, required=True)
    @click.option("--db", "db_path", default="fleet.duckdb", show_default=True, type=click.Path(dir_okay=False),
                  help="The DuckDB file results go into (created if missing; a rerun resumes from it).")
    @click.option("--parquet", "parquet_dir", type=click.Path(file_okay=False),
                  help="Also write hosts.parquet and findings.parquet into this directory.")
    @click.option("--json", "as_json", is_flag=True, help="Exactly one JSON line per input host (docs/fleet.md).")
    @click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write the fleet page.")
    @click.option("--recheck", is_flag=True, help="Check every host again, even those unchanged since the last run.")
    @_JOBS
    @_DASK
    def fleet(paths: tuple[str, ...], db_path: str, parquet_dir: str | None, as_json: bool, html_path: str | None,
              recheck: bool, jobs: int | None, dask_address: str | None) -> None:
        """check on many hosts: captured roots, sosreport tarballs, directories of them, or glob patterns.

        A directory holding proc/ or sos_commands/ is one host; any other directory's entries are hosts.
        Exit status: 0 every host clean, 1 warnings or unreadable hosts, 2 bad input (no hosts, bad option,
        database not writable), 3 kdump will not work on at least one host.
        """
        import json

        from kdumplab.parallel import Backend, Progress
        from kdumplab.render.fleet import fleet_html, summary_text
        from kdumplab.tools.fleet import exit_status, export_parquet, run_fleet

        def emit(rec: dict[str, object]) -> None:
            if as_json:
                click.echo(json.dumps(rec, sort_keys=True, default=str))

        run = run_fleet(paths, db_path, Backend(jobs, dask_address), emit, Progress("fleet", None), recheck)
        if parquet_dir:
            export_parquet(db_path, parquet_dir)
        if html_path:
            _write(html_path, fleet_html(db_path, run))
        if not as_json:
            click.echo(summary_text(run, db_path), nl=False)
        sys.exit(exit_status(run))


def _write(path: str, text: str) -> None:
    from kdumplab.errors import KdumplabError

    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as err:
        raise KdumplabError(path, f"cannot write: {err.strerror}") from None
