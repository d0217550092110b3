"""Generate a synthetic fleet from the lab's recordings: captured roots and small sosreports, 1% corrupt.

Each host is one recorded real boot (tests/data/realboots, cut into the files a live system shows) or a
recorded capture (tests/data/captures), under a host name of its own; half are roots, half sosreports
(.tar.xz). One host in a hundred is broken: a truncated archive, an archive that is not one, or a root
whose /proc/iomem is garbage. Not a test.

    python bench/make_fleet.py OUT_DIR [--hosts 10000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tools.util import realboot_files, sosreport, write_root  # noqa: E402

CAPTURES = ROOT / "tests" / "data" / "captures"


def sources() -> list[dict[str, str]]:
    """Every recording as rel-path -> text."""
    out = [realboot_files(case.name) for case in sorted((ROOT / "tests" / "data" / "realboots").iterdir())
           if (case / "serial.log").exists()]
    for cap in sorted(p for p in CAPTURES.iterdir() if p.is_dir()):
        out.append({str(f.relative_to(cap)): f.read_text(errors="replace") for f in cap.rglob("*") if f.is_file()})
    return out


def make(out: Path, hosts: int, seed: int = 15) -> dict[str, int]:
    rng = random.Random(seed)
    recs = sources()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    counts = {"roots": 0, "sosreports": 0, "corrupt": 0}
    for i in range(hosts):
        files = recs[i % len(recs)]
        name = f"host{i:06d}"
        broken = i % 100 == 37  # exactly one in a hundred
        if i % 2:
            write_root(files, out / name)
            if broken:
                (out / name / "proc" / "iomem").write_bytes(b"\x00garbage\xff\n" * 4)
            counts["roots"] += 1
        else:
            path = out / f"sosreport-{name}-2026-11-30.tar.xz"
            sosreport(files, path, f"sosreport-{name}-2026-11-30")
            if broken:
                data = path.read_bytes()
                path.write_bytes(data[: len(data) // 2] if rng.random() < 0.5 else b"not an archive\n")
            counts["sosreports"] += 1
        counts["corrupt"] += broken
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--hosts", type=int, default=10_000)
    args = ap.parse_args()
    print(make(args.out, args.hosts))


if __name__ == "__main__":
    main()
