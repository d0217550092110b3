"""kdumplab.late: the allocations between the crash reservation and /proc/iomem, against the memblock=debug boots.

Each ``memblock=debug`` log (tests/data/memblock) names the caller of every allocation; the sizes the model
derives (percpu tables from the ``percpu: Embedded`` line, the command-line copies, swiotlb's metadata) must
be the sizes those callers asked for, in the same order.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from kdumplab import late, model, profiles
from kdumplab.tools.verify import scenario_for

DATA = Path(__file__).parent / "data" / "memblock"
_ALLOC = re.compile(r"memblock_alloc_try_nid: (\d+) bytes align=(0x[0-9a-f]+) .*? (\S+?)\+0x")
_CMDLINE = re.compile(r"Kernel command line: (.*)$", re.M)


def _late_sizes(log: str) -> list[int]:
    """Sizes asked for from the first command-line copy up to the percpu area frees (the part that does not
    depend on log_buf_len=, which these boots set)."""
    cmdline = _CMDLINE.search(log).group(1).strip()
    sizes = [int(m.group(1)) for m in _ALLOC.finditer(log)]
    start = sizes.index(len(cmdline) + 1)
    end = start + 2 + 3 + 5 + 8  # two copies; ai, areas, chunk; four small tables + slot lists; two chunks' maps
    return sizes[start:end]


@pytest.mark.parametrize("name", ["5.10-8G-512M", "6.1-8G-512M", "6.12-8G-512M", "7.2-8G-512M", "6.12-16k-8G-512M"])
def test_sizes_follow_the_callers(name: str) -> None:
    log = gzip.decompress((DATA / f"{name}.log.gz").read_bytes()).decode(errors="replace")
    gen = name.rsplit("-", 2)[0]
    prof = profiles.get(gen)
    assert prof is not None and prof.late is not None
    lp, page = prof.late, prof.page_size
    cmdline = _CMDLINE.search(log).group(1).strip()
    want = [len(cmdline) + 1] * 2 + [page, page, lp.percpu_unit, 8, 8, 4, 8, lp.percpu_slot_lists]
    want += late._first_chunk_maps(lp.percpu_static % page, lp.percpu_reserved, page, lp)
    want += late._first_chunk_maps((lp.percpu_static + lp.percpu_reserved) % page, lp.percpu_dynamic, page, lp)
    assert _late_sizes(log) == want


def test_lab_kernels_have_no_reserved_chunk() -> None:
    """r0 (no modules): one first chunk only, 128 + 1024 + 1032 + 256 bytes (proposal-2019-review-2G-256M)."""
    lp = profiles.get("proposal-2019-review").late
    assert lp.percpu_reserved == 0
    assert late._first_chunk_maps(lp.percpu_static % 4096, lp.percpu_dynamic, 4096, lp) == (128, 1024, 1032, 256)


@pytest.mark.parametrize("ram,slabs", [
    (2 << 30, 1024),    # tests/data/realboots/7.2-2G-*: "SWIOTLB bounce buffer size adjusted to 2MB"
    (768 << 20, 512),   # 768 KiB rounded to a power-of-two slab count: 1 MiB (crashview's held-out 16K cycle)
    (1 << 30, 512),
])
def test_bounce_buffer_slabs(ram: int, slabs: int) -> None:
    assert late._bounce_nslabs(ram) == slabs


def test_7_2_splits_an_allocation_from_the_initrd() -> None:
    """7.2 marks allocations MEMBLOCK_RSRV_KERN and memblock_reserve() not: swiotlb right below the initrd
    stays a line of its own (tests/data/boots/7.2-dma512M-2G-256M)."""
    result = model.run(scenario_for("7.2", "2G", (), "console=ttyAMA0 panic=-1 crashkernel=256M", 987623, "512M"))
    lines = result.iomem_text.splitlines()
    assert "  44000000-47ffffff : reserved" in lines and "  48000000-480f1fff : reserved" in lines
    older = model.run(scenario_for("6.12", "2G", (), "console=ttyAMA0 panic=-1 crashkernel=256M", 987623, "512M"))
    assert not any(x.startswith("  44000000-47ffffff") for x in older.iomem_text.splitlines())


@pytest.mark.parametrize("cmdline, size", [
    ("console=ttyAMA0", 0),
    ("log_buf_len=1M", 1 << 20),
    ("log_buf_len=300K", 512 << 10),  # roundup_pow_of_two (printk: "log_buf_len: 524288 bytes")
    ("log_buf_len=128K", 0),  # not larger than the built-in 1 << CONFIG_LOG_BUF_SHIFT (17)
    ("log_buf_len=64K", 0),
    ("log_buf_len=4M log_buf_len=1M", 1 << 20),  # each occurrence updates it when larger than the built-in
    ("log_buf_len=4M log_buf_len=64K", 4 << 20),
    ("log_buf_len=junk", 0),
])
def test_log_buf_len_is_a_power_of_two_above_the_built_in_buffer(cmdline: str, size: int):
    """kernel/printk/printk.c log_buf_len_update (5.10 to 7.2): memparse, roundup_pow_of_two, kept only when
    larger than the built-in buffer; the printk lines of tests/data/boots(-uefi)/*logbuf* and holdout4-*."""
    assert late.log_buf_len(cmdline, 1 << 17) == size


def test_printk_meta_data_per_record_is_what_7_2_prints():
    """7.2 prints "printk: log buffer data + meta data: D + M = T bytes" on every boot: M is one descriptor and
    one printk_info per 32 bytes of D (the built-in 131072, and 4 MiB in the log_buf_len=4M hold-out)."""
    import json
    seen = set()
    for serial in sorted((Path(__file__).parent / "data").glob("boots*/7.2-*/serial.log")):
        m = re.search(r"log buffer data \+ meta data: (\d+) \+ (\d+) =", serial.read_text(errors="replace"))
        if not m:
            continue
        gen = json.loads((serial.parent / "case.json").read_text())["generation"]
        lp = profiles.get(gen).late
        data, meta = int(m[1]), int(m[2])
        assert meta == (data >> late.PRB_AVGBITS) * (lp.printk_desc + lp.printk_info)
        seen.add(data)
    assert {131072, 4 << 20} <= seen
