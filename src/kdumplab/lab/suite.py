"""Run a TOML suite of boots, at most N QEMUs at once, and record each as ``<dir>/<name>/{case.json,serial.log}``.

Suite file::

    [[case]]
    name = "6.1-8G-512M"
    kernel = "6.1"
    mem = "8G"
    numa = ["4G", "4G"]      # optional
    cmdline = "crashkernel=512M"

A case may list several kernels with ``kernels = ["5.10", "6.1"]`` instead of ``kernel``; it then runs once
per kernel, named ``<kernel>-<name>``.
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
from kdumplab.lab.qemu import BootResult, BootSpec, boot, default_initrd, save
from kdumplab.lab.setup import load_lab

__all__ = ["SuiteCase", "load_suite", "run_suite"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._,=+-]*$")


@dataclass(frozen=True, slots=True)
class SuiteCase:
    name: str
    spec: BootSpec


def load_suite(path: Path) -> tuple[SuiteCase, ...]:
    """Parse a suite file; a bad key or value is a KdumplabError naming the case."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise KdumplabError(str(path), f"cannot read suite: {e}") from e
    out = []
    for i, c in enumerate(data.get("case", [])):
        where = f"{path}: case {i + 1}"
        unknown = set(c) - {"name", "kernel", "kernels", "mem", "numa", "cmdline", "note"}
        if unknown:
            raise KdumplabError(where, f"unknown keys {sorted(unknown)}")
        kernels = c.get("kernels") or [c.get("kernel")]
        for k in kernels:
            if k not in ("5.10", "6.1", "6.12", "7.2"):
                raise KdumplabError(where, f"kernel {k!r}", "one of 5.10, 6.1, 6.12, 7.2")
            name = c.get("name", "")
            name = f"{k}-{name}" if "kernels" in c else name
            if not _NAME.match(name):
                raise KdumplabError(where, f"bad case name {name!r}")
            out.append(SuiteCase(name, BootSpec(k, str(c["mem"]), str(c.get("cmdline", "")),
                                                tuple(c.get("numa", ())))))
    names = [c.name for c in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise KdumplabError(str(path), f"duplicate case names {sorted(dup)}")
    return tuple(out)


def run_suite(cases: tuple[SuiteCase, ...], jobs: int, record: Path | None,
              progress: Callable[[SuiteCase, BootResult], None]) -> dict[str, BootResult]:
    """Boot every case with ``jobs`` workers; record each (when ``record``); call ``progress`` per case."""
    lab = load_lab()
    initrd = default_initrd(lab)
    results: dict[str, BootResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        futs = {ex.submit(boot, c.spec, lab=lab, initrd=initrd): c for c in cases}
        try:
            for f in as_completed(futs):
                c = futs[f]
                r = f.result()
                results[c.name] = r
                if record is not None:
                    save(r, record / c.name)
                progress(c, r)
        except BaseException:
            for f in futs:
                f.cancel()
            run.kill_all()
            raise
    return results
