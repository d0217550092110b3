"""The edges of ``kdumplab verify``: boot through the lab (or read recordings), compare, render."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from kdumplab.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, KdumplabError
from kdumplab.tools.verify import FieldCheck, verify_observation

__all__ = ["run_verify"]


def _row(name: str, checks: tuple[FieldCheck, ...] | None, lost: str | None) -> dict:
    if checks is None:
        return {"case": name, "agree": False, "lost": lost, "fields": {}}
    return {"case": name, "agree": all(c.ok for c in checks), "lost": None,
            "fields": {c.field: {"ok": c.ok, "model": c.model, "real": c.real} for c in checks}}


def _checks(result) -> tuple[FieldCheck, ...] | None:  # noqa: ANN001
    """A lab result (plain boot or full cycle) against the model; None when the lab lost it."""
    from kdumplab.tools.verify_cycle import verify_cycle  # noqa: PLC0415

    cyc = getattr(result, "cycle", None)
    if cyc is not None:
        return verify_cycle(cyc)
    obs = result.observation
    return verify_observation(obs) if obs else None


def run_verify(kernel: str | None, mem: str, numa: str | None, cmdline: str, suite_file: str | None,
               recorded: str | None, jobs: int | None, as_json: bool, kexec_tools: str | None = None,
               cpu: str = "cortex-a57", dma_window: str | None = None) -> int:
    console = Console(stderr=as_json)
    rows: list[dict] = []
    if recorded:
        from kdumplab.lab.cycle import load_cycle  # noqa: PLC0415
        from kdumplab.lab.observe import Observation  # noqa: PLC0415
        from kdumplab.tools.verify_cycle import verify_cycle  # noqa: PLC0415

        for case in sorted(Path(recorded).glob("*/case.json")):
            try:
                obs = Observation.from_json(case.read_text())
            except KdumplabError as err:
                raise KdumplabError(str(case), err.what) from None
            rows.append(_row(case.parent.name, verify_observation(obs), None))
        for case in sorted(Path(recorded).glob("*/cycle.json")):
            rows.append(_row(case.parent.name, verify_cycle(load_cycle(case.parent)), None))
    elif suite_file:
        from kdumplab.lab.suite import load_suite, run_suite  # noqa: PLC0415

        cases = load_suite(Path(suite_file))
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("booting", total=len(cases))

            def done(case, result) -> None:
                progress.advance(task)
                rows.append(_row(case.name, _checks(result), result.lost))

            run_suite(cases, jobs or os.cpu_count() or 1, None, done)
    elif kernel:
        from kdumplab.lab.qemu import BootSpec, boot  # noqa: PLC0415

        spec = BootSpec(kernel, mem, cmdline, tuple(numa.split(",")) if numa else (), cpu, dma_window)
        if kexec_tools:
            from kdumplab.lab.cycle import CycleSpec, run_cycle  # noqa: PLC0415

            cycled = run_cycle(CycleSpec(spec, kexec_tools))
            rows.append(_row(f"{kernel}-{mem}-kexec-tools-{kexec_tools}", _checks(cycled), cycled.lost))
        else:
            result = boot(spec)
            rows.append(_row(f"{kernel}-{mem}", _checks(result), result.lost))
    else:
        raise KdumplabError("verify", "nothing to verify", "give --kernel, --suite or --recorded")
    rows.sort(key=lambda r: r["case"])
    if as_json:
        print(json.dumps({"cases": rows, "agree": sum(r["agree"] for r in rows), "total": len(rows)}, indent=1))
    else:
        table = Table(title="model vs real boot")
        table.add_column("case")
        fields = sorted({f for r in rows for f in r["fields"]})
        for f in fields:
            table.add_column(f)
        for r in rows:
            if r["lost"]:
                table.add_row(r["case"], f"[red]lost: {r['lost']}[/]", *[""] * (len(fields) - 1))
                continue
            table.add_row(r["case"], *["" if f not in r["fields"] else "[green]ok[/]" if r["fields"][f]["ok"]
                                       else "[red]DIFF[/]" for f in fields])
        console.print(table)
        for r in rows:
            for f, v in r["fields"].items():
                if not v["ok"]:
                    console.print(f"[bold]{r['case']}[/] {f}:\n  model: {v['model']}\n  real:  {v['real']}")
        console.print(f"{sum(r['agree'] for r in rows)} of {len(rows)} cases agree on every field")
    if not rows:
        return EXIT_BAD_INPUT
    return EXIT_OK if all(r["agree"] for r in rows) else EXIT_FAILED
