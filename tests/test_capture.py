"""Capture: the same fields from --root, a sosreport (xz/gz/bz2, any top directory) and bad archives."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdumplab import capture
from kdumplab.errors import KdumplabError
from tests.tools.util import realboot_files, sosreport, write_root

CASE = "6.1-16G-a12-crashkernel-4G-high"


def test_root_reads_live_paths(tmp_path: Path) -> None:
    cap = capture.from_root(write_root(realboot_files(CASE), tmp_path))
    assert cap.cmdline.strip() == "console=ttyAMA0 panic=-1 crashkernel=4G,high"
    assert cap.kexec_crash_size.strip() == "4294967296"
    assert cap.release == "6.1.0-56-arm64"
    assert cap.arch == "arm64"
    assert cap.memtotal == 12169404 * 1024
    assert cap.kexec_crash_loaded is None and cap.memblock_memory is None  # missing files are None
    assert cap.where("iomem") == f"{tmp_path}/proc/iomem"


@pytest.mark.parametrize("mode", ["w:xz", "w:gz", "w:bz2", "w"])
def test_sosreport_same_fields_as_root(tmp_path: Path, mode: str) -> None:
    files = realboot_files(CASE)
    files["uname_-a"] = "Linux h 6.1.0-56-arm64 #1 SMP Debian 6.1.192-2 aarch64 GNU/Linux\n"
    sos = capture.from_sosreport(sosreport({k if k != "uname_-a" else "sos_commands/kernel/uname_-a": v
                                            for k, v in files.items()}, tmp_path / "s.tar", mode=mode))
    root = capture.from_root(write_root(realboot_files(CASE), tmp_path / "root"))
    for field in ("iomem", "cmdline", "kexec_crash_size", "kernel_log", "meminfo"):
        assert getattr(sos, field) == getattr(root, field), field
    assert sos.uname.startswith("Linux h 6.1.0-56-arm64")
    assert sos.where("kernel_log").endswith("s.tar/sos_commands/kernel/dmesg")


def test_sosreport_truncated_is_one_error_naming_the_file(tmp_path: Path) -> None:
    whole = sosreport(realboot_files(CASE), tmp_path / "s.tar.xz").read_bytes()
    cut = tmp_path / "cut.tar.xz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(KdumplabError) as err:
        capture.from_sosreport(cut)
    assert err.value.where == str(cut) and "truncated or corrupt" in err.value.what


def test_sosreport_garbage_and_missing(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8bnot gzip at all")
    with pytest.raises(KdumplabError, match="junk.tar.gz: truncated or corrupt"):
        capture.from_sosreport(junk)
    with pytest.raises(KdumplabError, match="no such file"):
        capture.from_sosreport(tmp_path / "absent.tar.xz")


def test_live_capture_reads_without_error() -> None:
    cap = capture.from_live()
    assert cap.source.startswith("live system")
    assert cap.iomem is None or isinstance(cap.iomem, str)


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(iomem=_TEXT, cmdline=_TEXT, top=st.from_regex(r"sosreport-[a-z0-9]{1,8}", fullmatch=True))
def test_sosreport_round_trip(tmp_path: Path, iomem: str, cmdline: str, top: str) -> None:
    # whatever the texts and the top directory name, a sosreport gives back exactly what went in
    path = sosreport({"proc/iomem": iomem, "proc/cmdline": cmdline}, tmp_path / f"{top}.tar.gz", top=top,
                     mode="w:gz")
    cap = capture.from_sosreport(path)
    assert (cap.iomem, cap.cmdline, cap.kernel_log) == (iomem, cmdline, None)
