"""Run a TOML suite of boots, at most N QEMUs at once, and record each as ``<dir>/<name>/{case.json,serial.log}``.

Suite file::

    [[case]]
    name = "6.1-8G-512M"
    kernel = "6.1"
    mem = "8G"
    numa = ["4G", "4G"]      # optional
    cmdline = "crashkernel=512M"
    arch = "x86_64"          # optional (default arm64)
    firmware = "uefi"        # optional (default: the board's direct boot, dt / bios)
    file_load = true         # optional, cycles only: kexec -s (kexec_file_load)
    dma_window = "1G"        # optional: QEMU's DT with dma-ranges limiting device DMA to the first 1G
    cpu = "neoverse-n1"      # optional (default cortex-a57)

A case may list several kernels with ``kernels = ["5.10", "6.1"]`` instead of ``kernel``; it then runs once
per kernel, named ``<kernel>-<name>``. A case with ``kexec_tools = ["2.0.20", "2.0.32"]`` is a full kdump
cycle (lab/cycle.py) once per kernel and version, named ``<kernel>-kt<version>-<name>`` and recorded as
``<dir>/<name>/{cycle.json,serial.log.gz}``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from kdumplab.errors import KdumplabError
from kdumplab.lab import run
from kdumplab.lab.build import VARIANTS as LAB_BUILT
from kdumplab.lab.cycle import CycleResult, CycleSpec, run_cycle, save_cycle
from kdumplab.lab.initramfs import Built
from kdumplab.lab.qemu import BootResult, BootSpec, boot, default_initrd, save
from kdumplab.lab.setup import KERNEL_SUITES, Lab, load_lab

__all__ = ["SuiteCase", "load_suite", "run_suite"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._,=+-]*$")


@dataclass(frozen=True, slots=True)
class SuiteCase:
    name: str
    spec: BootSpec
    kexec_tools: str | None = None  # a full cycle with this kexec-tools version
    file_load: bool = False  # the cycle's kexec uses -s (kexec_file_load)
    ptdump: bool = False  # the report also holds the linear map (lab-built kernels have PTDUMP_DEBUGFS)


def load_suite(path: Path) -> tuple[SuiteCase, ...]:
    """Parse a suite file; a bad key or value is a KdumplabError naming the case."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise KdumplabError(str(path), f"cannot read suite: {e}") from e
    out = []
    for i, c in enumerate(data.get("case", [])):
        where = f"{path}: case {i + 1}"
        unknown = set(c) - {"name", "kernel", "kernels", "mem", "numa", "cmdline", "note", "kexec_tools", "arch",
                            "firmware", "file_load", "repeat", "ptdump", "cpu", "dma_window"}
        if unknown:
            raise KdumplabError(where, f"unknown keys {sorted(unknown)}")
        kernels = c.get("kernels") or [c.get("kernel")]
        known = (*KERNEL_SUITES, *LAB_BUILT)
        for k in kernels:
            if k not in known:
                raise KdumplabError(where, f"kernel {k!r}", "one of " + ", ".join(known))
            spec = BootSpec(k, str(c["mem"]), str(c.get("cmdline", "")), tuple(c.get("numa", ())),
                            str(c.get("arch", "arm64")), str(c.get("firmware", "")), str(c.get("cpu", "")),
                            None if c.get("dma_window") is None else str(c["dma_window"]))
            base = c.get("name", "")
            base = f"{k}-{base}" if "kernels" in c else base
            for kt in c.get("kexec_tools") or [None]:
                name = base if kt is None else f"{k}-kt{kt}-{c.get('name', '')}"
                if not _NAME.match(name):
                    raise KdumplabError(where, f"bad case name {name!r}")
                for r in range(int(c.get("repeat", 1))):
                    out.append(SuiteCase(name if r == 0 else f"{name}-r{r}", spec, None if kt is None else str(kt),
                                         bool(c.get("file_load", False)), bool(c.get("ptdump", False))))
    names = [c.name for c in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise KdumplabError(str(path), f"duplicate case names {sorted(dup)}")
    return tuple(out)


def _run_case(case: SuiteCase, lab: Lab, initrd: Built, record: Path | None) -> BootResult | CycleResult:
    if case.kexec_tools is None:
        if case.ptdump:
            initrd = default_initrd(lab, ptdump=True)
        result: BootResult | CycleResult = boot(case.spec, lab=lab, initrd=initrd)
        if record is not None:
            save(result, record / case.name)
        return result
    result = run_cycle(CycleSpec(case.spec, case.kexec_tools, file_load=case.file_load, ptdump=case.ptdump),
                       lab=lab)
    if record is not None:
        save_cycle(result, record / case.name)
    return result


def run_suite(cases: tuple[SuiteCase, ...], jobs: int, record: Path | None,
              progress: Callable[[SuiteCase, BootResult | CycleResult], None]) -> dict[str, BootResult | CycleResult]:
    """Run every case (boot or full cycle) with ``jobs`` workers; record each (when ``record``); call
    ``progress`` per case."""
    labs = {a: load_lab(a) for a in sorted({c.spec.arch for c in cases})}
    initrds = {a: default_initrd(lab) for a, lab in labs.items()}
    results: dict[str, BootResult | CycleResult] = {}
    with run.signals_interrupt(), ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        futs = {ex.submit(_run_case, c, labs[c.spec.arch], initrds[c.spec.arch], record): c for c in cases}
        try:
            for f in as_completed(futs):
                c = futs[f]
                r = f.result()
                results[c.name] = r
                progress(c, r)
        except BaseException:
            for f in futs:
                f.cancel()
            run.kill_all()
            raise
    return results
