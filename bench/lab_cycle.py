"""Lab benchmark (not a test): wall time of a full kdump cycle (boot, `kexec -p`, panic, crash kernel
reports, power-off) per kernel, one QEMU at a time.

    python bench/lab_cycle.py [--runs 3] [--kexec-tools 2.0.32] [--checks] [--firmware dt|uefi|both]
                              [--kernels 6.12,7.2] [--mem 8G]

--checks runs kexec without -i, so purgatory verifies its SHA-256 over the segments before the crash
kernel starts. --firmware both alternates a DT and a UEFI cycle of the same case (a load burst on the shared
machine then falls on both alike) and also prints where the time goes: the first kernel's and the crash
kernel's own clock at "Run /init" (so the rest is firmware, decompression and QEMU). Needs a filled cache
(`kdumplab lab setup`).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time

from kdumplab.lab.cycle import CycleSpec, run_cycle
from kdumplab.lab.qemu import BootSpec
from kdumplab.lab.setup import load_lab

KERNELS = ("5.10", "6.1", "6.12", "7.2")
_RUN_INIT = re.compile(r"^\[\s*(\d+\.\d+)\] Run /init as init process", re.M)


def _init_times(serial: str) -> tuple[float, ...]:
    """Each kernel's own clock when it started /init: the first kernel's console before the panic, then the
    crash kernel's after "Starting crashdump kernel" (the first match in each: /init prints dmesg again)."""
    out = []
    for part in serial.split("Starting crashdump kernel", 1):
        m = _RUN_INIT.search(part)
        if m:
            out.append(float(m.group(1)))
    return tuple(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kexec-tools", default="2.0.32")
    ap.add_argument("--checks", action="store_true")
    ap.add_argument("--firmware", choices=("dt", "uefi", "both"), default="dt")
    ap.add_argument("--kernels", default=",".join(KERNELS))
    ap.add_argument("--mem", default="8G")
    args = ap.parse_args()
    lab = load_lab()
    firmwares = ("dt", "uefi") if args.firmware == "both" else (args.firmware,)
    every: dict[str, list[float]] = {fw: [] for fw in firmwares}
    for k in args.kernels.split(","):
        walls: dict[str, list[float]] = {fw: [] for fw in firmwares}
        clocks: dict[str, list[tuple[float, ...]]] = {fw: [] for fw in firmwares}
        for _ in range(args.runs):
            for fw in firmwares:
                spec = CycleSpec(BootSpec(k, args.mem, "crashkernel=512M", firmware="" if fw == "dt" else fw),
                                 args.kexec_tools, no_checks=not args.checks)
                t0 = time.monotonic()
                r = run_cycle(spec, lab=lab)
                walls[fw].append(time.monotonic() - t0)
                assert r.cycle is not None and r.cycle.capture is not None, r.lost
                clocks[fw].append(_init_times(r.serial))
        for fw in firmwares:
            w = walls[fw]
            every[fw] += w
            inits = [c for c in clocks[fw] if len(c) == 2]
            split = (f"; /init at {statistics.median(c[0] for c in inits):.2f} s (first) and "
                     f"{statistics.median(c[1] for c in inits):.2f} s (crash kernel) on the guests' clocks"
                     if inits else "")
            print(f"{k} {fw}: median {statistics.median(w):.2f} s over {len(w)} cycles "
                  f"(min {min(w):.2f}, max {max(w):.2f}){split}")
    for fw in firmwares:
        print(f"all kernels, {fw}: median {statistics.median(every[fw]):.2f} s over {len(every[fw])} cycles, "
              f"kexec-tools {args.kexec_tools}, {'with' if args.checks else 'without (-i)'} purgatory checks, "
              f"-m {args.mem}, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
