"""The early allocations against real boots: the memblock state right after the crash reservation.

Ground truth: tests/data/memblock/*.log.gz, serial logs of the Debian kernels and of the lab's own builds
(5.10-control, proposal-2019-v5, proposal-2019-review) booted with memblock=debug (see the README there).
The facts are pulled out of the raw log here, with a few regexes of this file, not through any kdumplab
parser.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from kdumplab import model, presets
from kdumplab.ranges import SZ_1G

DATA = Path(__file__).parent / "data" / "memblock"
LOGS = sorted(DATA.glob("*.log.gz"))
INITRD_SIZE = 987889  # the initrd these boots used (README)
INITRD_SIZE_16K = 987623  # the 6.12-16k and lab-kernel boots used the lab's default initramfs (README)
LAB = ("5.10-control", "proposal-2019-v5", "proposal-2019-review")


def _lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", errors="replace") as f:
        text = f.read()
    return [re.sub(r"^\[ *[0-9.]+\] ", "", line.rstrip("\r")) for line in text.splitlines()]


def _memblock_dump(lines: list[str]) -> list[tuple[int, int]]:
    """The reserved list printed by memblock_dump_all() right after the crash reservation."""
    start = max(i for i, line in enumerate(lines) if "MEMBLOCK configuration" in line)
    out = []
    for line in lines[start:start + 80]:
        m = re.match(r"\s*reserved\[0x[0-9a-f]+\]\s+\[(0x[0-9a-f]+)-(0x[0-9a-f]+)\]", line)
        if m:
            out.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
    return out


def _pages(ranges: list[tuple[int, int]], page: int) -> set[int]:
    return {p for lo, hi in ranges for p in range(lo // page, (hi + page - 1) // page)}


def _scenario(path: Path, lines: list[str]) -> model.Scenario:
    m = re.match(r"([\d.]+(?:-16k)?|5\.10-control|proposal-2019-v5|proposal-2019-review)-(\d+)G(n?)-", path.name)
    assert m, path.name
    gen, mem, numa = m.group(1), int(m.group(2)) * SZ_1G, bool(m.group(3))
    cmdline = next(line for line in lines if line.startswith("Kernel command line:")).split(":", 1)[1].strip()
    initrd = INITRD_SIZE_16K if gen.endswith("-16k") or gen in LAB else INITRD_SIZE
    machine = presets.qemu_virt(mem, (mem // 2, mem // 2) if numa else None, initrd, gen)
    return model.Scenario(machine, cmdline, gen)


def test_calibration_logs_present():
    assert len(LOGS) == 48, ("4 kernels x (1, 2, 3, 4, 8, 16 GiB, 8 GiB NUMA, 8 GiB ,high) + 8 of 6.12-16k"
                             " + 8 of the lab kernels")


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.name.removesuffix(".log.gz"))
def test_crash_lines_match_real_boot(path: Path):
    lines = _lines(path)
    result = model.run(_scenario(path, lines))
    crash = r"(crashkernel|cannot allocate crashkernel|(kexec_core: )?(Reserving \d+MB of low|Cannot reserve))"
    real = [line for line in lines if re.match(crash, line)]
    assert list(result.outcome.log) == real


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.name.removesuffix(".log.gz"))
def test_memblock_at_reservation_matches_real_boot(path: Path):
    """Same reserved pages, give or take the vmemmap page-table pages.

    Those 1-3 pages depend on where KASLR puts the linear map (how many 1 GiB vmemmap blocks the memmap
    spans); they land in gaps and never move the crash region. Everything else must be exact. The dump is
    printed at the end of bootmem_init: after the reservation for the Debian kernels, after every early step
    for the lab kernels (which reserve first, in arm64_memblock_init).
    """
    lines = _lines(path)
    result = model.run(_scenario(path, lines))
    page = result.policy.page_size
    real = _pages(_memblock_dump(lines), page)
    mb = result.early_memblock if path.name.startswith(LAB) else result.memblock
    assert mb is not None
    ours = _pages([(r.base, r.end) for r in mb.reserved], page)
    assert len(real ^ ours) <= 3, sorted(hex(p * page) for p in real ^ ours)[:10]
