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
    rng = true               # optional: -device virtio-rng-pci (an EFI RNG under UEFI)
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


#: Each key a case may have, and the type its value must have (TOML gives str, int, bool, list).
_CASE_KEYS: dict[str, type | tuple[type, ...]] = {"name": str, "kernel": str, "kernels": list, "mem": str, "numa": list,
                               "cmdline": str, "note": str, "kexec_tools": list, "arch": str, "firmware": str,
                               "file_load": bool, "ptdump": bool, "repeat": int, "cpu": str, "smp": int,
                               "dma_window": (str, int), "rng": bool}
_LIST_OF_STR = ("kernels", "numa", "kexec_tools")
_MAX_REPEAT = 10_000  # a bound, so `repeat = 1000000000` is an error, not a billion cases


def _check_case(c: object, where: str) -> dict:
    """The case table with every value of the type it must have; anything else names the key."""
    if not isinstance(c, dict):
        raise KdumplabError(where, f"is {type(c).__name__} {c!r:.40}, not a table", "write [[case]] tables")
    unknown = set(c) - set(_CASE_KEYS)
    if unknown:
        raise KdumplabError(where, f"unknown keys {', '.join(sorted(unknown))}",
                            "known: " + ", ".join(_CASE_KEYS))
    for key, want in _CASE_KEYS.items():
        if key not in c:
            continue
        v = c[key]
        ok = isinstance(v, want) and not isinstance(v, bool) or want is bool and isinstance(v, bool)
        if ok and key in _LIST_OF_STR:
            ok = all(isinstance(x, str) for x in v)
        if not ok:
            kind = "a list of strings" if key in _LIST_OF_STR else {str: "a string", int: "an integer",
                                                                       bool: "true or false"}.get(want, "a size")
            raise KdumplabError(where, f"{key} = {v!r:.40} must be {kind}")
    if "mem" not in c:
        raise KdumplabError(where, "no mem", 'e.g. mem = "8G"')
    if "kernel" not in c and "kernels" not in c:
        raise KdumplabError(where, "no kernel", 'e.g. kernel = "6.1"')
    if not 1 <= c.get("repeat", 1) <= _MAX_REPEAT:
        raise KdumplabError(where, f"repeat = {c['repeat']} must be 1 to {_MAX_REPEAT}")
    return c


def load_suite(path: Path) -> tuple[SuiteCase, ...]:
    """Parse a suite file; a bad key, type or value is one line naming the suite file and the case."""
    from kdumplab.inputfile import read_text  # noqa: PLC0415

    try:
        data = tomllib.loads(read_text(path, strict=True))
    except FileNotFoundError:
        raise KdumplabError(str(path), "cannot read suite: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise KdumplabError(str(path), f"not a TOML suite: {e}") from None
    cases = data.get("case", [])
    if not isinstance(cases, list):
        raise KdumplabError(str(path), f"case = {cases!r:.40} is not a list of [[case]] tables")
    out = []
    for i, raw in enumerate(cases):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"{path}: case {i + 1}" + (f" ({name})" if isinstance(name, str) and name else "")
        c = _check_case(raw, where)
        kernels = c.get("kernels") or [c.get("kernel")]
        known = (*KERNEL_SUITES, *LAB_BUILT)
        for k in kernels:
            if k not in known:
                raise KdumplabError(where, f"kernel {k!r}", "one of " + ", ".join(known))
            try:
                spec = BootSpec(k, c["mem"], c.get("cmdline", ""), tuple(c.get("numa", ())), c.get("arch", "arm64"),
                                c.get("firmware", ""), c.get("cpu", ""),
                                None if c.get("dma_window") is None else str(c["dma_window"]), c.get("rng", False),
                                c.get("smp", 1))
            except KdumplabError as err:  # BootSpec names the option (--mem); say which suite and case
                raise KdumplabError(where, f"{err.where.lstrip('-')}: {err.what}", err.hint) from None
            base = c.get("name", "")
            base = f"{k}-{base}" if "kernels" in c else base
            for kt in c.get("kexec_tools") or [None]:
                name = base if kt is None else f"{k}-kt{kt}-{c.get('name', '')}"
                if not _NAME.match(name):
                    raise KdumplabError(where, f"bad case name {name!r}")
                for r in range(c.get("repeat", 1)):
                    out.append(SuiteCase(name if r == 0 else f"{name}-r{r}", spec, kt, c.get("file_load", False),
                                         c.get("ptdump", False)))
    names = [c.name for c in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise KdumplabError(str(path), f"duplicate case names {', '.join(sorted(dup))}")
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
