"""Where a sweep point's time goes (docs/fleet.md, "Speed"): CPU time per stage of ``model.run`` with kexec-tools,
in whichever build of kdumplab this interpreter imports (pure or compiled). Not a test.

    python bench/bench_stages.py [--sizes 200] [--kexec-tools 2.0.32]

Run it from outside the tree for a compiled install (``cd /tmp && VENV/bin/python .../bench_stages.py``): the
tree's ``src/`` is not on the path then. Each point is the sweep's (6 generations x SIZES RAM sizes 1G..300G,
the distribution's default crashkernel= range list), cut where ``model.run`` hands one stage's value to the
next: the machine (``presets.qemu_virt``), ``_boot`` (policy, early steps, the reservation and the steps after
it), the late allocations, /proc/iomem's tree, kexec-tools; then the whole point as ``sweep`` runs it (the sum
of the stages plus its own glue). Prints CPU-us a point per stage, the best of 2 passes.
"""

from __future__ import annotations

import argparse
import time

import kdumplab
from kdumplab import iomem_build, model, presets, sweep

G, M = 1 << 30, 1 << 20
KERNELS = ("5.10", "6.1", "6.12", "7.2", "proposal-2019-v5", "proposal-2019-review")
LINE = "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M"
STAGES = ("machine", "boot", "late", "iomem", "kexec", "point")


def one_pass(mems: tuple[int, ...], kexec_tools: str) -> dict[str, float]:
    """Seconds of CPU per stage over every kernel and size."""
    t = dict.fromkeys(STAGES, 0.0)
    clock = time.process_time
    for kernel in KERNELS:
        image = sweep._image(kernel)
        for mem in mems:
            t0 = clock()
            machine = presets.qemu_virt(mem, kernel=image)
            t1 = clock()
            scenario = sweep._make_scenario(machine, LINE, kernel, kexec_tools, None, None, (0, 0))
            b = model._boot(scenario, True, False)
            t2 = clock()
            final = model._late_allocations(b.policy, b.early_done, b.machine, b.low_max, LINE, b.free_after_sparse)
            t3 = clock()
            tree = iomem_build.build_iomem(b.policy, b.machine, final, b.outcome)
            t4 = clock()
            model._kexec(b.policy, b.machine, tree, b.outcome, kexec_tools, None, cmdline=LINE)
            t5 = clock()
            sweep._point(kernel, image, mem, LINE, kexec_tools)
            t6 = clock()
            for name, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True):
                t[name] += dt
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, default=200)
    ap.add_argument("--kexec-tools", default="2.0.32")
    a = ap.parse_args()
    step = ((300 * G - G) // a.sizes) // (2 * M) * (2 * M)
    mems = tuple(G + i * step for i in range(a.sizes))
    one_pass(mems[:5], a.kexec_tools)  # imports and first-use caches
    best = dict.fromkeys(STAGES, float("inf"))
    for _ in range(2):
        for name, secs in one_pass(mems, a.kexec_tools).items():
            best[name] = min(best[name], secs / (len(KERNELS) * a.sizes) * 1e6)
    build = "compiled" if kdumplab.compiled() else "pure"
    print(f"{build}, kexec-tools {a.kexec_tools}, CPU-us a point: "
          + "  ".join(f"{name} {best[name]:.1f}" for name in STAGES))


if __name__ == "__main__":
    main()
