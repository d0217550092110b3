"""Boot wall time under EDK2 against the direct DT boot (not a test): the same kernel, RAM and command line,
one QEMU at a time, the two firmwares alternated so that a burst of load on this shared machine falls on both.

    python bench/lab_uefi_boot.py [--rounds 3] [--mem 4G] [--kernels 6.12,7.2]

Needs a filled cache (`kdumplab lab setup`, with qemu-efi-aarch64). Prints the median wall time per kernel and
firmware, and where each boot's time went: QEMU start to the first kernel line (firmware and EFI stub) and the
rest (the kernel and /init).
"""

from __future__ import annotations

import argparse
import re
import statistics

from kdumplab.lab.qemu import BootSpec, boot, default_initrd
from kdumplab.lab.setup import load_lab


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mem", default="4G")
    ap.add_argument("--kernels", default="5.10,6.1,6.12,7.2")
    args = ap.parse_args()
    lab = load_lab()
    initrd = default_initrd(lab)
    for kernel in args.kernels.split(","):
        walls: dict[str, list[float]] = {"dt": [], "uefi": []}
        uptime: dict[str, list[float]] = {"dt": [], "uefi": []}
        for _ in range(args.rounds):
            for fw in ("dt", "uefi"):
                r = boot(BootSpec(kernel, args.mem, "crashkernel=512M", firmware=fw), lab=lab, initrd=initrd)
                assert r.observation is not None, r.lost
                walls[fw].append(r.observation.provenance.wall_s)
                # the kernel's own clock at the last console line: its part of the wall time
                stamps = re.findall(r"^\[ *([0-9]+\.[0-9]+)\]", r.serial, re.M)
                uptime[fw].append(float(stamps[-1]) if stamps else 0.0)
        for fw in ("dt", "uefi"):
            w, k = statistics.median(walls[fw]), statistics.median(uptime[fw])
            print(f"{kernel:5} {args.mem} {fw:4} median {w:5.2f} s wall, kernel clock at its last line {k:5.2f} s "
                  f"({', '.join(f'{x:.2f}' for x in walls[fw])})")


if __name__ == "__main__":
    main()
