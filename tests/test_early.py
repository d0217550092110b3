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
from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab import early, model, presets
from kdumplab.policy import for_kernel
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


# Where the EFI stub leaves the kernel inside its 2 MiB block, and how many PTE tables paging_init then spends
# on the image beyond those of the placement the profiles were measured at (QEMU's direct boot, _text at
# 0x40200000). Expected values from real boots: the page-table run at the top of node 0 in /proc/iomem of
# tests/data/boots-uefi (5.10: 3 pages more on every ACPI boot, _text 0x120000 into its block; 2 with
# acpi=off, 0x130000; 5.10 nokaslr, 2 MiB-aligned: none) and the RNG boots, which before this matched only
# with one kernel-map table more (6.1 6G, 6.12 -b) or fewer (6.1 4G) than the aligned count, and now without.
@pytest.mark.parametrize(("kernel", "text", "extra"), [
    ("5.10", 0x1_38f2_0000, 3),   # 5.10-u-cal-4G-512M (ACPI)
    ("5.10", 0x1_38f3_0000, 2),   # 5.10-u-cal-dma1G-4G-512M (acpi=off: the PE image 64 KiB higher)
    ("5.10", 0x1_3740_0000, 0),   # 5.10-uefi-4G-nokaslr-512M
    ("6.1", 0x1_384b_0000, 0),    # 6.1-u-cal-4G-512M (Kernel code at _stext 0x1384c0000)
    ("6.1", 0x1_384c_0000, 0),    # 6.1-uefi-dma1G-4G-512M
    ("6.1", 0x1_27de_0000, -1),   # 6.1-rng-cal-4G-512M: text covers one whole block more
    ("6.1", 0x1_1031_0000, 1),    # 6.1-rng-6G-1G
    ("6.1", 0x64c9_0000, 0),      # 6.1-rng-2G-256M
    ("6.12", 0x8189_0000, 1),     # 6.12-rng-cal-4G-512M-b: the alias covers one whole block fewer
    ("6.12", 0x969e_0000, 0),     # 6.12-rng-cal-4G-512M-a
    ("6.12", 0x1_3560_0000, 0),   # 6.12-u-cal-4G-512M (the 6.12 stub moves the kernel to 2 MiB)
    ("7.2", 0xc3ed_0000, 0),      # 7.2-rng-4G-512M: the alias is mapped with pages like the rest of RAM
])
def test_kernel_pte_tables_follow_the_placement(kernel: str, text: int, extra: int):
    from kdumplab import early, policy
    from kdumplab.presets import DEBIAN_IMAGES

    pol = policy.for_kernel(kernel)
    image = DEBIAN_IMAGES[kernel][1]

    def tables(at: int) -> int:
        return early.kernel_pte_tables(pol, at, image.init_begin, image.stext, 2 << 20)

    assert tables(text) - tables(early.CALIBRATION_TEXT) == extra


def test_kernel_pte_tables_count_blocks_not_covered_whole():
    """A hand derivation on 5.10's segments (profile ``kernel_segments``): at _text 0x40200000 the image
    touches 14 blocks, 13 of them whole in one segment but for 6 (text 5, rodata 3, init data 1, data 1 = 10
    whole: 4 tables), and the linear alias [_text, __init_begin) covers 9 blocks whole: 4 - 9 = -5."""
    from kdumplab import early, policy
    from kdumplab.presets import DEBIAN_IMAGES

    image = DEBIAN_IMAGES["5.10"][1]
    assert early.kernel_pte_tables(policy.for_kernel("5.10"), 0x4020_0000, image.init_begin, image.stext,
                                   2 << 20) == 4 - 9


@pytest.mark.parametrize("case", ["6.12-smp2-dbg-4G-512M", "6.12-smp3-dbg-4G-512M", "6.12-16k-numa-2Gh"])
def test_the_unflattened_tree_with_more_cpus_and_nodes(case: str) -> None:
    # the size __unflatten_device_tree asks memblock for, as the kernel logged it (memblock=debug:
    # early_init_dt_alloc_memory_arch), or where NODE_DATA(1) ended up right below it (the 16K 2G+6G boot)
    import json
    import re
    from pathlib import Path

    from kdumplab import model, presets
    from kdumplab.tools.verify import qemu_cpus

    root = Path(__file__).parent / "data" / "boots" / case
    rec = json.loads((root / "case.json").read_text())
    log = (root / "serial.log").read_text(errors="replace")
    numa = tuple(int(n[:-1]) << 30 for n in rec["numa"]) or None
    machine = presets.qemu_virt(int(rec["mem"][:-1]) << 30, numa, rec["provenance"]["initrd_size"],
                                rec["generation"], cpus=qemu_cpus(rec["provenance"]["qemu_cmdline"]))
    res = model.run(model.Scenario(machine, rec["cmdline"], rec["generation"]))
    dt = next(a for a in res.outcome.early if a.what == "device tree")
    m = re.search(r"memblock_alloc_try_nid: (\d+) bytes align=0x8 .*early_init_dt_alloc_memory_arch", log)
    if m:
        assert dt.size == int(m.group(1))
    else:
        node1 = re.search(r"NODE_DATA\(1\) allocated \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]", log)
        assert dt.start == int(node1.group(2), 16) + 1


def _pmd_pages_one_by_one(mapped, apart, page_size):
    """page_table_pages' block rule written GiB by GiB (the form it had before it counted intervals)."""
    _, pmd = early.table_spans(page_size)
    pages = 0
    for g in {g for base, end in mapped for g in range(base // pmd, (end - 1) // pmd + 1)}:
        lo, hi = g * pmd, (g + 1) * pmd
        whole = any(base <= lo and hi <= end for base, end in mapped)
        if not (page_size == 4096 and whole and not any(a < hi and lo < b for a, b in apart)):
            pages += 1
    return pages


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 24)), min_size=1, max_size=5),
       st.lists(st.tuples(st.integers(0, 50), st.integers(0, 12)), max_size=2), st.sampled_from((4096, 16384)),
       st.integers(0, 3))
def test_pmd_pages_counted_over_intervals_equal_gib_by_gib(pieces, apart, page_size, unit_shift):
    """The block branch of page_table_pages counts index intervals; the GiB-by-GiB form gives the same count for
    any pieces (touching, unaligned, several in one GiB) and ranges kept apart (empty ones included)."""
    from kdumplab.memblock import Memblock, Region

    unit = (1 << 30) >> unit_shift  # pieces cut at 1 GiB, 512, 256 and 128 MiB
    regions, cursor = [], 1 << 30
    for gap, size in pieces:
        cursor += gap * unit
        regions.append(Region(cursor, size * unit, nid=len(regions) % 2))
        cursor += size * unit
    mb = Memblock.from_memory(regions)
    ranges = [((1 << 30) + a * unit, (1 << 30) + (a + n) * unit - 4096 * (n > 0)) for a, n in apart]
    crash = ranges[0] if ranges else None
    text = ranges[1] if len(ranges) > 1 else None
    policy = for_kernel("5.10-control")
    got = early.page_table_pages(policy, mb, False, page_size, crash, text)
    pte, _ = early.table_spans(page_size)
    ptes = (len(range(crash[0] // pte * pte, crash[1], pte)) if crash else 0) + (
        sum(1 for e in text if e % pte) if text else 0)
    mapped = [(r.base, r.end) for r in mb.memory]
    pmds = _pmd_pages_one_by_one(mapped, [r for r in (crash, text) if r], page_size)
    assert got == max(policy.early.pt_extra_pages + pmds + ptes, 1)
