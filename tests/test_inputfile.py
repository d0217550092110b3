"""Bounded reads of user-named files, and --root captures that cannot leave their directory (issue 12)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdumplab import capture, inputfile
from kdumplab.cli import main
from kdumplab.errors import KdumplabError

RAM = "40000000-23fffffff : System RAM\n"


def _root(tmp_path: Path, **files: str) -> Path:
    root = tmp_path / "R"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "iomem").write_text(RAM)
    (root / "proc" / "cmdline").write_text("crashkernel=512M\n")
    for rel, text in files.items():
        (root / rel.replace("__", "/")).write_text(text)
    return root


def _check(*args: str) -> tuple[int, list[str]]:
    res = CliRunner().invoke(main, ["check", *args])
    return res.exit_code, res.stderr.splitlines() if res.stderr else res.output.splitlines()


def test_fifo_and_devices_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    with pytest.raises(KdumplabError, match="is a FIFO"):
        inputfile.read_bytes(fifo)
    with pytest.raises(KdumplabError, match="character device"):
        inputfile.read_bytes("/dev/zero")
    with pytest.raises(KdumplabError, match="directory"):
        inputfile.read_bytes(tmp_path)


def test_size_limit_names_the_file(tmp_path: Path) -> None:
    big = tmp_path / "iomem"
    with open(big, "wb") as f:  # a sparse 1 GiB file: nothing is allocated, and nothing read past the cap
        f.truncate(1 << 30)
    with pytest.raises(KdumplabError) as e:
        inputfile.read_bytes(big, limit=1 << 20)
    assert e.value.where == str(big) and "1024 MiB" in e.value.what


def test_proc_files_read_whole() -> None:
    # /proc files say size 0 in stat; the reader still reads them to the end
    assert inputfile.read_text("/proc/self/status").startswith("Name:")


@pytest.mark.parametrize("text", ["²", "9" * 5000, "", "12a", "١٢"])
def test_decimal_refuses_unicode_digits_and_long_numbers(text: str) -> None:
    with pytest.raises(KdumplabError):
        inputfile.decimal(text, "x:1")


def test_one_line_cuts_and_flattens() -> None:
    assert inputfile.one_line("a\x00b\tc" + "x" * 500, 20) == "a b c" + "x" * 14 + "…"


def test_root_symlink_out_of_the_capture_is_refused(tmp_path: Path) -> None:
    # found on 11-30: proc/cmdline -> /etc/passwd was printed whole as evidence
    root = _root(tmp_path)
    (root / "proc" / "cmdline").unlink()
    (root / "proc" / "cmdline").symlink_to("/etc/passwd")
    code, err = _check("--root", str(root))
    assert code == 2 and len(err) == 1 and "proc/cmdline" in err[0] and "outside the capture" in err[0]
    assert "root:" not in err[0]


def test_root_symlink_inside_the_capture_is_followed(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "sos_commands" / "kernel").mkdir(parents=True)
    (root / "sos_commands" / "kernel" / "dmesg").write_text("crashkernel reserved\n")
    (root / "dmesg").symlink_to("sos_commands/kernel/dmesg")
    assert capture.from_root(root).kernel_log == "crashkernel reserved\n"


@pytest.mark.parametrize("make", ["fifo", "zero"])
def test_root_fifo_or_dev_zero_as_a_capture_file(tmp_path: Path, make: str) -> None:
    # found on 11-30: a FIFO blocked and /dev/zero ate memory
    root = _root(tmp_path)
    (root / "proc" / "cmdline").unlink()
    if make == "fifo":
        os.mkfifo(root / "proc" / "cmdline")
    else:
        os.mknod(root / "proc" / "cmdline", 0o600 | 0o020000, os.makedev(1, 5)) if os.geteuid() == 0 else \
            pytest.skip("mknod needs root")
    code, err = _check("--root", str(root))
    assert code == 2 and len(err) == 1 and "proc/cmdline" in err[0] and "not a regular file" in err[0]


def test_root_iomem_over_the_limit(tmp_path: Path) -> None:
    # found on 11-30: 200 MB iomem took 16 s and 1.9 GiB
    root = _root(tmp_path)
    with open(root / "proc" / "iomem", "wb") as f:
        f.truncate(200 << 20)
    code, err = _check("--root", str(root))
    assert code == 2 and len(err) == 1 and "proc/iomem" in err[0] and "200 MiB" in err[0]


@pytest.mark.parametrize(("meminfo", "says"), [
    ("MemTotal: 52921504606846976 kB\n", "past 2^64"),   # found on 11-30: bank past 2^64 traceback
    ("MemTotal: " + "9" * 5000 + " kB\n", "past 2^64"),  # 5000 digits: int() limit traceback
    ("MemTotal: " + "9" * 400 + " kB\n", "past 2^64"),
])
def test_memtotal_garbage_is_one_line(tmp_path: Path, meminfo: str, says: str) -> None:
    code, err = _check("--root", str(_root(tmp_path, proc__meminfo=meminfo)))
    assert code == 2 and len(err) == 1 and "proc/meminfo:1" in err[0] and says in err[0]


def test_memtotal_past_the_virt_board_without_release_still_checks(tmp_path: Path) -> None:
    # found on 11-30: MemTotal 512 GiB with no release: the probe machine overlapped the PCIe window
    code, out = _check("--root", str(_root(tmp_path, proc__meminfo="MemTotal: 536870912 kB\n")))
    assert code in (0, 1, 3) and any("NO_REGION" in x for x in out)


def test_kexec_version_with_5000_digit_patch_level(tmp_path: Path) -> None:
    # found on 11-30: int() of 5000 digits; now the version is simply not recognised
    code, out = _check("--root", str(_root(tmp_path, kexec_version="kexec-tools 2.0." + "9" * 5000 + "\n")))
    assert code in (0, 1, 3)
    assert max(len(x) for x in out) < 400  # evidence lines are cut


@pytest.mark.parametrize("log", ["x" + " " * 100_000 + "y\n", "crashkernel" * 9100 + "\n",
                                 "DMA" + " " * 100_000 + "x\n"])
def test_log_lines_that_made_regexes_quadratic(tmp_path: Path, log: str) -> None:
    # found on 11-30: 9 s and 15 s; each of these is now milliseconds (the run is bounded by the test's
    # own time: a quadratic regex would take tens of seconds here)
    import time

    t0 = time.monotonic()
    code, out = _check("--root", str(_root(tmp_path, dmesg=log)))
    assert code in (0, 1, 3) and time.monotonic() - t0 < 10  # a hang guard, not a benchmark
    assert max(len(x) for x in out) < 400
