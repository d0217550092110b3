"""``kdumplab report``: the HTML page, written to a temp file and renamed so nothing half-written remains."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kdumplab import model
from kdumplab.capture import Capture, from_texts
from kdumplab.errors import KdumplabError
from kdumplab.findings import analyze
from kdumplab.render.html import page
from kdumplab.tools.compare import compare
from kdumplab.tools.explain import explain


def modelled_capture(res: model.Result) -> Capture:
    """What ``check`` would read on the modelled machine: its /proc/iomem, cmdline, kexec_crash_size and log."""
    s = res.scenario
    arch = "aarch64" if s.machine.arch == "arm64" else s.machine.arch
    return from_texts(f"model: {s.machine.name}", {
        "iomem": res.iomem_text, "cmdline": s.cmdline + "\n", "kexec_crash_size": f"{res.kexec_crash_size}\n",
        "kernel_log": "\n".join(res.outcome.log) + "\n", "uname": f"Linux model {s.kernel} #1 SMP {arch} GNU/Linux\n"})


def build(scn: model.Scenario) -> str:
    expl = explain(scn)
    return page(expl.result, expl, compare(scn.machine, scn.cmdline), analyze(modelled_capture(expl.result)))


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
