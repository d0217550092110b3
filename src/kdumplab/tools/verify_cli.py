"""The edges of ``kdumplab verify``: boot through the lab (or read recordings), compare, render."""

from __future__ import annotations

import dataclasses
import json
import os
import re
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
               cpu: str = "cortex-a57", dma_window: str | None = None, arch: str = "arm64",
               firmware: str = "", as_kernel: str | None = None) -> int:
    console = Console(stderr=as_json)
    rows: list[dict] = []
    if recorded:
        rows += _recorded(Path(recorded), as_kernel)
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

        spec = BootSpec(kernel, mem, cmdline, tuple(numa.split(",")) if numa else (), arch=arch, firmware=firmware,
                        cpu=cpu, dma_window=dma_window)
        if kexec_tools:
            from kdumplab.lab.cycle import CycleSpec, run_cycle  # noqa: PLC0415

            with _spinner(f"kdump cycle of {kernel} with kexec-tools {kexec_tools}", console, as_json):
                cycled = run_cycle(CycleSpec(spec, kexec_tools))
            rows.append(_row(f"{kernel}-{mem}-kexec-tools-{kexec_tools}", _checks(cycled), cycled.lost))
        else:
            with _spinner(f"booting {kernel} under QEMU", console, as_json):
                result = boot(spec)
            rows.append(_row(f"{kernel}-{mem}", _checks(result), result.lost))
    else:
        raise KdumplabError("verify", "nothing to verify", "give --kernel, --suite or --recorded")
    rows.sort(key=lambda r: r["case"])
    if as_json:
        print(json.dumps({"cases": rows, "agree": sum(r["agree"] for r in rows), "total": len(rows)}, indent=1))
    else:
        table = Table(title="model vs real boot", title_justify="left")
        table.add_column("case", overflow="fold")
        table.add_column("fields", justify="right")
        table.add_column("disagree", overflow="fold")
        for r in rows:
            if r["lost"]:
                table.add_row(r["case"], "", f"[red]lost: {r['lost']}[/]")
                continue
            bad = [f for f, v in r["fields"].items() if not v["ok"]]
            table.add_row(r["case"], f"{len(r['fields']) - len(bad)}/{len(r['fields'])}",
                          f"[red]{', '.join(bad)}[/]" if bad else "[green]none[/]")
        console.print(table)
        for r in rows:
            for f, v in r["fields"].items():
                if not v["ok"]:
                    console.print(f"[bold]{r['case']}[/] {f}:\n  model: {v['model']}\n  real:  {v['real']}")
        console.print(f"{sum(r['agree'] for r in rows)} of {len(rows)} cases agree on every field")
    if not rows:
        return EXIT_BAD_INPUT
    return EXIT_OK if all(r["agree"] for r in rows) else EXIT_FAILED


def _spinner(what: str, console: Console, quiet: bool):  # noqa: ANN202
    """A spinner with the elapsed time while QEMU runs: only on a terminal, never with --json."""
    import contextlib  # noqa: PLC0415

    if quiet or not console.is_terminal:
        return contextlib.nullcontext()
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    progress = Progress(SpinnerColumn(), TextColumn(what), TimeElapsedColumn(), console=console, transient=True)
    progress.add_task(what, total=None)
    return progress


def _recorded(root: Path, as_kernel: str | None = None) -> list[dict]:
    """Every recording under ``root``, at any depth: lab boots (case.json), the lead's early boots (case.json with
    the serial log), full kdump cycles (cycle.json). Errors name the recording; none at all is an error.
    ``as_kernel``: judge the plain boots as this kernel (a profile's name), not the one that was booted; cycles
    are left out then (their crash side is the booted kernel's)."""
    from kdumplab.inputfile import read_text  # noqa: PLC0415
    from kdumplab.lab.observe import Observation  # noqa: PLC0415

    rows = []
    for case in sorted(root.rglob("case.json")):
        try:
            text = read_text(case, strict=True)  # bounded: a FIFO or a huge file is refused, not read
            try:
                obs = Observation.from_json(text)
            except KdumplabError as first:
                try:
                    obs = _early_boot(case.parent, text)
                except (KdumplabError, OSError, ValueError, KeyError, TypeError, AttributeError):
                    if '"provenance"' in text:  # a lab recording: its own error says what is wrong
                        raise first from None
                    raise
            if as_kernel is not None:
                obs = dataclasses.replace(obs, generation=as_kernel)
            rows.append(_row(str(case.parent.relative_to(root)), verify_observation(obs), None))
        except (KdumplabError, OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
            what = err.what if isinstance(err, KdumplabError) else f"{type(err).__name__}: {err}"
            raise KdumplabError(str(case.parent), f"cannot read this recording: {what}") from None
    for case in sorted(root.rglob("cycle.json")) if as_kernel is None else ():
        try:
            rows.append(_row(str(case.parent.relative_to(root)), _verify_cycle_dir(case.parent), None))
        except KdumplabError as err:
            raise KdumplabError(str(case.parent), f"cannot read this recording: {err.what}") from None
    if not rows:
        raise KdumplabError(str(root), "no recordings here (no case.json or cycle.json at any depth)",
                            "give tests/data or a directory written by lab boot --save / lab suite --record")
    return rows


def _verify_cycle_dir(case_dir: Path) -> tuple:
    """A recorded cycle judged as its kernel: a recording of a build the built-in profiles do not describe (another
    point release: its Image, hence Kernel code/data and the kernel PT_LOAD of /proc/vmcore, differ) carries the
    profile ``lab calibrate`` made of that Image as ``profile.toml``, and is judged with it."""
    import dataclasses  # noqa: PLC0415

    from kdumplab import profiles  # noqa: PLC0415
    from kdumplab.lab.cycle import load_cycle  # noqa: PLC0415
    from kdumplab.tools.verify_cycle import verify_cycle  # noqa: PLC0415

    cyc = load_cycle(case_dir)
    own = case_dir / "profile.toml"
    if own.is_file():
        from kdumplab.inputfile import read_text  # noqa: PLC0415

        prof = profiles.profile_from_toml(read_text(own, where=str(own)), str(own))
    else:  # a point release kdumplab has calibrated (profiles/calibrated), named by the recorded package
        release = re.sub(r"^linux-image-|-unsigned$", "", cyc.first.provenance.kernel_package.split()[0])
        prof = profiles.calibrated(release, cyc.first.arch)
        if prof is None:
            return verify_cycle(cyc)
    with profiles.registered(prof):  # known to every table while this recording is judged
        return verify_cycle(dataclasses.replace(cyc, first=dataclasses.replace(cyc.first, generation=prof.name)))


def _early_boot(case_dir: Path, text: str):  # noqa: ANN202
    """A boot recorded before the lab existed (tests/data/realboots): the inputs in case.json, everything the
    guest printed in serial.log between ``=== NAME`` markers; its kernel log is the console before the first."""
    from kdumplab.klog import crash_lines  # noqa: PLC0415
    from kdumplab.lab.observe import Observation, Provenance, crash_regions  # noqa: PLC0415

    data = json.loads(text)
    serial = (case_dir / "serial.log").read_text(encoding="utf-8", errors="replace").replace("\r", "")
    parts = re.split(r"^=== (\w+)\s*$", serial, flags=re.M)
    sec = dict(zip(parts[1::2], parts[2::2], strict=False))
    if "END" not in sec or "IOMEM" not in sec:
        raise KdumplabError(str(case_dir / "serial.log"), "no === IOMEM ... === END sections")
    prov = Provenance(data["kernel_package"], data["kernel_package"].split()[-1], data["qemu_version"],
                      tuple(data["qemu_cmdline"]), int(data["initrd_size"]), data["initrd_sha256"],
                      float(data["wall_time_s"]))
    size = sec.get("KEXEC_CRASH_SIZE", "").strip()
    mt = re.search(r"MemTotal:\s+(\d+) kB", sec.get("MEMINFO", ""))
    numa = data.get("numa") or ()
    return Observation(generation=data["kernel"], mem=data["mem"],
                       numa=tuple(numa.split(",") if isinstance(numa, str) else numa),
                       user_cmdline=data["cmdline"], cmdline=sec.get("CMDLINE", "").strip(),
                       crash_regions=crash_regions(sec["IOMEM"].lstrip("\n")), crash_log=crash_lines(parts[0]),
                       iomem=sec["IOMEM"].lstrip("\n"), kexec_crash_size=int(size) if size.isdigit() else None,
                       memtotal_kb=int(mt.group(1)) if mt else None, memblock_memory=None, memblock_reserved=None,
                       provenance=prov)
