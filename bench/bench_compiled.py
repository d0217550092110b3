"""Pure vs mypyc-compiled build (docs/fleet.md, "Compiled build"): CPU time of a sweep point in each, back to back
in rounds so both see the same load, and the ratio. Not a test.

    python bench/bench_compiled.py --python .venv/bin/python --python /path/to/compiled-venv/bin/python
        [--sizes 300] [--rounds 2]

Each interpreter runs the same points in a child process (6 generations x SIZES RAM sizes 1G..300G, the
distribution's default crashkernel= range list, no kexec-tools and kexec-tools 2.0.32, sweep.sweep_runs as a
pool worker runs them) and reports the best of 3 passes in CPU-us a point, with whether its kdumplab is compiled.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys, time
import kdumplab
from kdumplab import sweep
n = int(sys.argv[1])
G, M = 1 << 30, 1 << 20
kernels = ("5.10", "6.1", "6.12", "7.2", "proposal-2019-v5", "proposal-2019-review")
step = ((300 * G - G) // n) // (2 * M) * (2 * M)
mems = tuple(G + i * step for i in range(n))
line = "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M"
out = {"compiled": kdumplab.compiled()}
for kt in (None, "2.0.32"):
    sweep.sweep_runs(("6.12", mems[:5], line, kt))  # imports and first-use caches
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        for k in kernels:
            sweep.sweep_runs((k, mems, line, kt))
        best = min(best, (time.process_time() - t) / (len(kernels) * n) * 1e6)
    out[kt or "none"] = best
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", action="append", required=True, help="an interpreter with kdumplab installed")
    ap.add_argument("--sizes", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    best: dict[str, dict[str, float]] = {}
    for r in range(a.rounds):
        for exe in a.python:
            res = json.loads(subprocess.run([exe, "-c", CHILD, str(a.sizes)], check=True, capture_output=True,
                                            text=True).stdout)
            name = f"{exe} ({'compiled' if res.pop('compiled') else 'pure'})"
            print(f"round {r + 1}: {name}: no kexec-tools {res['none']:6.1f}, kexec-tools 2.0.32 "
                  f"{res['2.0.32']:6.1f} CPU-us a point", flush=True)
            for k, v in res.items():
                best.setdefault(name, {})[k] = min(v, best.get(name, {}).get(k, float("inf")))
    names = list(best)
    for name in names:
        print(f"best: {name}: no kexec-tools {best[name]['none']:6.1f}, 2.0.32 {best[name]['2.0.32']:6.1f} CPU-us")
    if len(names) == 2:
        a0, a1 = best[names[0]], best[names[1]]
        print(f"ratio second/first: no kexec-tools {a1['none'] / a0['none']:.2f}, "
              f"2.0.32 {a1['2.0.32'] / a0['2.0.32']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
