"""Lab benchmark (not a test): wall time of a full kdump cycle (boot, `kexec -p`, panic, crash kernel
reports, power-off) per kernel, one QEMU at a time.

    python bench/lab_cycle.py [--runs 3] [--kexec-tools 2.0.32] [--checks]

--checks runs kexec without -i, so purgatory verifies its SHA-256 over the segments before the crash
kernel starts. Needs a filled cache (`kdumplab lab setup`).
"""

from __future__ import annotations

import argparse
import statistics
import time

from kdumplab.lab.cycle import CycleSpec, run_cycle
from kdumplab.lab.qemu import BootSpec
from kdumplab.lab.setup import load_lab

KERNELS = ("5.10", "6.1", "6.12", "7.2")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kexec-tools", default="2.0.32")
    ap.add_argument("--checks", action="store_true")
    args = ap.parse_args()
    lab = load_lab()
    every = []
    for k in KERNELS:
        walls = []
        for _ in range(args.runs):
            spec = CycleSpec(BootSpec(k, "8G", "crashkernel=512M"), args.kexec_tools, no_checks=not args.checks)
            t0 = time.monotonic()
            r = run_cycle(spec, lab=lab)
            walls.append(time.monotonic() - t0)
            assert r.cycle is not None and r.cycle.capture is not None, r.lost
        every += walls
        print(f"{k}: median {statistics.median(walls):.2f} s over {len(walls)} cycles "
              f"(min {min(walls):.2f}, max {max(walls):.2f})")
    print(f"all kernels: median {statistics.median(every):.2f} s over {len(every)} cycles, kexec-tools "
          f"{args.kexec_tools}, {'with' if args.checks else 'without (-i)'} purgatory checks")


if __name__ == "__main__":
    main()
