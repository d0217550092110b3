"""The crash kernel's own boot (crashboot.py) against every recorded arm64 crash kernel, term by term.

The real side is read here from each crash kernel's own log with small patterns of this file, not through the
model: its ``Memory: AK/PK available (... IK init, ... RK reserved, CK cma-reserved)`` line (arm64
mem_init -> mem_init_print_info: P is the present pages, R = P - totalram - totalcma when it prints), the
``Freeing unused kernel memory`` (free_initmem) and ``Freeing initrd memory`` (free_initrd_mem) lines, the
``cma: Reserved`` lines and /proc/meminfo's MemTotal.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from kdumplab import crashboot, presets
from kdumplab.kexec import KexecLoad, Segment
from kdumplab.lab.cycle import CRASH_APPEND, Cycle, load_cycle
from kdumplab.policy import for_kernel
from kdumplab.ranges import PhysRange
from kdumplab.tools import verify_cycle
from kdumplab.tools.verify import run_pinned

DATA = Path(__file__).parent / "data"
CASES = sorted(p.parent for d in ("cycles", "cycles-uefi", "designs-cycles") for p in (DATA / d).glob("*/cycle.json"))
LOADED = [p for p in CASES if load_cycle(p).capture is not None]
IDS = [f"{p.parent.name}/{p.name}" for p in LOADED]

_MEMORY = re.compile(r"Memory: (\d+)K/(\d+)K available \(\d+K kernel code, \d+K rwdata, \d+K rodata, (\d+)K init, "
                     r"\d+K bss, (\d+)K reserved, (\d+)K cma-reserved")
_INIT = re.compile(r"Freeing unused kernel memory: (\d+)K")
_INITRD = re.compile(r"Freeing initrd memory: (\d+)K")
_CMA = re.compile(r"cma: Reserved \d+ MiB at 0x([0-9a-f]+)")
_SWIOTLB = re.compile(r"software IO TLB: mapped \[mem 0x([0-9a-f]+)-")


@cache
def _boot(case: Path) -> tuple[Cycle, crashboot.CrashBoot]:
    """The model's crash kernel for a recorded cycle, driven as ``verify --recorded`` drives it."""
    cyc = load_cycle(case)
    if cyc.first.firmware == "uefi":
        _, view = verify_cycle.uefi_crash_side(cyc)
    else:
        view = run_pinned(verify_cycle.cycle_scenario(cyc), cyc.first.iomem).crash_view
    return cyc, view.boot


@pytest.mark.parametrize("case", LOADED, ids=IDS)
def test_memtotal_is_present_less_reserved_plus_what_is_freed_later(case: Path) -> None:
    # the identity the model is built on, in the real kernel's own numbers: MemTotal = P - R + init + initrd
    # (R already leaves CMA out: cma_init_reserved_areas hands it to the page allocator after the line)
    cyc = load_cycle(case)
    dmesg = cyc.capture.dmesg
    _avail, present, _init, reserved, _cma = map(int, _MEMORY.search(dmesg).groups())
    freed = sum(int(k) for k in _INIT.findall(dmesg)) + sum(int(k) for k in _INITRD.findall(dmesg))
    assert cyc.capture.memtotal_kb == present - reserved + freed


@pytest.mark.parametrize("case", LOADED, ids=IDS)
def test_each_term_of_memtotal(case: Path) -> None:
    cyc, boot = _boot(case)
    dmesg = cyc.capture.dmesg
    _avail, present, init, reserved, cma = map(int, _MEMORY.search(dmesg).groups())
    page_kib = boot.machine.page_size // 1024
    assert boot.init_bytes // 1024 == init == int(_INIT.search(dmesg).group(1))  # __init_begin .. __init_end
    assert boot.initrd_bytes // 1024 == int(_INITRD.search(dmesg).group(1))  # the initrd's whole pages
    assert boot.cma_bytes // 1024 == cma
    # what memblock_free_all hands over, plus CMA: the present pages less the reserved ones, within two pages
    # (a boot's random KASLR offset moves a page-table page or two; 16K UEFI: worst 2 pages)
    assert abs((boot.freed_pages * boot.machine.page_size + boot.cma_bytes) // 1024 - (present - reserved)) <= (
        2 * page_kib)
    assert abs(boot.memtotal_kb - cyc.capture.memtotal_kb) <= 2 * page_kib


@pytest.mark.parametrize("case", LOADED, ids=IDS)
def test_cma_areas_where_the_crash_kernel_put_them(case: Path) -> None:
    # 7.2 on a two-node DT: the default area, then node 0's per-node area below it (bottom-up above 4 GiB is
    # impossible in a crash region below 4 GiB: mm/cma.c cma_alloc_mem falls back to top-down), node 1 fails
    cyc, boot = _boot(case)
    real = sorted(int(a, 16) for a in _CMA.findall(cyc.capture.dmesg))
    assert sorted(a.start for a in boot.allocs if a.what.startswith("CMA")) == real


@pytest.mark.parametrize("case", LOADED, ids=IDS)
def test_swiotlb_buffer_where_the_crash_kernel_put_it(case: Path) -> None:
    # 6.12 under ACPI put it 256 KiB lower until the usemap went to its pg_data_t's section (early._sparse):
    # the top page then fills sooner, the dentry hash moves off page alignment and the inode hash below CMA
    cyc, boot = _boot(case)
    m = _SWIOTLB.search(cyc.capture.dmesg)
    ours = [base for what, base, _ in boot.memblock.log if what == "swiotlb"]
    assert ours[-1:] == ([int(m.group(1), 16)] if m else [])


def test_memoryless_nodes_get_their_node_data() -> None:
    # recorded 6.12-kt2.0.25-numa-512M: "NUMA: Initmem setup node 1 [<memory-less node>]", "NODE_DATA(1) on
    # node 0", right below NODE_DATA(0): 0x3740 bytes each, 64-byte aligned, top-down
    cyc, boot = _boot(DATA / "cycles" / "6.12-kt2.0.25-numa-512M")
    nodes = sorted((a.start, a.size) for a in boot.allocs if a.what.startswith("node data"))
    assert len(nodes) == 2 and nodes[0][0] + 0x3740 <= nodes[1][0]
    assert {b.node for b in boot.machine.banks} == {0}
    assert "NODE_DATA(1) on node 0" in cyc.capture.dmesg


def _toy_load(initrd: int, page: int) -> KexecLoad:
    seg = (Segment(0x5C000000, 0x2000000, "kernel"), Segment(0x60000000, -(-initrd // page) * page, "initrd", initrd),
           Segment(0x61000000, page, "dtb", 8017), Segment(0x7BFFF000, page, "elfcorehdr", 0x400))
    return KexecLoad("2.0.32", True, None, (), seg, 0, ((0x5C000000, 0x7BFFFFFF),), (0x7BFFF000, 0x400), (), (), (),
                     "kexec_load")


@pytest.mark.parametrize(("generation", "initrd", "freed_kib"), [
    ("5.10", 987675, 964),  # 241 whole 4K pages of 241.1: every recorded 4K crash kernel, "Freeing initrd memory: 964K"
    ("6.12-16k", 987675, 960),  # 60 whole 16K pages of 60.3: every recorded 16K one, "960K"
    ("6.12", 1 << 20, 1024),  # a whole number of pages is freed whole
])
def test_initrd_whole_pages_are_freed(generation: str, initrd: int, freed_kib: int) -> None:
    """init/initramfs.c free_initrd_mem -> free_reserved_area: start rounded up, end rounded down to pages;
    reserve_initrd_mem had rounded the reservation out, so the partial last page stays reserved."""
    policy = for_kernel(generation)
    first = replace(presets.qemu_virt(2 << 30, kernel=generation), page_size=policy.page_size)
    machine = crashboot.crash_machine(first, _toy_load(initrd, policy.page_size), ((0x5C000000, 0x7BFFFFFF),))
    assert machine.initrd == PhysRange(0x60000000, 0x60000000 + initrd)
    boot = crashboot.crash_boot(policy, machine, "console=ttyAMA0")
    assert boot.initrd_bytes // 1024 == freed_kib
    # the reservation covers the partial page: one page more than freed is gone from memblock_free_all
    without = crashboot.crash_boot(policy, replace(machine, initrd=None), "console=ttyAMA0")
    pages = -(-initrd // policy.page_size)
    assert without.freed_pages - boot.freed_pages == pages


def test_crash_command_line_cma_is_honoured() -> None:
    # kernel/dma/contiguous.c early_cma: cma=0 on the crash kernel's command line (some kdump setups add it)
    # leaves the whole 64 MiB to the page allocator as ordinary memory: MemTotal does not change, CMA does
    policy = for_kernel("6.12")
    first = presets.qemu_virt(2 << 30, kernel="6.12")
    machine = crashboot.crash_machine(first, _toy_load(987675, 4096), ((0x5C000000, 0x7BFFFFFF),))
    with_cma = crashboot.crash_boot(policy, machine, "console=ttyAMA0")
    without = crashboot.crash_boot(policy, machine, "console=ttyAMA0 cma=0")
    assert with_cma.cma_bytes == 64 << 20 and without.cma_bytes == 0
    assert abs(with_cma.memtotal_kb - without.memtotal_kb) <= 4


def test_profile_files_with_the_retired_crash_numbers_still_load() -> None:
    # a profile calibrated before this change carries [crash] static_kib (and the fitted per-GiB numbers):
    # read and ignored, the crash kernel's MemTotal now follows from the same file's image, early and late
    from kdumplab import profiles

    ref = profiles.get("6.12")
    text = profiles.profile_to_toml(ref).replace("[crash]\n", "[crash]\nstatic_kib = 34492\nper_gib_kib = 2418\n")
    assert profiles.profile_from_toml(text, "old.toml").crash == ref.crash


@pytest.mark.parametrize("name", ["7.2-kt2.0.29-holdout-append-cma16M-4G-512M",
                                  "6.1-kt2.0.32-holdout-append-cma0-6G-high-1G",
                                  "6.12-kt2.0.32-holdout-append-nr_cpus1-smp4-4G-512M"])
def test_the_crash_command_line_is_the_cycles_own(name: str) -> None:
    # kexec -p --append with Debian kdump-tools' additions (nr_cpus=1 systemd.unit=... irqpoll nousb) and a cma=:
    # the DTB segment grows by the padded bootargs value (setup_2nd_dtb), the crash kernel reserves its own
    # cma= size (kernel/dma/contiguous.c early_cma), and MemTotal is unchanged (CMA counts in it). Recorded
    # after the model predicted all three (tests/data/cycles/<name>).
    from kdumplab import model

    cyc = load_cycle(DATA / "cycles" / name)
    res = model.run(verify_cycle.cycle_scenario(cyc))
    assert res.scenario.crash_cmdline == cyc.kexec.append != CRASH_APPEND
    dtb = next(s for s in res.kexec.segments if s.what == "dtb")
    assert dtb.bufsz in [s.bufsz for s in cyc.kexec.segments] and dtb.bufsz != 7750
    real_cma = [int(m, 16) for m in _CMA.findall(cyc.capture.dmesg)]
    assert [a.start for a in res.crash_view.boot.allocs if a.what.startswith("CMA")] == real_cma
    assert res.crash_view.memtotal_kb == cyc.capture.memtotal_kb


@pytest.mark.parametrize(("cpus", "cmdline", "possible"), [
    (4, "console=ttyAMA0 panic=-1 maxcpus=1 reset_devices", 4),  # maxcpus= caps only what is brought up
    (4, "nr_cpus=1 reset_devices", 1),  # Debian kdump-tools' KDUMP_CMDLINE_APPEND
    (4, "nr_cpus=8", 4),  # never more than the firmware names
    (4, "nr_cpus=2 nr_cpus=3", 3),  # the last one wins (early_param handlers overwrite)
    (4, "nr_cpus=0", 4),  # nr_cpu_setup ignores 0
    (1, "xnr_cpus=1", 1),
])
def test_possible_cpus(cpus: int, cmdline: str, possible: int) -> None:
    """kernel/smp.c nr_cpu_setup and arm64 smp_init_cpus; recorded: 6.12 -smp 4 with nr_cpus=1 has MemTotal
    476672 kB (one per-CPU unit and a one-area swiotlb), which four possible CPUs would make 475748 kB."""
    assert crashboot.possible_cpus(cpus, cmdline) == possible


def test_plan_takes_the_crash_command_line() -> None:
    # plan --crash-append: the same inputs as the recorded hold-out 7.2-kt2.0.29-holdout-append-cma16M-4G-512M
    # (its first initrd and kdump initramfs sizes) give its MemTotal, 467144 kB, and its 16 MiB CMA area
    import json

    from click.testing import CliRunner

    from kdumplab.cli import main

    append = "console=ttyAMA0 panic=-1 nr_cpus=1 systemd.unit=kdump-tools-dump.service irqpoll nousb reset_devices"
    r = CliRunner().invoke(main, ["plan", "--kernel", "7.2", "--mem", "4G", "--initrd-size", "54033920",
                                  "--cmdline", "console=ttyAMA0 panic=-1 crashkernel=512M",
                                  "--kexec-tools", "2.0.29", "--crash-initrd-size", "987675",
                                  "--crash-append", append + " cma=16M", "--json"])
    assert r.exit_code == 0, r.output
    crash = json.loads(r.output)["crash_kernel"]
    assert (crash["mem_total_kib"], crash["cma_kib"]) == (467144, 16 << 10)


def test_a_crash_kernel_without_low_memory_still_lacks_it_with_a_bounce_buffer() -> None:
    # 6.12 with crashkernel=1G,high crashkernel=0,low: all its memory above 4 GiB, so ZONE_DMA covers it and
    # arm64 mem_init sizes a kmalloc bounce buffer at RAM/1024 (CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC), which
    # memblock_alloc_low places below arm64_dma_phys_limit, the end of its memory: recorded "mapped [mem
    # 0x235700000-0x235800000] (1MB)". The verdict still says no 32-bit device can reach any of it.
    from kdumplab import model
    from kdumplab.verdict import problems

    cyc = load_cycle(DATA / "cycles" / "6.12-kt2.0.32-holdout-8G-high-1G-low-0")
    res = model.run(verify_cycle.cycle_scenario(cyc))
    boot = res.crash_view.boot
    assert [(base, size) for what, base, size in boot.memblock.log if what == "swiotlb"] == [(0x235700000, 1 << 20)]
    assert int(_SWIOTLB.search(cyc.capture.dmesg).group(1), 16) == 0x235700000
    assert res.crash_view.memtotal_kb == cyc.capture.memtotal_kb == 990464
    assert "no memory below 4 GiB" in [label for label, _ in problems(res)]
