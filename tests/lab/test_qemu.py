"""lab/qemu.py and lab/run.py with a FAKE qemu-system-aarch64 (a shell script on PATH): no real boot.

Checks the timeout (the whole process group dies), the clean-up of the scratch directory, that a log
without markers is LabLost (returned, not raised), and the QEMU command line of docs/lab.md.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from kdumplab.errors import KdumplabError
from kdumplab.lab import qemu, run
from kdumplab.lab.qemu import BootSpec, boot, qemu_argv
from kdumplab.lab.setup import Lab

GOOD = """=== KDUMPLAB BEGIN
=== CMDLINE
console=ttyAMA0 panic=-1 crashkernel=512M
=== IOMEM
40000000-23fffffff : System RAM
  40210000-41b0ffff : Kernel code
  dc000000-fbffffff : Crash kernel
=== DMESG
[    0.000000] crashkernel reserved: 0x00000000dc000000 - 0x00000000fc000000 (512 MB)
[    0.000000] Kernel command line: console=ttyAMA0 panic=-1 crashkernel=512M
=== KEXEC_CRASH_SIZE
536870912
=== KEXEC_CRASH_LOADED
0
=== MEMTOTAL
MemTotal:        7585368 kB
=== KDUMPLAB END
"""


#: An arm64 Image header (booting.rst: magic "ARM\x64" at offset 56) and nothing else: enough for the
#: pre-boot check; the fake QEMU never reads it.
FAKE_IMAGE = bytes(56) + b"ARM\x64" + bytes(8)


def _fake(tmp_path: Path, body: str) -> Lab:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "qemu-system-aarch64"
    script.write_text("#!/bin/sh\n"
                      'if [ "$1" = --version ]; then echo "QEMU emulator version 7.2.99 (fake)"; exit 0; fi\n'
                      + body)
    script.chmod(0o755)
    os.environ["PATH"] = f"{bindir}:{os.environ['PATH']}"
    qemu._QEMU_VERSION.clear()
    bb = tmp_path / "busybox"
    bb.write_bytes(b"busybox")
    (tmp_path / "vmlinuz-6.1").write_bytes(FAKE_IMAGE)
    kernels = {"6.1": {"package": "linux-image-6.1.0-56-arm64-unsigned", "version": "6.1.192-2",
                       "vmlinuz": str(tmp_path / "vmlinuz-6.1")}}
    return Lab(kernels, bb)


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", os.environ["PATH"])
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    yield scratch
    assert list(scratch.iterdir()) == [], "boot left files behind"


def test_good_boot_is_observed(tmp_path: Path) -> None:
    (tmp_path / "good.log").write_text(GOOD)
    lab = _fake(tmp_path, f'cat {tmp_path / "good.log"}\n')
    r = boot(BootSpec("6.1", "8G", "crashkernel=512M"), lab=lab, timeout=20)
    assert r.lost is None and r.observation is not None
    o = r.observation
    assert [(x.start, x.end) for x in o.crash_regions] == [(0xDC000000, 0xFC000000)]
    assert o.crash_regions[0].parent == "40000000-23fffffff : System RAM"
    assert o.crash_log == ("crashkernel reserved: 0x00000000dc000000 - 0x00000000fc000000 (512 MB)",)
    assert o.kexec_crash_size == 536870912 and o.memtotal_kb == 7585368
    assert o.provenance.qemu_version == "QEMU emulator version 7.2.99 (fake)"
    assert o.provenance.qemu_cmdline[-1] == "console=ttyAMA0 panic=-1 crashkernel=512M"


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    lab = _fake(tmp_path, f"sleep 300 & echo $! > {pidfile}\necho '=== KDUMPLAB BEGIN'\nwait\n")
    t0 = time.monotonic()
    r = boot(BootSpec("6.1", "8G"), lab=lab, timeout=1.5)
    assert time.monotonic() - t0 < 10
    assert r.observation is None and r.lost is not None and "timed out" in r.lost
    pid = int(pidfile.read_text())
    time.sleep(0.2)
    stat = Path(f"/proc/{pid}/stat")
    # Gone, or a zombie waiting for a reaper that is not us: either way no longer running.
    assert not stat.exists() or stat.read_text().split(") ")[1][0] in "ZX"


def test_garbage_is_lab_lost_not_a_refusal(tmp_path: Path) -> None:
    lab = _fake(tmp_path, "echo 'Synchronous External Abort'; exit 1\n")
    r = boot(BootSpec("6.1", "8G"), lab=lab, timeout=20)
    assert r.observation is None and "marker" in (r.lost or "")
    assert "Synchronous External Abort" in r.serial


def test_unknown_kernel_is_bad_input(tmp_path: Path) -> None:
    lab = _fake(tmp_path, "exit 0\n")
    with pytest.raises(KdumplabError):
        boot(BootSpec("5.10", "8G"), lab=lab)


def test_qemu_command_line_matches_the_notes() -> None:
    argv = qemu_argv(BootSpec("6.1", "8G", "crashkernel=512M", ("4G", "4G")), "Image", "initrd")
    assert argv[:12] == ("qemu-system-aarch64", "-M", "virt", "-accel", "tcg", "-cpu", "cortex-a57",
                         "-smp", "1", "-m", "8G", "-object")
    assert "-no-reboot" in argv and argv[argv.index("-nic"):argv.index("-nic") + 2] == ("-nic", "none")
    assert argv.count("-numa") == 2
    assert argv[-1] == "console=ttyAMA0 panic=-1 crashkernel=512M"


def test_x86_command_line_is_q35_with_cpu_max_and_ttys0() -> None:
    spec = BootSpec("6.1", "6G", "crashkernel=3G", ("3G", "3G"), arch="x86_64")
    argv = qemu_argv(spec, "vmlinuz", "initrd")
    assert argv[:10] == ("qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m")
    assert "-bios" not in argv and spec.firmware_name == "bios"  # SeaBIOS: QEMU's default
    assert argv[-1] == "console=ttyS0 panic=-1 crashkernel=3G"
    uefi = qemu_argv(BootSpec("6.1", "6G", arch="x86_64", firmware="uefi"), "vmlinuz", "initrd", "OVMF.fd")
    assert uefi[uefi.index("-bios") + 1] == "OVMF.fd"


@pytest.mark.parametrize(("arch", "firmware"), [("arm64", "bios"), ("x86_64", "dt"), ("riscv", "")])
def test_firmware_and_arch_are_checked(arch: str, firmware: str) -> None:
    with pytest.raises(KdumplabError):
        BootSpec("6.1", "8G", arch=arch, firmware=firmware)


def test_uefi_needs_ovmf_in_the_cache(tmp_path: Path) -> None:
    lab = Lab({"6.1": {"package": "p", "version": "6.1.192-3", "vmlinuz": str(tmp_path / "v")}}, tmp_path / "bb",
              arch="x86_64")
    with pytest.raises(KdumplabError, match="ovmf"):
        boot(BootSpec("6.1", "6G", arch="x86_64", firmware="uefi"), lab=lab)


def test_numa_must_add_up() -> None:
    with pytest.raises(KdumplabError):
        BootSpec("6.1", "8G", "", ("4G", "2G"))


def test_run_reports_failure_kind() -> None:
    with pytest.raises(run.RunFailed) as e:
        run.run(["false"], timeout=10)
    assert e.value.kind == "exit" and "false" in e.value.what
    with pytest.raises(run.RunFailed) as e:
        run.run(["kdumplab-no-such-program"], timeout=10)
    assert e.value.kind == "not-found"
    with pytest.raises(run.RunFailed) as e:
        run.run(["sleep", "30"], timeout=0.5)
    assert e.value.kind == "timeout"


def test_rng_adds_a_virtio_rng_device() -> None:
    # an EFI RNG for the arm64 EFI stub (issue 14 item 4): EDK2's VirtioRngDxe drives it
    argv = qemu_argv(BootSpec("6.12", "4G", firmware="uefi", rng=True), "Image", "initrd", "QEMU_EFI.fd")
    assert argv[argv.index("-device") + 1] == "virtio-rng-pci"
    assert "-device" not in qemu_argv(BootSpec("6.12", "4G"), "Image", "initrd")
