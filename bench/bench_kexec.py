"""Median time of load_crash_kernel + crash_view on vector K3 (target < 1 ms)."""

from __future__ import annotations

import statistics
import time

from kdumplab.crashview import CRASH_KERNELS, crash_view
from kdumplab.kexec import KERNEL_KEXEC, KexecInputs, kexec_tools, load_crash_kernel
from kdumplab.ranges import PhysRange

IOMEM = (
    "40000000-23fffffff : System RAM\n  40210000-41a1ffff : Kernel code\n  41a20000-4234ffff : Kernel data\n"
    "  f4000000-fbffffff : Crash kernel\n  17f000000-23effffff : Crash kernel\n"
)


def main() -> None:
    tools, kernel, view = kexec_tools("2.0.25"), KERNEL_KEXEC["6.12"], CRASH_KERNELS["6.12"]
    inputs, region = KexecInputs(initrd_size=30 << 20), PhysRange(0x17F000000, 0x23F000000)
    times = []
    for _ in range(2000):
        t0 = time.perf_counter()
        crash_view(view, load_crash_kernel(tools, kernel, IOMEM, region, inputs))
        times.append(time.perf_counter() - t0)
    print(f"load_crash_kernel + crash_view: median {statistics.median(times) * 1e6:.1f} us over {len(times)} runs")


if __name__ == "__main__":
    main()
