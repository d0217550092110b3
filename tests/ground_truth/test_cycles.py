"""Every recorded full kdump cycle (tests/data/cycles/*/) against the model.

The recording wins: when this fails, fix the model, never the recording. The real side is read from raw
evidence here, not through the model's formats: the segment listing kexec-tools printed, its messages,
kexec_crash_loaded, the crash kernel's /chosen properties as big-endian cells, its /proc/iomem, the device
tree it was booted with (/sys/firmware/fdt, decompiled by Debian's dtc), and /proc/vmcore's program headers
(pyelftools). The inputs come from cycle.json (the first boot's QEMU machine and initrd, the command line,
the kexec-tools version and the crash initramfs' size).

Recorded with `kdumplab lab suite tests/data/suites/cycles.toml --jobs 2 --record tests/data/cycles`:
4 kernels x 4 kexec-tools releases x (plain, ,high, ,high + ,low) plus fallback, NUMA and 2 GiB cases.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from kdumplab import model
from kdumplab.artifacts import crash_dtb, elfcorehdr_bytes
from kdumplab.lab.cycle import CRASH_APPEND, Cycle, load_cycle
from kdumplab.tools.verify_cycle import cycle_scenario

DATA = Path(__file__).parent.parent / "data" / "cycles"
CASES = sorted(p for p in DATA.glob("*") if (p / "cycle.json").is_file())
IDS = [p.name for p in CASES]
LOADED = [p for p in CASES if load_cycle(p).capture is not None]


@cache
def _run(case: Path) -> tuple[Cycle, model.Result]:
    cyc = load_cycle(case)
    return cyc, model.run(cycle_scenario(cyc))


def _be(hexbytes: str) -> list[int]:
    raw = bytes.fromhex(hexbytes)
    return [int.from_bytes(raw[i:i + 8], "big") for i in range(0, len(raw), 8)]


def test_the_matrix_is_covered() -> None:
    names = set(IDS)
    for kernel in ("5.10", "6.1", "6.12", "7.2"):
        for kt in ("2.0.20", "2.0.25", "2.0.29", "2.0.32"):
            assert f"{kernel}-kt{kt}-plain-512M" in names
            assert f"{kernel}-kt{kt}-high-1G" in names
    assert len(LOADED) >= 20


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_load_accepted_or_refused(case: Path) -> None:
    cyc, res = _run(case)
    assert res.kexec.loaded == cyc.kexec.loaded
    # kexec-tools' exit status agrees with the kernel's kexec_crash_loaded (0 only when loaded)
    assert (cyc.kexec.rc == 0) == cyc.kexec.loaded
    if not cyc.kexec.loaded:
        said = [x.strip() for x in res.kexec.error or () if x.strip()
                and not re.match(r"(segment\[\d+\]|entry\s*=|nr_segments\s*=)", x.strip())]
        real = {x.strip() for x in cyc.kexec.output.splitlines()}
        assert said and all(x in real for x in said), (said, cyc.kexec.output[-400:])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_segments_where_kexec_tools_put_them(case: Path) -> None:
    cyc, res = _run(case)
    real = [(s.mem, s.memsz) for s in cyc.kexec.segments]
    ours = [(s.start, s.size) for s in res.kexec.segments] if real else []
    assert ours == real


@pytest.mark.parametrize("case", LOADED, ids=[p.name for p in LOADED])
def test_chosen_and_crash_kernel_memory(case: Path) -> None:
    cyc, res = _run(case)
    chosen = cyc.capture.chosen
    cells = _be(chosen["linux,usable-memory-range"])
    real_usable = [(cells[i], cells[i] + cells[i + 1] - 1) for i in range(0, len(cells), 2)]
    assert list(res.kexec.usable_memory_ranges) == real_usable
    assert tuple(_be(chosen["linux,elfcorehdr"])) == res.kexec.elfcorehdr
    # the crash kernel's System RAM is what it was told it may use (5.10 reads only the first pair)
    ram = [x for x in cyc.capture.iomem.splitlines() if x.endswith(": System RAM") and not x.startswith(" ")]
    assert ram == list(res.crash_view.iomem_lines)
    view = res.crash_view
    assert cyc.capture.memtotal_kb <= view.memtotal_kb_max
    # MemTotal: the crash kernel's own boot through the early and late memblock model (crashboot.py); a
    # boot's random KASLR offset moves a page-table page or two (worst recorded: 8 KiB)
    assert abs(cyc.capture.memtotal_kb - view.memtotal_kb) <= 2 * res.policy.page_size // 1024
    # the bounce buffer, from the crash kernel's own "software IO TLB: mapped [mem a-b]" line (none printed
    # on 5.10/6.1 without memory above 4 GiB, nor on 6.1 with only a high range)
    m = re.search(r"software IO TLB: mapped \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]", cyc.capture.dmesg)
    assert view.swiotlb_kib == ((int(m.group(2), 16) - int(m.group(1), 16)) // 1024 if m else 0)
    # its elfcorehdr line, worded per generation
    assert re.search(rf"\] {re.escape(view.elfcorehdr_log)}\r?$", cyc.capture.dmesg, re.M)
    # the boot-time dentry and inode hashes, as its own "hash table entries" lines give their bytes
    # (memblock ones, "linear"; with memory on two NUMA nodes they are vmalloc'd after mm_init: hashdist)
    hashes = re.findall(r"(?:Dentry cache|Inode-cache) hash table entries: \d+ \(order: \d+, (\d+) bytes, (\w+)",
                        cyc.capture.dmesg)
    assert len(hashes) == 2 and sum(int(b) for b, how in hashes if how == "linear") // 1024 == view.hashes_kib
    # it reserves Debian's 64 MiB CMA area (or its own cma= size) out of what kdump gave it (7.2 on two NUMA nodes: two)
    areas = re.findall(r"cma: Reserved (\d+) MiB at 0x([0-9a-f]+)", cyc.capture.dmesg)
    assert sum(int(mib) << 10 for mib, _ in areas) == view.cma_kib
    assert all(any(s <= int(a, 16) <= e for s, e in view.usable) for _, a in areas)


def _dts(blob: bytes, tmp: Path, name: str) -> str:
    path = tmp / name
    path.write_bytes(blob)
    return subprocess.run(["dtc", "-q", "-s", "-I", "dtb", "-O", "dts", str(path)], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("case", LOADED, ids=[p.name for p in LOADED])
def test_our_crash_dtb_is_the_real_one(case: Path, tmp_path: Path) -> None:
    # Built from the first kernel's own /sys/firmware/fdt, as kexec-tools does; the crash kernel's
    # /sys/firmware/fdt is what kexec-tools really handed over. Compared as sorted dtc output.
    if shutil.which("dtc") is None:
        if os.environ.get("KDUMPLAB_REQUIRE_TOOLS"):
            pytest.fail("dtc (device-tree-compiler) is required")
        pytest.skip("dtc not installed")
    cyc, res = _run(case)
    # the crash kernel's command line is the cycle's own --append (the lab's, or a hold-out's: cycle_scenario
    # hands it to the model, whose DTB segment grows with it)
    assert cyc.kexec.append == CRASH_APPEND or "holdout-append" in case.name
    ours = crash_dtb(cyc.first_fdt, res.kexec, cyc.kexec.append)
    assert _dts(ours, tmp_path, "ours.dtb") == _dts(cyc.capture.fdt, tmp_path, "real.dtb")


def _loads(blob: bytes) -> list[tuple[int, int]]:
    elf = ELFFile(io.BytesIO(blob))
    return [(p["p_paddr"], p["p_memsz"]) for p in elf.iter_segments() if p["p_type"] == "PT_LOAD"]


@pytest.mark.parametrize("case", LOADED, ids=[p.name for p in LOADED])
def test_our_elfcorehdr_matches_vmcore(case: Path) -> None:
    # /proc/vmcore starts with the kernel's copy of kexec-tools' elfcorehdr (notes merged, offsets moved, the
    # PT_LOADs as written). Virtual addresses depend on KASLR, so the physical ranges are compared, and the
    # size of /proc/vmcore follows from them.
    cyc, res = _run(case)
    real = _loads(cyc.capture.vmcore_head)
    ours = _loads(elfcorehdr_bytes(res.kexec))
    if ours[0][1] > 1 << 60:  # the model says the kernel-text header wraps around
        # Debian 6.1 has no _text in /proc/kallsyms and kexec-tools >= 2.0.25 then writes a kernel-text header
        # with a wrapped-around address and size (depends on KASLR): only the RAM headers can be compared.
        assert ours[1:] == real[1:]
        assert real[0][1] > 1 << 60 and cyc.capture.vmcore_size > 1 << 60
        return
    assert ours == real
    assert res.crash_view.vmcore_size == cyc.capture.vmcore_size
