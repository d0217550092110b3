"""Lab benchmarks (not a test): boot wall time per kernel, boots/minute with parallel QEMUs, host memory
per guest, and optionally `lab setup` from an empty cache.

    python bench/lab_boot.py [--parallel 2] [--boots 8] [--setup]

Needs a filled cache (`kdumplab lab setup`). --setup runs setup into a fresh temporary cache
(KDUMPLAB_CACHE) and reports its wall time; apt state on the host is left as it is.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from kdumplab.lab.qemu import BootSpec, boot, default_initrd
from kdumplab.lab.setup import load_lab, setup

KERNELS = ("5.10", "6.1", "6.12", "7.2")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--boots", type=int, default=8)
    ap.add_argument("--setup", action="store_true")
    args = ap.parse_args()
    if args.setup:
        with tempfile.TemporaryDirectory(prefix="kdumplab-bench-cache-") as tmp:
            old = os.environ.get("KDUMPLAB_CACHE")
            os.environ["KDUMPLAB_CACHE"] = tmp
            t0 = time.monotonic()
            setup(lambda s: None)
            print(f"lab setup from an empty cache: {time.monotonic() - t0:.1f} s")
            if old is None:
                del os.environ["KDUMPLAB_CACHE"]
            else:
                os.environ["KDUMPLAB_CACHE"] = old
    lab = load_lab()
    initrd = default_initrd(lab)
    print(f"initrd {initrd.size} bytes")
    for k in KERNELS:
        walls = []
        for _ in range(3):
            r = boot(BootSpec(k, "8G", "crashkernel=512M"), lab=lab, initrd=initrd)
            assert r.observation is not None, r.lost
            walls.append(r.observation.provenance.wall_s)
        print(f"{k:5} 8G median {statistics.median(walls):.2f} s  ({', '.join(f'{w:.2f}' for w in walls)})")
    specs = [BootSpec(KERNELS[i % 4], "8G", "crashkernel=512M") for i in range(args.boots)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(args.parallel) as ex:
        results = list(ex.map(lambda s: boot(s, lab=lab, initrd=initrd), specs))
    dt = time.monotonic() - t0
    lost = sum(r.observation is None for r in results)
    print(f"{args.boots} boots with {args.parallel} QEMUs: {dt:.1f} s = {args.boots / dt * 60:.1f} boots/min"
          f" ({lost} lost)")
    for mem in ("1G", "8G", "16G"):
        boot(BootSpec("6.12", mem, "crashkernel=512M" if mem != "1G" else "crashkernel=256M"), lab=lab,
             initrd=initrd)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"peak RSS of any QEMU so far (after a -m {mem} boot): {peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
