"""Model speed of the whole path in one call: boot (reservation), `kexec -p` placement and the crash
kernel's view, as `kdumplab plan --kexec-tools` runs it (target: median under 1 ms). Also the kexec +
crash view stages alone.

    python bench/bench_kexec.py
"""

from __future__ import annotations

from collections.abc import Callable

from timing import median_seconds

from kdumplab import model
from kdumplab.crashview import CRASH_KERNELS, crash_view
from kdumplab.kexec import KERNEL_KEXEC, KexecInputs, kexec_tools, load_crash_kernel
from kdumplab.presets import qemu_virt
from kdumplab.presets.q35 import qemu_q35
from kdumplab.ranges import PhysRange

IOMEM = (
    "40000000-23fffffff : System RAM\n  40210000-41a1ffff : Kernel code\n  41a20000-4234ffff : Kernel data\n"
    "  f4000000-fbffffff : Crash kernel\n  17f000000-23effffff : Crash kernel\n"
)


def _median_us(fn: Callable[[], object], runs: int) -> float:
    return median_seconds(fn, runs, warmup=1) * 1e6


def main() -> None:
    for kernel, cmd in (("6.12", "crashkernel=1G,high"), ("6.1", "crashkernel=512M"),
                        ("7.2", "crashkernel=1G,high crashkernel=128M,low")):
        sc = model.Scenario(qemu_virt(kernel=kernel), cmd, kernel, "2.0.32", crash_initrd_size=987_675)
        us = _median_us(lambda sc=sc: model.run(sc), 500)
        print(f"model.run boot + kexec + crash view ({kernel}, {cmd}): median {us:.0f} us")
    tools, kernel, view = kexec_tools("2.0.25"), KERNEL_KEXEC["6.12"], CRASH_KERNELS["6.12"]
    inputs, region = KexecInputs(initrd_size=30 << 20), PhysRange(0x17F000000, 0x23F000000)
    us = _median_us(lambda: crash_view(view, load_crash_kernel(tools, kernel, IOMEM, region, inputs)), 2000)
    print(f"load_crash_kernel + crash_view alone: median {us:.1f} us")
    # x86_64 (q35): kexec_x86 + crashview_x86 through model.run, kexec_load (2.0.25) and kexec_file_load (2.0.32)
    for kernel, kt, cmd in (("6.1", "2.0.25", "nokaslr crashkernel=1G,high"),
                            ("7.2", "2.0.32", "nokaslr crashkernel=512M")):
        sc = model.Scenario(qemu_q35(6 << 30, kernel=kernel), cmd, kernel, kt, crash_initrd_size=1_028_086)
        us = _median_us(lambda sc=sc: (model.run(sc).crash_view), 500)
        print(f"x86 model.run boot + kexec + crash view ({kernel}, kexec-tools {kt}, {cmd}): median {us:.0f} us")


if __name__ == "__main__":
    main()
