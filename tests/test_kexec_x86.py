"""kexec_x86 and crashview_x86: hand derivations from kexec-tools' and the kernel's sources (cited per test), and
bounded properties of the placement. Recorded runs are checked field by field in
tests/ground_truth/test_x86_cycles.py."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab import crashview_x86, kexec_x86, model
from kdumplab.errors import KdumplabError
from kdumplab.kexec_x86 import X86_KERNELS, X86Inputs, load_crash_kernel_x86, x86_kexec_tools
from kdumplab.presets.q35 import qemu_q35
from kdumplab.verdict import judge

# A 2 GiB q35 guest's /proc/iomem, trimmed to what kexec -p reads (SeaBIOS e820; crashkernel=256M on 6.1)
IOMEM_2G = """\
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-7ffdefff : System RAM
  01000000-01e01d31 : Kernel code
  6f000000-7effffff : Crash kernel
7ffdf000-7fffffff : Reserved
b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]
  b0000000-bfffffff : Reserved
fed1c000-fed1ffff : Reserved
fffc0000-ffffffff : Reserved
fd00000000-ffffffffff : Reserved
"""
INITRD = 1028086  # the lab's crash initramfs


def _load(version: str = "2.0.25", gen: str = "6.1", iomem: str = IOMEM_2G, **kw) -> kexec_x86.X86KexecLoad:  # noqa: ANN003
    return load_crash_kernel_x86(x86_kexec_tools(version), X86_KERNELS[gen], iomem,
                                 X86Inputs(initrd_size=INITRD, **kw))


def test_backup_segment_leaves_a_1k_tail_of_ram() -> None:
    # crashdump-x86.c: the backup source 0x1000-0x9fbff is 0x9ec00 bytes (1 KiB aligned); add_buffer rounds the
    # hole to a page (0x9f000) and puts it at the top of the region, 0x7ef61000; delete_memmap cuts only 0x9ec00,
    # so [0x7efffc00, 0x7f000000) stays RAM for the crash kernel (seen in every recorded kexec_load cycle).
    load = _load()
    backup = next(s for s in load.segments if s.what == "backup")
    assert (backup.start, backup.size, backup.bufsz) == (0x7EF61000, 0x9F000, 0x9EC00)
    assert (0x7EFFFC00, 0x7EFFFFFF) in load.usable_memory_ranges
    # the ELF headers (6 program headers: 2 notes, kernel text, 3 RAM ranges = 400 bytes -> 1 KiB) take 16 KiB
    hdr = next(s for s in load.segments if s.what == "elfcorehdr")
    assert (hdr.start, hdr.size, hdr.bufsz) == (0x7EF5D000, 0x4000, 0x400)
    assert load.elfcorehdr == (0x7EF5D000, 0x4000)
    assert load.cmdline.endswith(" acpi_rsdp=0xf59e0 elfcorehdr=2080116K")  # 0x7ef5d000 / 1024


def test_boot_params_size_is_setup_cmdline_and_purgatory_room() -> None:
    # kexec-bzImage64.c: (setup_sects + 1) * 512 + strlen(cmdline) + 1 + PURGATORY_CMDLINE_SIZE (64):
    # 6.1 has 39 setup sectors, the command line is 84 characters -> 0x5000 + 85 + 64 = 0x5095 (recorded)
    seg = next(s for s in _load().segments if s.what == "boot_params")
    assert seg.bufsz == 0x5095 and seg.size == 0x6000


def test_rng_seed_setup_data_from_2_0_25_not_2_0_20() -> None:
    # x86-linux-setup.c setup_rng_seed (2.0.25's source): 16 + 32 bytes, bottom-up from 1 MiB = the region's start
    assert [(s.start, s.bufsz) for s in _load().segments if s.what.startswith("setup_data")] == [(0x6F000000, 0x30)]
    assert not [s for s in _load("2.0.20").segments if s.what.startswith("setup_data")]


def test_efi_boot_adds_efi_setup_data_and_drops_acpi_rsdp() -> None:
    # setup_efi_data: efi_setup_data (16 + 96 bytes), then the runtime map (40 bytes per entry), then the RNG
    # seed; cmdline_add_efi is skipped when the kernel can take EFI data and the runtime map exists
    load = _load(efi_runtime_map=7)
    setup = [(s.start, s.bufsz) for s in load.segments if s.start < 0x6F003000]
    assert setup == [(0x6F000000, 0x70), (0x6F001000, 0x118), (0x6F002000, 0x30)]
    assert "acpi_rsdp" not in load.cmdline


def test_kernel_min_address_2_0_32_changes_nothing_in_a_high_region() -> None:
    assert [s.start for s in _load("2.0.32").segments if s.what == "kernel"] == [0x7AE00000]


def test_not_reserved() -> None:
    load = _load(iomem=IOMEM_2G.replace("Crash kernel", "Kernel data"))
    assert not load.loaded and load.exit_status == 1 and load.error[0] == "Memory for crashkernel is not reserved"


def test_region_too_small_is_a_locate_hole_failure() -> None:
    # 32 MiB cannot hold 6.1's 0x3f98000-byte kernel: kexec.c locate_hole fails, exit 1
    small = IOMEM_2G.replace("6f000000-7effffff : Crash kernel", "7d000000-7effffff : Crash kernel")
    load = _load(iomem=small)
    assert not load.loaded and load.exit_status == 1
    assert load.error == ("Could not find a free area of memory of 0x3f98000 bytes...", "locate_hole failed")


def test_kexec_file_load_debug_flag() -> None:
    # kexec.c (2.0.28+): -d adds KEXEC_FILE_DEBUG; 6.1 (before commit cbc2fe9d9cb2, 6.8) returns EINVAL, which
    # kexec-tools takes for "not available": -s fails with 253, the default mode falls back to kexec_load
    assert _load("2.0.29", mode="-s").error == ("syscall kexec_file_load not available.",)
    assert _load("2.0.29").syscall == "kexec_load"
    assert _load("2.0.29", debug=False).syscall == "kexec_file_load"  # without -d 6.1 takes it
    # 2.0.25 passes no flag: 6.1 loads with -s (recorded: 6.1-kt2.0.25-x86-2G-256M-file-nodebugflag)
    assert _load("2.0.25", mode="-s").syscall == "kexec_file_load"
    assert _load("2.0.29", gen="7.2").syscall == "kexec_file_load"
    assert _load("2.0.25", gen="7.2").syscall == "kexec_load"  # 2.0.25 never tries the file syscall by default
    # 5.10's own placement is unseen (nothing printed, nothing split): only its ELF headers are placed
    only = _load("2.0.25", gen="5.10", mode="-s")
    assert [s.what for s in only.segments] == ["elfcorehdr"] and only.entry is None
    assert only.usable_memory_ranges[-1] == (0x6F001000, 0x7EFFFFFF)  # recorded: 6f001000-7effffff


def test_kernel_places_file_load_segments_top_down_clear_of_each_other() -> None:
    # kernel/kexec_file.c locate_mem_hole_top_down: 6.12's kernel (init_size 0x37ef000) ends 0x10000 below the
    # boot_params, too close for the initrd, which goes below the kernel; 7.2's (0x3c4e000, 2 MiB aligned
    # lower) leaves room above it (both recorded: tests/data/cycles-x86/*-4G-512M-file)
    iomem = IOMEM_2G.replace("6f000000-7effffff : Crash kernel", "5e000000-7dffffff : Crash kernel")
    for gen, kernel_at, initrd_at in (("6.12", 0x7A800000, 0x7A705000), ("7.2", 0x7A200000, 0x7DEFE000)):
        load = _load("2.0.32", gen=gen, iomem=iomem, mode="-s")
        at = {s.what: s.start for s in load.segments}
        assert (at["elfcorehdr"], at["purgatory"], at["boot_params"]) == (0x5E000000, 0x7DFFB000, 0x7DFF9000)
        assert (at["kernel"], at["initrd"]) == (kernel_at, initrd_at)
        # crash_load_segments: 2 + 8192 CPUs + 8192 ranges headers = 0xe00b0 bytes; the crash kernel gets the rest
        assert load.usable_memory_ranges[-1] == (0x5E0E00B0, 0x7DFFFFFF)


@settings(max_examples=40, deadline=None)
@given(start_mib=st.integers(16, 1536), size_mib=st.integers(96, 512), initrd_kib=st.integers(1, 65536),
       gen=st.sampled_from(sorted(X86_KERNELS)), version=st.sampled_from(sorted(kexec_x86.X86_KEXEC_TOOLS)))
def test_segments_never_overlap_and_stay_in_the_region(start_mib: int, size_mib: int, initrd_kib: int, gen: str,
                                                       version: str) -> None:
    start, end = start_mib << 20, min((start_mib + size_mib) << 20, 0x7FFDF000)
    iomem = IOMEM_2G.replace("6f000000-7effffff", f"{start:08x}-{end - 1:08x}")
    load = load_crash_kernel_x86(x86_kexec_tools(version), X86_KERNELS[gen], iomem,
                                 X86Inputs(initrd_size=initrd_kib << 10))
    if not load.loaded:  # kexec-tools' locate_hole, or the kernel's (kexec_locate_mem_hole: -EADDRNOTAVAIL)
        assert load.error[0].startswith(("Could not find a free area", "kexec_file_load failed: Cannot assign"))
        return
    segs = sorted(load.segments, key=lambda s: s.start)
    assert all(a.start + a.size <= b.start for a, b in zip(segs, segs[1:], strict=False))
    assert all(start <= s.start and s.start + s.size <= end for s in segs)
    # the crash kernel's RAM: the 640 KiB it was lent, and the region less the backup and ELF header segments
    assert all(start <= s <= e < end or e < 0xA0000 for s, e in load.usable_memory_ranges)


def test_crash_view_system_ram_split_per_generation() -> None:
    # e820__reserve_setup_data: 5.10 shows the whole 0x30-byte setup_data as its own System RAM line, 6.1 only
    # the 16-byte header (parse_setup_data zeroed the RNG seed's len), 7.x none (recorded crash /proc/iomem)
    heads = {}
    for gen in ("5.10", "6.1", "7.2"):
        load = _load(gen=gen)
        view = crashview_x86.crash_view_x86(crashview_x86.X86_CRASH_KERNELS[gen], X86_KERNELS[gen], load)
        heads[gen] = view.iomem_lines[1]
    assert heads == {"5.10": "6f000000-6f00002f : System RAM", "6.1": "6f000000-6f00000f : System RAM",
                     "7.2": "6f000000-7ef5cfff : System RAM"}


def test_crash_view_memtotal_mechanism() -> None:
    # 6.1, 256 MiB at 0x6f000000: 65531 whole pages of e820 RAM (262124 KiB) less the first MiB's 158 pages,
    # the image (43157 KiB), 4 sections of memmap (8 MiB), the 256 + 128 KiB hashes and 4627 KiB fixed
    load = _load()
    view = crashview_x86.crash_view_x86(crashview_x86.X86_CRASH_KERNELS["6.1"], X86_KERNELS["6.1"], load)
    assert view.memtotal_kb == 262124 - 632 - 43157 - 8192 - 384 - 4627 == 205132  # recorded: 205132 kB
    assert view.swiotlb_kib == 0
    assert view.vmcore_size == 0x1000 * 2 + 0x3430000 + 0x9F000 + 0x6EF00000 + 0xFDF000


def test_model_runs_x86_kexec_and_judges_it() -> None:
    machine = qemu_q35(6 << 30, kernel="6.1")
    res = model.run(model.Scenario(machine, "console=ttyS0 panic=-1 nokaslr crashkernel=1G,high", "6.1",
                                   kexec_tools="2.0.25", crash_initrd_size=INITRD))
    assert res.kexec.loaded and res.crash_view is not None
    assert res.crash_view.swiotlb_kib == 64 << 10  # RAM above 4 GiB: swiotlb from the low region
    j = judge(res)
    assert j.status == 0 and j.short.startswith("yes, high") and not j.problems
    refused = model.run(dataclasses.replace(res.scenario, kexec_tools="2.0.29"))
    assert refused.kexec.syscall == "kexec_load"  # -d and 6.1: the file syscall refuses, the fallback loads


def test_unknown_release() -> None:
    with pytest.raises(KdumplabError, match="unknown kexec-tools version"):
        x86_kexec_tools("2.0.99")


def test_bzimage_facts_agree_with_the_kernel_profiles() -> None:
    # one truth: the init_size kexec loads the kernel with is the bzImage header field the profile holds
    from kdumplab.profiles import debian_x86  # noqa: PLC0415

    for prof in debian_x86.PROFILES:
        assert X86_KERNELS[prof.name].init_size == prof.image.init_size
        assert prof.name in crashview_x86.X86_CRASH_KERNELS


def test_crash_view_two_numa_nodes() -> None:
    # the crash kernel's RAM on two SRAT nodes (low region on node 0, the rest on node 1): the dentry/inode hashes
    # are vmalloc'd (hashdist) and stay in MemTotal, the second node's pg_data_t (176 KiB) does not
    iomem = IOMEM_2G.replace("  6f000000-7effffff : Crash kernel\n", "")
    iomem += "100000000-17fffffff : System RAM\n  13f000000-17effffff : Crash kernel\n"
    load = _load(iomem=iomem)
    one = crashview_x86.crash_view_x86(crashview_x86.X86_CRASH_KERNELS["6.1"], X86_KERNELS["6.1"], load)
    two = crashview_x86.crash_view_x86(crashview_x86.X86_CRASH_KERNELS["6.1"], X86_KERNELS["6.1"], load,
                                       nodes=((0, 1 << 32, 0), (1 << 32, 6 << 30, 1)))
    assert one.hashes_kib == 1024 + 512 and two.hashes_kib == 0  # 1 GiB: 128Ki dentry, 64Ki inode buckets
    assert two.memtotal_kb - one.memtotal_kb == 1536 - 176
