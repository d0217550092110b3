"""``kdumplab report``: the HTML page, written to a temp file and renamed so nothing half-written remains."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

from kdumplab import model
from kdumplab.capture import Capture, from_texts
from kdumplab.errors import KdumplabError
from kdumplab.findings import analyze
from kdumplab.render.html import page
from kdumplab.tools.compare import compare, compare_status
from kdumplab.tools.explain import explain


def modelled_capture(res: model.Result, kexec: model.Result | None = None) -> Capture:
    """What ``check`` would read on the modelled machine: its /proc/iomem, cmdline, kexec_crash_size and log,
    and with ``kexec`` (the same boot with kexec-tools) that version and whether it loaded."""
    s = res.scenario
    arch = "aarch64" if s.machine.arch == "arm64" else s.machine.arch
    texts = {"iomem": res.iomem_text, "cmdline": s.cmdline + "\n", "kexec_crash_size": f"{res.kexec_crash_size}\n",
             "kernel_log": "\n".join(res.outcome.log) + "\n",
             "uname": f"Linux model {s.kernel} #1 SMP {arch} GNU/Linux\n"}
    if kexec is not None and kexec.kexec is not None:
        texts["kexec_version"] = f"kexec-tools {kexec.kexec.tools}\n"
        texts["kexec_crash_loaded"] = f"{int(kexec.kexec.loaded)}\n"
    return from_texts(f"model: {s.machine.name}", texts)


def build(scn: model.Scenario, machine_for=None) -> tuple[str, int]:  # noqa: ANN001 - see compare.compare
    """The page and its exit status: the scenario's kernel with the kexec-tools Debian ships beside it (the
    cell compare marks), so the findings, the matrix and the exit status say the same."""
    expl = explain(scn)
    rows = compare(scn.machine, scn.cmdline, machine_for)
    name = expl.result.policy.name
    row = next((r for r in rows if r.policy == name), None)
    paired = None
    if row is not None and row.paired and any(c.version == row.paired and c.loaded is not None for c in row.cells):
        paired = model.run(dataclasses.replace(scn, kexec_tools=row.paired))
    analysis = analyze(modelled_capture(expl.result, paired))
    from kdumplab import kaslr  # noqa: PLC0415

    dist = kaslr.distribution(scn) if kaslr.placement_is_random(scn.machine, scn.cmdline) else None
    return page(expl.result, expl, rows, analysis, name, dist), compare_status(rows, name)


def write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (temp file beside it, then rename), mode 0666 & ~umask."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.", suffix=".tmp")
    except OSError as err:
        raise KdumplabError(path, f"cannot write: {err.strerror}") from None
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)  # as open() would make it (mkstemp makes 0600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
