"""Median in-process time of one `plan` (model.run) on the qemu-virt preset and on a 64-bank server.

Run: python bench/bench_plan.py   (prints medians in microseconds; not a test)
"""

from __future__ import annotations

from timing import median_seconds

from kdumplab import model, presets
from kdumplab.machine import Bank, Machine

G = 1 << 30


def server64() -> Machine:
    """64 banks of 16 GiB on 8 nodes, with holes between them (a large two-socket server)."""
    banks = tuple(Bank(0x80_0000_0000 + i * 17 * G, 16 * G, node=i // 8) for i in range(64))
    return Machine(name="server-64-banks", banks=banks)


def bench(label: str, scenario: model.Scenario, n: int = 200) -> float:
    med = median_seconds(lambda: model.run(scenario), n, warmup=1) * 1e6
    print(f"{label:55s} median {med:9.1f} us over {n} runs")
    return med


if __name__ == "__main__":
    bench("qemu-virt 8G, 6.1, crashkernel=512M",
          model.Scenario(presets.qemu_virt(8 * G, kernel="6.1"), "crashkernel=512M", "6.1"))
    bench("qemu-virt 8G, 6.12, crashkernel=3G (fallback + low)",
          model.Scenario(presets.qemu_virt(8 * G, kernel="6.12"), "crashkernel=3G", "6.12"))
    bench("64-bank server, 6.12, crashkernel=2G,high", model.Scenario(server64(), "crashkernel=2G,high", "6.12"), 50)
