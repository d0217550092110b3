"""Start time of the CLI process (hyperfine-style: median of repeated runs), against bare Python and click,
and the modules `kdumplab --version` imports (python -X importtime). Not a test.

    python bench/bench_cli_start.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def medians_ms(cases: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Round-robin over the cases (one run of each per round), so a burst of load on this shared machine
    falls on all of them alike and the ratios within one run hold."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, argv in cases.items():
            t0 = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) * 1e3 for name, s in samples.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    exe = shutil.which("kdumplab") or "kdumplab"
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import click'": [sys.executable, "-c", "import click"],
        "kdumplab --version": [exe, "--version"],
        "kdumplab --help": [exe, "--help"],
        "kdumplab lab --help": [exe, "lab", "--help"],
        "kdumplab check --help": [exe, "check", "--help"],
        "kdumplab plan --help": [exe, "plan", "--help"],
        "kdumplab sweep --help": [exe, "sweep", "--help"],
        "kdumplab fleet --help": [exe, "fleet", "--help"],
    }
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min); "
          f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r} (set: our modules are "
          "compiled from source on every start)")
    for name, ms in medians_ms(cases, args.runs).items():
        print(f"{name:28} median {ms:6.1f} ms over {args.runs} runs")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import kdumplab.cli"], capture_output=True,
                         text=True, check=False).stderr.splitlines()
    rows = []
    for line in out[1:]:
        parts = line.split("|")
        if len(parts) == 3:
            rows.append((int(parts[1]), parts[2].rstrip()))
    print("heaviest imports (cumulative us):")
    for us, name in sorted(rows, reverse=True)[:12]:
        print(f"  {us:8d} {name}")


if __name__ == "__main__":
    main()
