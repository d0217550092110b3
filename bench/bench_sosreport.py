"""check on a full-size sosreport: MB/s of the compressed file through capture + analysis. Not a test.

A real sosreport is 50-500 MB of xz holding thousands of members, of which check reads about ten. xz has no
index that tar can use to seek, so every byte up to the last member check needs is decompressed. sos writes
the archive as a sorted directory walk (Python's tarfile.add), so once the walk has passed every path check
reads, the rest cannot hold them and the reader stops (kdumplab.sosreport._SosOrder); ``whole`` reads to the
end anyway. This script builds such an archive in sos's order: the files check reads from one recorded boot,
filler text (about 10:1 under xz) under etc/ (10%), sos_commands/logs/ (40%) and var/log/ (50%, after
everything check reads), and times check both ways.

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
    files = {("sos_commands/kernel/dmesg" if rel == "dmesg" else rel): text.encode()
             for rel, text in realboot_files("6.1-16G-a12-crashkernel-4G-high").items()}
    files["sos_reports/manifest.json"] = b"{}\n"
    block = filler(rng, 1 << 20)
    for i in range(mb):  # 1 MiB members: 10% etc/, 40% sos_commands/logs/, 50% var/log/
        where = "etc/filler" if i < mb // 10 else "sos_commands/logs/filler" if i < mb // 2 else "var/log/filler"
        files[f"{where}/{i:05d}.log"] = block[i % 7:] + block[: i % 7]
    dirs = {tuple(rel.split("/")[:k]) for rel in files for k in range(1, rel.count("/") + 1)}
    with tarfile.open(path, "w:xz", preset=1) as tar:
        tar.addfile(_dir(top))
        for key in sorted(dirs | {tuple(rel.split("/")) for rel in files}):  # tarfile.add's walk: sorted, depth first
            rel = "/".join(key)
            if key in dirs:
                tar.addfile(_dir(f"{top}/{rel}"))
                continue
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(files[rel])
            tar.addfile(info, io.BytesIO(files[rel]))


def _dir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


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
        for whole in (True, False):
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                analyze(capture.from_sosreport(path, whole=whole))
                times.append(time.perf_counter() - t0)
            med = sorted(times)[len(times) // 2]
            print(f"check --sosreport ({'whole archive' if whole else 'stops after what check reads'}): median "
                  f"{med:.2f} s = {size / 1e6 / med:.1f} MB/s of the archive, "
                  f"{args.mb * 1.048576 / med:.0f} MB/s of its content", flush=True)

if __name__ == "__main__":
    main()
