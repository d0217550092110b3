"""The log scanner on every log form; expected values from the kernel's own format strings (cited) and from
recorded boots (tests/data/boots)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab import logscan
from kdumplab.logscan import Kind

BOOTS = Path(__file__).parent / "data" / "boots"

# arch/arm64/mm/init.c reserve_crashkernel (5.10): "crashkernel reserved: 0x%016llx - 0x%016llx (%lld MB)",
# base and base + size: the second address is the exclusive end
MAIN = "crashkernel reserved: 0x00000000dc000000 - 0x00000000fc000000 (512 MB)"


@pytest.mark.parametrize("line", [
    f"[    0.000000] {MAIN}",                                   # dmesg
    f"<6>[    0.000000] {MAIN}",                                # dmesg -r / console level
    f"[    0.000000][    T0] {MAIN}",                           # CONFIG_PRINTK_CALLER
    f"[Mon Mar  1 10:00:00 2021] {MAIN}",                       # dmesg -T
    f"2021-03-01T10:00:00,123456+00:00 {MAIN}",                 # dmesg --time-format iso
    MAIN,                                                       # dmesg -t
    f"Mar 01 10:00:00 host kernel: {MAIN}",                     # journalctl -k
    f"Mar 01 10:00:00.123456 host kernel: {MAIN}",              # journalctl -k -o short-precise
    f"2021-03-01T10:00:00+0000 host kernel: {MAIN}",            # journalctl -o short-iso
    f"Mar  1 10:00:00 host kernel: [    0.000000] {MAIN}",     # rsyslog kern.log
    f"kern  :info  : [    0.000000] {MAIN}",                   # dmesg -x
    f"> [    0.000000] {MAIN}",                                 # mail quote
    f"> > {MAIN}",                                              # quoted twice
    f"\x1b[0m\x00U-Boot junk [    0.000000] {MAIN}",            # serial console junk
])
def test_every_form_gives_the_same_region(line: str) -> None:
    scan = logscan.scan(line + "\n")
    (e,) = scan.events
    assert (e.kind, e.start, e.end, e.size) == (Kind.CRASH_RESERVED, 0xDC000000, 0xFC000000, 512 << 20)


def test_wrapped_by_a_mail_client_is_joined() -> None:
    text = "> [    0.000000] crashkernel reserved: 0x0000000b81200000 -\n> 0x0000000c81200000 (4096 MB)\n"
    (e,) = logscan.scan(text).events
    assert (e.start, e.end) == (0xB81200000, 0xC81200000)


def test_x86_wording_and_the_2019_series_prefix() -> None:
    # arch/x86/kernel/setup.c reserve_crashkernel / reserve_crashkernel_low (5.10): MB granularity
    text = ("[    0.000000] kexec_core: Reserving 256MB of low memory at 3560MB for \ncrashkernel (System low "
            "RAM: 2029MB)\n[    0.000000] Reserving 512MB of memory at 2800MB for crashkernel (System RAM: 8191MB)\n")
    low, main = logscan.scan(text).events
    assert (low.kind, low.start, low.size, low.value) == (Kind.CRASH_LOW_RESERVED_MB, 3560 << 20, 256 << 20,
                                                         "kexec_core")
    assert (main.kind, main.start, main.end) == (Kind.CRASH_RESERVED_MB, 2800 << 20, 3312 << 20)


@pytest.mark.parametrize(("line", "kind"), [
    ("cannot allocate crashkernel (size:0x100000000)", Kind.CANNOT_ALLOCATE),          # arm64 5.10-6.6, generic
    ("cannot allocate crashkernel low memory (size:0x8000000).", Kind.CANNOT_ALLOCATE_LOW),
    ("cannot reserve crashkernel: region overlaps reserved memory", Kind.OVERLAPS),    # arm64 5.10
    ("cannot reserve crashkernel: base address is not 2MB aligned", Kind.NOT_ALIGNED),
    ("crashkernel reservation failed - memory is in use.", Kind.IN_USE),               # x86, generic 6.7+
    ("crashkernel reservation failed - No suitable area found.", Kind.NO_AREA),        # x86 setup.c
    ("Cannot reserve 256MB crashkernel low memory, please try smaller size.", Kind.LOW_FAILED_X86),
    ("crashkernel: unrecognized char: ,", Kind.PARSE_ERROR),                           # kernel/crash_core.c
    ("crashkernel: memory value expected", Kind.PARSE_ERROR),
    ("Memory value expected after '@'", Kind.PARSE_ERROR),
    ("crahskernel: Memory value expected", Kind.PARSE_ERROR),                          # 6.12's typo
    ("crashkernel size resulted in zero bytes", Kind.SIZE_ZERO),
    ("cma: Failed to reserve 1024 MiB", Kind.CMA_FAILED),                              # mm/cma.c
    ("OF: fdt: Reserving 1 KiB of memory at 0x236dff000 for elfcorehdr", Kind.ELFCOREHDR),
    ("Reserving 1KB of memory at 0x236dff000 for elfcorehdr", Kind.ELFCOREHDR),        # arm64 5.10
])
def test_kernel_messages(line: str, kind: Kind) -> None:
    (e,) = logscan.scan(f"[    0.000000] {line}\n").events
    assert e.kind is kind


def test_two_boots_are_split_not_merged() -> None:
    first = "[    0.000000] Booting Linux on physical CPU 0x0\n[    0.000000] Linux version 6.1.0-9-arm64 (x)\n" \
            f"[    0.000000] {MAIN}\n[   12.000000] Starting crashdump kernel...\n"
    crash = "[    0.000000] Booting Linux on physical CPU 0x0\n[    0.000000] Linux version 6.1.0-9-arm64 (x)\n" \
            "[    0.000000] OF: fdt: Reserving 1 KiB of memory at 0xfbfff000 for elfcorehdr\n"
    scan = logscan.scan(first + crash)
    assert len(scan.boots) == 2
    assert not scan.boots[0].is_crash_kernel and scan.boots[1].is_crash_kernel
    assert scan.boots[0].of(Kind.CRASH_RESERVED)


def test_timestamp_back_to_zero_splits() -> None:
    text = f"[    0.000000] {MAIN}\n[   30.000000] x\n[    0.000000] Memory: 1K/2K available\n"
    assert len(logscan.scan(text).boots) == 2


def test_recorded_boot_and_its_dmesg_copy_are_one_boot() -> None:
    # the serial log holds the console and then the same boot's dmesg: the same events twice
    scan = logscan.scan((BOOTS / "5.10-cma-suffix" / "serial.log").read_text())
    assert len(scan.boots) == 1
    kinds = [e.kind for e in scan.events]
    assert Kind.PARSE_ERROR in kinds and Kind.CMA_RESERVED in kinds
    zone = next(e for e in scan.events if e.kind is Kind.ZONE and e.value == "DMA")
    assert (zone.start, zone.end) == (0x40000000, 0x100000000)


def test_long_lines_are_linear() -> None:
    # no pattern can go quadratic: a 1 MiB line of near-misses is read quickly
    text = ("crashkernel reserved: 0x" + "0" * 20 + " - " * 1000 + "[" * 100_000 + " 0.0" * 100_000) * 2
    t0 = time.perf_counter()
    logscan.scan(text)
    assert time.perf_counter() - t0 < 2.0


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_any_text_scans(text: str) -> None:
    scan = logscan.scan(text)
    assert all(b.first_line <= b.last_line or not b.events for b in scan.boots)
