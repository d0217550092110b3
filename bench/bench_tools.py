"""Median in-process time of the people-facing tools (milliseconds). Not a test.

Run: python bench/bench_tools.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_seconds  # noqa: E402

from kdumplab import capture, model, presets  # noqa: E402
from kdumplab.findings import analyze  # noqa: E402
from kdumplab.recommend import recommend  # noqa: E402
from kdumplab.tools.compare import compare  # noqa: E402
from kdumplab.tools.explain import explain  # noqa: E402
from kdumplab.tools.report import build  # noqa: E402
from tests.tools.util import realboot_files, sosreport  # noqa: E402

CAPTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "captures" / "6.1-8G-two-regions-kexec-2.0.20"


def median_ms(fn, rounds: int = 7) -> float:  # noqa: ANN001
    return median_seconds(fn, rounds) * 1e3


def main() -> None:
    altra = presets.machine("ampere-altra-2p")
    rpi = presets.machine("rpi4-8g")
    with tempfile.TemporaryDirectory() as tmp:
        sos = sosreport(realboot_files("6.1-16G-a12-crashkernel-4G-high"), Path(tmp) / "s.tar.xz")
        cases = {
            "check --root (capture + analyze)": lambda: analyze(capture.from_root(CAPTURE)),
            "check --sosreport (.tar.xz)": lambda: analyze(capture.from_sosreport(sos)),
            "explain rpi4-8g crashkernel=1G 6.1": lambda: explain(model.Scenario(rpi, "crashkernel=1G", "6.1")),
            "recommend ampere-altra-2p 6.1": lambda: recommend(altra, "6.1"),
            "compare qemu-virt (6 policies x 4 kexec)": lambda: compare(presets.qemu_virt(), "crashkernel=512M"),
            "report rpi4-8g (HTML build)": lambda: build(model.Scenario(rpi, "crashkernel=1G,high", "6.1")),
        }
        for name, fn in cases.items():
            print(f"{name:45} {median_ms(fn):9.1f} ms")


if __name__ == "__main__":
    main()
