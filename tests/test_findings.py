"""Findings over captures cut from real boots (tests/data/realboots) and hand-made ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdumplab import capture
from kdumplab.errors import KdumplabError
from kdumplab.findings import Severity, analyze
from tests.tools.util import realboot_files

CAPTURES = Path(__file__).parent / "data" / "captures"


def _codes(files: dict[str, str]) -> dict[str, Severity]:
    return {f.code: f.severity for f in analyze(capture.from_texts("t", _fields(files))).findings}


def _fields(files: dict[str, str]) -> dict[str, str]:
    m = {"proc/iomem": "iomem", "proc/cmdline": "cmdline", "sys/kernel/kexec_crash_size": "kexec_crash_size",
         "sys/kernel/kexec_crash_loaded": "kexec_crash_loaded", "dmesg": "kernel_log", "proc/version": "version",
         "proc/meminfo": "meminfo", "kexec_--version": "kexec_version", "uname_-a": "uname"}
    return {m[k]: v for k, v in files.items() if k in m}


def test_61_high_without_low_warns() -> None:
    # real 6.1 boot, crashkernel=4G,high: one region at 0x32de00000 above the 4 GiB DMA limit, no low region
    # (6.1 arm64 has no default ,low: arch/arm64/mm/init.c reserve_crashkernel in 6.1)
    a = analyze(capture.from_root(CAPTURES / "6.1-16G-high-without-low"))
    assert [f.code for f in a.findings if f.severity is Severity.WARNING] == ["OUTSIDE_DMA_ZONE"]
    hw = next(f for f in a.findings if f.code == "OUTSIDE_DMA_ZONE")
    assert hw.evidence[0].endswith("proc/iomem:16: 32de00000-42ddfffff : Crash kernel")
    assert a.generations == ("6.1",)


def test_612_high_gets_default_low_so_no_warning() -> None:
    # real 6.12 boot of the same cmdline: the kernel adds a 128 MiB low region itself (DEFAULT_CRASH_KERNEL_LOW_SIZE)
    codes = _codes(realboot_files("6.12-16G-a12-crashkernel-4G-high"))
    assert "OUTSIDE_DMA_ZONE" not in codes


def test_two_regions_old_kexec_and_not_loaded() -> None:
    a = analyze(capture.from_root(CAPTURES / "6.1-8G-two-regions-kexec-2.0.20"))
    codes = [f.code for f in a.findings]
    assert codes[:2] == ["NOT_LOADED", "KEXEC_TWO_REGIONS"]
    assert a.kexec_versions == ("2.0.20",)
    assert len(a.regions) == 2


def test_generations_read_backwards_without_release() -> None:
    # 6.1 two-region boot: kexec_crash_size counts the main region only (1 GiB), so the 6.12+ rows
    # (CRASH_SIZE_INCLUDES_LOW) are ruled out; the 2019 review names its low region "Crash kernel (low)"
    files = realboot_files("6.1-8G-a00-crashkernel-1G-high-crashkernel-256M-low")
    del files["proc/version"]
    a = analyze(capture.from_texts("t", _fields(files)))
    assert "6.12" not in a.generations and "7.2" not in a.generations
    assert "6.1" in a.generations and "proposal-2019-review" not in a.generations


def test_no_region_and_failure_line() -> None:
    # real 5.10 boot with 1 GiB RAM and crashkernel=900M: the kernel could not reserve it
    files = realboot_files("5.10-1G-a10-crashkernel-900M")
    a = analyze(capture.from_texts("t", _fields(files)))
    assert a.findings[0].severity is Severity.ERROR
    assert {"NO_REGION", "RESERVATION_FAILED"} <= {f.code for f in a.findings}


def test_one_byte_region_not_in_iomem() -> None:
    # 6.12+ inserts crashk_res into /proc/iomem only if start < end (kernel/crash_reserve.c,
    # insert_crashkernel_resources): a 1-byte reservation shows only in kexec_crash_size
    files = realboot_files("6.12-16G-a12-crashkernel-4G-high")
    files["proc/iomem"] = "".join(line + "\n" for line in files["proc/iomem"].splitlines()
                                  if "Crash kernel" not in line)
    files["sys/kernel/kexec_crash_size"] = "1\n"
    assert _codes(files)["REGION_NOT_IN_IOMEM"] is Severity.ERROR


def test_small_region() -> None:
    files = realboot_files("6.1-16G-a12-crashkernel-4G-high")
    files["proc/iomem"] = files["proc/iomem"].replace("32de00000-42ddfffff : Crash kernel",
                                                      "32de00000-32edfffff : Crash kernel")
    # ~12 GiB + 16 MiB of RAM: kdump-utils aarch64 gives 320M for 4G-64G
    assert _codes(files)["SMALL_REGION"] is Severity.WARNING


def test_garbage_iomem_line_is_partial_input_naming_file_and_line() -> None:
    # a mangled line is skipped and reported (issue 10: PARTIAL_INPUT), the rest still read
    files = realboot_files("6.1-16G-a12-crashkernel-4G-high")
    lines = files["proc/iomem"].splitlines()
    lines.insert(3, "this is not iomem")
    files["proc/iomem"] = "\n".join(lines) + "\n"
    a = analyze(capture.from_texts("t", _fields(files), {"iomem": "cap/proc/iomem"}))
    partial = next(f for f in a.findings if f.code == "PARTIAL_INPUT")
    assert partial.evidence[0].startswith("cap/proc/iomem:4:")
    assert "OUTSIDE_DMA_ZONE" in {f.code for f in a.findings}


def test_iomem_with_nothing_usable_names_file_and_line() -> None:
    with pytest.raises(KdumplabError) as err:
        analyze(capture.from_texts("t", {"iomem": "hello\nworld\n"}, {"iomem": "cap/proc/iomem"}))
    assert err.value.where == "cap/proc/iomem:1"


def test_hidden_one_byte_region_points_to_612_or_later() -> None:
    # without a release string: only generations that skip start == end resources can hide a reserved region
    files = realboot_files("6.12-16G-a12-crashkernel-4G-high")
    del files["proc/version"]
    files["proc/cmdline"] = "crashkernel=1\n"
    files["proc/iomem"] = "".join(line + "\n" for line in files["proc/iomem"].splitlines()
                                  if "Crash kernel" not in line)
    files["sys/kernel/kexec_crash_size"] = "1\n"
    gens = analyze(capture.from_texts("t", _fields(files))).generations
    assert gens and set(gens) <= {"6.12", "7.2"}


def test_x86_high_without_low_uses_4g() -> None:
    # x86_64 6.1 keeps a default low region (256 MiB, arch/x86/kernel/setup.c reserve_crashkernel_low), so a
    # modelled crashkernel=1G,high has two regions and no OUTSIDE_DMA_ZONE; dropping the low line brings it back
    from kdumplab import model
    from kdumplab.machine import Bank, Machine
    from kdumplab.tools.report import modelled_capture

    m = Machine("x86 16G", (Bank(0x100000, 0x7ff00000), Bank(1 << 32, 0x380000000)), arch="x86_64")
    res = model.run(model.Scenario(m, "crashkernel=1G,high", "6.1"))
    cap = modelled_capture(res)
    assert cap.arch == "x86_64"
    assert "OUTSIDE_DMA_ZONE" not in {f.code for f in analyze(cap).findings}
    low = next(r for r in res.outcome.regions if r.role == "low")
    text = "".join(line + "\n" for line in cap.iomem.splitlines() if f"{low.start:x}-" not in line)
    codes = {f.code for f in analyze(capture.from_texts("t", {"iomem": text, "uname": cap.uname})).findings}
    assert "OUTSIDE_DMA_ZONE" in codes


def _cycle_capture(case: str, kexec_version: str) -> capture.Capture:
    """What `check` would read on the first kernel of a recorded full cycle (tests/data/cycles/<case>)."""
    from kdumplab.lab.cycle import load_cycle

    cyc = load_cycle(Path(__file__).parent / "data" / "cycles" / case)
    first = cyc.first
    return capture.Capture(source=case, iomem=first.iomem, cmdline=first.cmdline + "\n",
                           kexec_crash_size=f"{first.kexec_crash_size}\n",
                           kexec_crash_loaded="1\n" if cyc.kexec.loaded else "0\n",
                           kexec_version=f"kexec-tools {kexec_version}\n",
                           uname=f"Linux guest {first.provenance.kernel_version.split('-')[0]}-arm64 #1 SMP aarch64\n")


@pytest.mark.parametrize(("case", "version", "expected"), [
    # 6.1 + kexec-tools >= 2.0.25: the recorded crash kernel's /proc/vmcore claimed ~1.8e19 bytes, and the
    # elfcorehdr was written with page_offset 0 ("load_crashdump_segments: page_offset: 0000000000000000")
    ("6.1-kt2.0.25-plain-512M", "2.0.25", {"VMCORE_SIZE_WRAPS", "VMCORE_VADDRS"}),
    ("6.1-kt2.0.32-plain-512M", "2.0.32", {"VMCORE_SIZE_WRAPS", "VMCORE_VADDRS"}),
    # 6.12 + 2.0.20: page_offset ffffc00000000000 where the kernel's is fff0000000000000 (52-bit VA)
    ("6.12-kt2.0.20-plain-512M", "2.0.20", {"VMCORE_VADDRS"}),
    # 6.12 + 2.0.25: the recorded vmcore headers were right (page_offset fff0000000000000)
    ("6.12-kt2.0.25-plain-512M", "2.0.25", set()),
    # 2.0.22 is not modelled: nothing said rather than a guess
    ("6.1-kt2.0.25-plain-512M", "2.0.22", set()),
])
def test_vmcore_findings_follow_the_recorded_cycles(case: str, version: str, expected: set[str]) -> None:
    found = {f.code for f in analyze(_cycle_capture(case, version)).findings}
    assert found & {"VMCORE_SIZE_WRAPS", "VMCORE_VADDRS"} == expected


def _boot_capture(case: str) -> capture.Capture:
    from tests.serial_sections import sections

    sec = sections((Path(__file__).parent / "data" / "boots" / case / "serial.log").read_text())
    return capture.from_texts(case, {"kernel_log": sec["DMESG"], "iomem": sec["IOMEM"]})


def test_fixes_are_rerun_on_the_inferred_machine_and_never_already_given() -> None:
    # real 5.10 boot, 1 GiB RAM, crashkernel=1000M: "cannot allocate crashkernel (size:0x3e800000)"
    fail = next(f for f in analyze(_boot_capture("5.10-mem-1G-1000M")).findings if f.code == "RESERVATION_FAILED")
    assert fail.fix.startswith("crashkernel=") and "crashkernel=1000M " not in fail.fix
    assert "on the 5.10 model of the machine inferred from this evidence" in fail.fix
    # real 6.1 boot, crashkernel=1G,high: no low region; the fix is checked to put one below the DMA limit
    out = next(f for f in analyze(_boot_capture("6.1-high-1G")).findings if f.code == "OUTSIDE_DMA_ZONE")
    assert out.fix.startswith("add crashkernel=128M,low (the 6.1 model")
    # a ,low already on the command line is not offered again
    cap = _boot_capture("6.1-high-1G")
    cap = capture.from_texts("t", {"kernel_log": cap.kernel_log, "iomem": cap.iomem,
                                   "cmdline": "crashkernel=1G,high crashkernel=0,low\n"})
    out = next(f for f in analyze(cap).findings if f.code == "OUTSIDE_DMA_ZONE")
    assert out.fix is None or ",low" not in out.fix
