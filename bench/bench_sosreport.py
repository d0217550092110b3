"""check on a full-size sosreport: MB/s of the compressed file through capture + analysis. Not a test.

A real sosreport is 50-500 MB of xz holding thousands of members, of which check reads about ten. xz has no
index that tar can use to seek, and the reader refuses archives that name a member twice (tar appends), so
the whole stream is decompressed; members check does not read are skipped without being kept. This script
builds such an archive (the files check reads from one recorded boot, the rest filler text that compresses
about 10:1) and times check on it.

    python bench/bench_sosreport.py [--mb 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kdumplab import capture  # noqa: E402
from kdumplab.findings import analyze  # noqa: E402
from tests.tools.util import realboot_files  # noqa: E402


def filler(rng: random.Random, size: int) -> bytes:
    words = [f"{rng.getrandbits(32):08x}" for _ in range(4096)] + ["kernel:", "systemd[1]:", "Started", "eth0"]
    out, n = [], 0
    while n < size:
        line = " ".join(rng.choice(words) for _ in range(12)) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


def build(path: Path, mb: int) -> None:
    rng = random.Random(15)
    top = "sosreport-big-2026-11-30-abcdef"
    files = realboot_files("6.1-16G-a12-crashkernel-4G-high")
    with tarfile.open(path, "w:xz", preset=1) as tar:
        def add(rel: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        block = filler(rng, 1 << 20)
        for i in range(mb // 2):  # half the filler before the files check reads, half after
            add(f"var/log/filler/{i:05d}.log", block[i % 7:] + block[: i % 7])
        for rel, text in files.items():
            add("sos_commands/kernel/dmesg" if rel == "dmesg" else rel, text.encode())
        for i in range(mb // 2, mb):
            add(f"sos_commands/logs/{i:05d}.txt", block[i % 11:] + block[: i % 11])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200, help="uncompressed filler, MiB")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sosreport-big.tar.xz"
        t0 = time.perf_counter()
        build(path, args.mb)
        size = os.path.getsize(path)
        print(f"built {size / 1e6:.1f} MB xz ({args.mb} MiB of filler) in {time.perf_counter() - t0:.0f} s")
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            analyze(capture.from_sosreport(path))
            times.append(time.perf_counter() - t0)
        med = sorted(times)[len(times) // 2]
        print(f"check --sosreport: median {med:.2f} s = {size / 1e6 / med:.1f} MB/s compressed, "
              f"{args.mb * 1.048576 / med:.0f} MB/s decompressed")


if __name__ == "__main__":
    main()
