"""Sweep throughput: scenarios/s of `kdumplab sweep` through the process pool, model.run per scenario when only
the RAM size or only the command line changes (with reuse, and computed afresh), and the sweep's own point
(sweep.point: model.outcome without kexec-tools, model.run with it, no caches) per size. Not a test.

    python bench/bench_sweep.py [--scenarios 1000000] [--jobs 2] [--kexec-tools 2.0.32]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from timing import median_seconds

from kdumplab import model, presets, sweep
from kdumplab.parallel import Backend
from kdumplab.tools.sweep import run_sweep

G, M = 1 << 30, 1 << 20
LINE = "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M"
KERNELS = ("5.10", "6.1", "6.12", "7.2", "proposal-2019-v5", "proposal-2019-review")


def per_scenario() -> None:
    for kexec in (None, "2.0.32"):
        for reuse in (True, False):
            ram = iter(range(G, 1 << 50, 2 * M))
            vary_ram = median_seconds(lambda: model.run(model.Scenario(  # noqa: B023
                presets.qemu_virt(next(ram), kernel="6.12"), LINE, "6.12", kexec), reuse=reuse), 400, 5)  # noqa: B023
            box = presets.qemu_virt(16 * G, kernel="6.12")
            size = iter(range(64, 1 << 30))
            vary_cmd = median_seconds(lambda: model.run(model.Scenario(  # noqa: B023
                box, f"crashkernel={next(size)}M", "6.12", kexec), reuse=reuse), 400, 5)  # noqa: B023
            print(f"model.run, kexec-tools {kexec or 'no':6}, reuse {reuse!s:5}: RAM changes {vary_ram * 1e6:6.0f} us,"
                  f" command line changes {vary_cmd * 1e6:6.0f} us (median)", flush=True)
        for kernel in ("5.10", "6.12"):
            ram = iter(range(G, 1 << 50, 2 * M))
            secs = median_seconds(lambda: sweep.point(kernel, next(ram), LINE, kexec), 400, 5)  # noqa: B023
            print(f"sweep.point {kernel:5}, kexec-tools {kexec or 'no':6}: RAM changes {secs * 1e6:6.0f} us (median)",
                  flush=True)


def cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, default=1_000_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--kexec-tools", default=None, type=lambda v: None if v == "none" else v,
                    help="the version to check (default and 'none': not checked)")
    ap.add_argument("--sweep-only", action="store_true", help="skip the per-scenario medians")
    args = ap.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    if not args.sweep_only:
        per_scenario()
    sizes = args.scenarios // len(KERNELS)
    end = G + (sizes - 1) * 2 * M
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    s = run_sweep(LINE, f"{G >> 20}M..{end >> 20}M", "2M", KERNELS, args.kexec_tools, Backend(args.jobs))
    secs, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    print(f"sweep of {s.points:,} scenarios (6 generations, 1G..{end / G:.0f}G in 2M steps, kexec-tools "
          f"{args.kexec_tools or 'not checked'}) on {args.jobs} processes: {secs:.1f} s = {s.points / secs:,.0f}/s, "
          f"{len(s.runs)} runs; {cpu:.0f} CPU-s = {cpu / s.points * 1e6:.0f} CPU-us per scenario", flush=True)
    me, kids = (resource.getrusage(who).ru_maxrss / 1024 for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(f"peak RSS: parent {me:.0f} MiB, worker {kids:.0f} MiB")


if __name__ == "__main__":
    main()
