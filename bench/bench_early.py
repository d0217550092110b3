"""The stages of a sweep point up to and including the crash reservation, one by one: CPU microseconds a point
for the boot memblock (early.boot_memblock), each early step alone (early.run_steps of that step, from the boot
memblock), all the steps before the reservation (model._early_state), the reservation itself
(reserve.reserve_crashkernel of the command line's size) and the whole point without kexec-tools
(model.outcome, no caches, as sweep.point runs it). The grid is ptbench's: 6 generations x N sizes from 1G to
300G on qemu-virt. CPU time in process, the least of ``--reps`` passes (the machine is shared). Not a test.

    python bench/bench_early.py [--n 300] [--reps 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable

from kdumplab import early, model, presets
from kdumplab.policy import EarlyStep, for_kernel
from kdumplab.reserve import reserve_crashkernel

G, M = 1 << 30, 1 << 20
LINE = "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M"
KERNELS = ("5.10", "6.1", "6.12", "7.2", "proposal-2019-v5", "proposal-2019-review")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="sizes per generation")
    ap.add_argument("--reps", type=int, default=5, help="passes; the least is printed")
    a = ap.parse_args()
    step = ((300 * G - G) // a.n) // (2 * M) * (2 * M)
    points = []
    for kernel in KERNELS:
        policy = for_kernel(kernel, "arm64")
        for mem in range(G, G + a.n * step, step):
            machine = presets.qemu_virt(mem, kernel=kernel if kernel in presets.DEBIAN_IMAGES else "6.1")
            machine = dataclasses.replace(machine, page_size=policy.page_size)
            facts = model.boot_facts(policy, machine, LINE)
            points.append((kernel, policy, machine, facts, model._deferred(policy, machine)))  # noqa: SLF001

    def per_point(fn: Callable[[], object]) -> float:
        best = float("inf")
        for _ in range(a.reps):
            t0 = time.process_time()
            fn()
            best = min(best, time.process_time() - t0)
        return best / len(points) * 1e6

    boot = [early.boot_memblock(p[1], p[2]) for p in points]
    limits = [early.low_limit(p[1], mb, p[2]) for p, mb in zip(points, boot, strict=True)]
    states = [model._early_state(p[1], p[2], p[3], p[4]) for p in points]  # noqa: SLF001
    rows = [("boot memblock", per_point(lambda: [early.boot_memblock(p[1], p[2]) for p in points]))]
    for st in (EarlyStep.PAGE_TABLES, EarlyStep.SPARSE, EarlyStep.CMA):
        rows.append((f"step {st.name.lower()}", per_point(lambda st=st: [
            early.run_steps((st,), p[1], mb, p[2], p[3], lim)
            for p, mb, lim in zip(points, boot, limits, strict=True) if st in p[1].early_steps])))
    rows.append(("early state (before the reservation)", per_point(lambda: [
        model._early_state(p[1], p[2], p[3], p[4]) for p in points])))  # noqa: SLF001
    rows.append(("reservation (256M)", per_point(lambda: [
        reserve_crashkernel(p[1], s.memblock, 256 * M, None, False, None, s.low_max, p[2].page_size)
        for p, s in zip(points, states, strict=True)])))
    rows.append(("model.outcome, no caches", per_point(lambda: [
        model.outcome(model.Scenario(p[2], LINE, p[0]), cache=False) for p in points])))
    for what, us in rows:
        print(f"{what:40} {us:7.1f} CPU-us a point")


if __name__ == "__main__":
    main()
