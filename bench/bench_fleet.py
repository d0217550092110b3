"""Fleet throughput: hosts/min with the process pool and on a Dask LocalCluster (same worker count), a
resumed rerun, and the peak memory of the parent and of the workers. Not a test.

    python bench/make_fleet.py /tmp/fleet10k            # once: 10,000 hosts, 1% corrupt
    python bench/bench_fleet.py /tmp/fleet10k [--jobs 2] [--no-dask]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from kdumplab.parallel import Backend
from kdumplab.tools.fleet import run_fleet


def one(paths: tuple[str, ...], backend: Backend, db: str) -> tuple[float, int, int]:
    n = broken = 0

    def emit(rec: dict) -> None:
        nonlocal n, broken
        n += 1
        broken += rec.get("status") == "error"

    t0 = time.perf_counter()
    run_fleet(paths, db, backend, emit)
    return time.perf_counter() - t0, n, broken


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (the pool's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("fleet", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="only the first N hosts (a glob of names)")
    args = ap.parse_args()
    names = sorted(p.name for p in args.fleet.iterdir())
    paths = (str(args.fleet),) if args.limit is None else tuple(str(args.fleet / n) for n in names[:: max(
        len(names) // args.limit, 1)][: args.limit])
    with tempfile.TemporaryDirectory() as tmp:
        db = f"{tmp}/pool.duckdb"
        cpu0 = cpu_seconds()
        secs, n, broken = one(paths, Backend(args.jobs), db)
        cpu = cpu_seconds() - cpu0
        print(f"pool of {args.jobs}: {n} hosts ({broken} broken) in {secs:.1f} s = {n / secs * 60:,.0f} hosts/min; "
              f"{cpu:.1f} CPU-s = {n / cpu * 60:,.0f} hosts per CPU-minute", flush=True)
        secs2, n2, _ = one(paths, Backend(args.jobs), db)
        print(f"resumed rerun (nothing changed): {n2} hosts in {secs2:.1f} s = {n2 / secs2 * 60:,.0f} hosts/min",
              flush=True)
        if not args.no_dask:
            secs3, n3, _ = one(paths, Backend(args.jobs, "local"), f"{tmp}/dask.duckdb")
            print(f"dask LocalCluster of {args.jobs}: {n3} hosts in {secs3:.1f} s = {n3 / secs3 * 60:,.0f} hosts/min "
                  f"(x{secs3 / secs:.2f} the pool's time, cluster start included)")
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: parent {me:.0f} MiB, largest worker {kids:.0f} MiB")


if __name__ == "__main__":
    main()
