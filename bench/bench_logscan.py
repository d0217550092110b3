"""Time the evidence readers on growing input: the log scanner and the lenient iomem reader must stay linear.

    python bench/bench_logscan.py

Input: a recorded Debian boot's dmesg (tests/data/boots/6.1-high-1G) repeated N times (N boots in one paste), and
a hostile line of near-misses; prints seconds and seconds per MiB for each size.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import median_seconds  # noqa: E402
from kdumplab import iomem_lenient, logscan  # noqa: E402
from tests.serial_sections import sections  # noqa: E402

BOOT = Path(__file__).resolve().parents[1] / "tests" / "data" / "boots" / "6.1-high-1G" / "serial.log"


def main() -> None:
    sec = sections(BOOT.read_text())
    log, iomem = sec["DMESG"], sec["IOMEM"]
    hostile = ("crashkernel reserved: 0x" + "0" * 18 + " - " * 2000 + "[" * 50_000 + "\n") * 20
    for n in (1, 10, 100):
        text = log * n
        mib = len(text) / (1 << 20)
        t = median_seconds(lambda text=text: logscan.scan(text), runs=3)
        print(f"logscan  {n:4} boots {mib:7.2f} MiB  {t:8.4f} s  {t / mib:7.3f} s/MiB")
    mib = len(hostile) / (1 << 20)
    t = median_seconds(lambda: logscan.scan(hostile), runs=3)
    print(f"logscan  hostile   {mib:7.2f} MiB  {t:8.4f} s  {t / mib:7.3f} s/MiB")
    for n in (1, 100):
        text = iomem * n
        mib = len(text) / (1 << 20)
        t = median_seconds(lambda text=text: iomem_lenient.read(text), runs=3)
        print(f"iomem    x{n:<4}      {mib:7.2f} MiB  {t:8.4f} s  {t / mib:7.3f} s/MiB")


if __name__ == "__main__":
    main()
