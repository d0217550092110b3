"""Fuzz the capture readers: --root directories (random files, symlinks in and out, FIFOs, NUL bytes, latin-1)
and sosreport archives (truncated, corrupt, huge declared sizes, links, absolute paths, duplicates), each
through the library and a few through the CLI (exit 2 comes with one stderr line). Memory stays bounded on
a 1 GiB input (a sparse file: nothing is allocated)."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import tracemalloc
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab import capture, findings
from kdumplab.errors import KdumplabError
from tests.fuzz.util import cli_ok_or_exit_2, result_or_one_line

_REL = st.sampled_from(["proc/iomem", "proc/cmdline", "proc/meminfo", "proc/version", "dmesg", "uname",
                        "sys/kernel/kexec_crash_size", "sys/kernel/kexec_crash_loaded", "kexec_version",
                        "sos_commands/kernel/dmesg", "var/log/dmesg"])
_TEXT = st.sampled_from(["40000000-23fffffff : System RAM\n  dc000000-fbffffff : Crash kernel\n",
                         "crashkernel=512M\n", "MemTotal: 8000000 kB\n", "MemTotal: " + "9" * 5000 + " kB\n",
                         "kexec-tools 2.0." + "9" * 5000, "Linux version 6.1.0-28-arm64 (x)\n", "536870912\n",
                         "1\n"]).map(str.encode) | st.binary(max_size=200) \
    | st.text(max_size=100).map(lambda s: s.encode("latin-1", "replace"))
_ENTRY = st.tuples(_REL, st.sampled_from(["file", "file", "file", "link-in", "link-out", "fifo", "dir"]), _TEXT)


def _root(base: Path, entries: list[tuple[str, str, bytes]]) -> Path:
    root = base / "R"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "iomem").write_text("40000000-23fffffff : System RAM\n")
    for rel, kind, data in entries:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink() or p.is_file() or p.exists() and not p.is_dir():
            p.unlink()
        elif p.is_dir():
            shutil.rmtree(p)
        if kind == "file":
            p.write_bytes(data)
        elif kind == "link-in":
            p.symlink_to(os.path.relpath(root / "proc" / "iomem", p.parent))
        elif kind == "link-out":
            p.symlink_to("/etc/hostname")
        elif kind == "fifo":
            os.mkfifo(p)
        else:
            p.mkdir()
    return root


def _check(cap_or_err: object) -> None:
    if isinstance(cap_or_err, capture.Capture) and cap_or_err.iomem is not None:
        result_or_one_line(findings.analyze, cap_or_err)


@settings(settings.get_profile("fuzz"))
@given(entries=st.lists(_ENTRY, max_size=8))
def test_capture_roots(entries: list[tuple[str, str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = _root(Path(tmp), entries)
        _check(result_or_one_line(capture.from_root, root))


_MEMBER = st.tuples(
    st.sampled_from(["top/proc/iomem", "top/proc/cmdline", "top/proc/meminfo", "top/dmesg", "top/x/y",
                     "/top/proc/iomem", "top/../etc/passwd", "other/proc/iomem", "top", "./top/proc/version"]),
    st.sampled_from(["file", "file", "file", "sym-in", "sym-out", "hard", "chr", "fifo", "dir", "huge"]),
    _TEXT)


def _lying_header(name: str, size: int) -> bytes:
    """A tar header that declares ``size`` bytes, followed by one block of them (the rest never comes)."""
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(tarfile.GNU_FORMAT) + bytes(512)


def _archive(members: list[tuple[str, str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "huge":
                break  # written raw below: tarfile will not write a header that lies
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {"sym-in": tarfile.SYMTYPE, "sym-out": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
                         "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE, "dir": tarfile.DIRTYPE}[kind]
            links = {"sym-in": "proc/iomem", "sym-out": "../../etc/passwd", "hard": "top/proc/iomem"}
            info.linkname = links.get(kind, "")
            tar.addfile(info)
    huge = next((name for name, kind, _ in members if kind == "huge"), None)
    if huge is None:
        return buf.getvalue()
    return _cut_end(buf.getvalue()) + _lying_header(huge, 1 << 36)


def _cut_end(tar: bytes) -> bytes:
    """A tar stream without its two zero end blocks (and the record padding), so more members can follow."""
    end = len(tar)
    while end >= 512 and tar[end - 512:end] == bytes(512):
        end -= 512
    return tar[:end]


_COMPRESS = st.sampled_from(["none", "gz", "xz", "bz2"])


@settings(settings.get_profile("fuzz"))
@given(members=st.lists(_MEMBER, max_size=6), how=_COMPRESS, cut=st.none() | st.floats(0, 1),
       flip=st.none() | st.integers(0, 10_000))
def test_sosreport_archives(members: list[tuple[str, str, bytes]], how: str, cut: float | None,
                            flip: int | None) -> None:
    import bz2
    import gzip
    import lzma

    data = _archive(members)
    data = {"none": bytes, "gz": gzip.compress, "xz": lzma.compress, "bz2": bz2.compress}[how](data)
    if cut is not None:
        data = data[:int(len(data) * cut)]
    if flip is not None and data:
        b = bytearray(data)
        b[flip % len(b)] ^= 0x5A
        data = bytes(b)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"s.tar.{how}"
        path.write_bytes(data)
        _check(result_or_one_line(capture.from_sosreport, path))


@settings(settings.get_profile("fuzz").__class__(settings.get_profile("fuzz"), max_examples=8))
@given(entries=st.lists(_ENTRY, max_size=5), members=st.lists(_MEMBER, max_size=4))
def test_check_cli_exits_2_with_one_line(entries: list[tuple[str, str, bytes]],
                                         members: list[tuple[str, str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = _root(Path(tmp), entries)
        assert cli_ok_or_exit_2(["check", "--root", str(root)]) in (0, 1, 2, 3)
        sos = Path(tmp) / "s.tar"
        sos.write_bytes(_archive(members))
        assert cli_ok_or_exit_2(["check", "--sosreport", str(sos)]) in (0, 1, 2, 3)


def test_memory_stays_bounded_on_a_1_gib_input(tmp_path: Path) -> None:
    # sparse 1 GiB files: the readers refuse them by size before reading, so nothing near 1 GiB is allocated
    root = tmp_path / "R"
    (root / "proc").mkdir(parents=True)
    for rel in ("proc/iomem", "proc/cmdline"):
        with open(root / rel, "wb") as f:
            f.truncate(1 << 30)
    sos = tmp_path / "s.tar"
    sos.write_bytes(_lying_header("top/proc/iomem", 1 << 30))
    tracemalloc.start()
    try:
        for fn, arg in ((capture.from_root, root), (capture.from_sosreport, sos)):
            err = result_or_one_line(fn, arg)
            assert isinstance(err, KdumplabError)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, peak
