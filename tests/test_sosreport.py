"""sosreport archives read as a bounded stream: hostile layouts and sizes are one error line (issue 12)."""

from __future__ import annotations

import io
import lzma
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from kdumplab import capture, sosreport
from kdumplab.errors import KdumplabError

TOP = "sosreport-h-2026"
RAM = "40000000-23fffffff : System RAM\n"


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _error(path: Path) -> str:
    with pytest.raises(KdumplabError) as e:
        capture.from_sosreport(path)
    line = e.value.one_line()
    assert "\n" not in line and str(path) in line
    return line


def test_sparse_member_declaring_64_gib_is_refused_before_reading(tmp_path: Path) -> None:
    # found on 11-30: a 230-byte .tar.gz whose proc/iomem is a 64 GiB sparse member gave MemoryError
    src = tmp_path / "src" / TOP / "proc"
    src.mkdir(parents=True)
    with open(src / "iomem", "wb") as f:
        f.truncate(64 << 30)
    out = tmp_path / "sparse.tar.gz"
    subprocess.run(["tar", "-S", "-czf", out, "-C", tmp_path / "src", TOP], check=True)
    assert out.stat().st_size < 1024
    assert "declares 68719476736 bytes" in _error(out)


class _Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001
        k = min(len(buf), self.left)
        buf[:k] = bytes(k)
        self.left -= k
        return k


def test_xz_bomb_stops_early(tmp_path: Path) -> None:
    # found on 11-30: a 162 KB xz bomb took 1.1 GiB; now the ratio check stops it after BOMB_FLOOR bytes
    path = tmp_path / "bomb.tar.xz"
    with lzma.open(path, "w", preset=1) as f, tarfile.open(fileobj=f, mode="w|") as tar:
        info = tarfile.TarInfo(f"{TOP}/var/log/huge")
        info.size = 1 << 30
        tar.addfile(info, io.BufferedReader(_Zeros(1 << 30)))
    assert path.stat().st_size < 400_000
    assert "decompression bomb" in _error(path)


@pytest.mark.parametrize(("members", "says"), [
    ([(f"{TOP}/proc/iomem", RAM.encode()), ("other-top/proc/cmdline", b"x")], "two top directories"),
    ([(f"{TOP}/proc/iomem", RAM.encode()), (f"{TOP}/proc/iomem", b"00000000-0fffffff : System RAM\n")],
     "appears twice"),
    ([(f"/{TOP}/proc/iomem", RAM.encode())], "absolute name"),
    ([(f"{TOP}/../proc/iomem", RAM.encode())], "'..'"),
    ([(f"{TOP}/proc/iomem", RAM.encode()), _link(f"{TOP}/proc/cmdline", "/etc/passwd")], "links outside"),
    ([(f"{TOP}/proc/iomem", RAM.encode()), _link(f"{TOP}/proc/cmdline", "../../../etc/passwd")], "links outside"),
    ([(f"{TOP}/proc/iomem", RAM.encode()), _link(f"{TOP}/proc/cmdline", "etc/passwd", tarfile.LNKTYPE),
      ], None),  # a hard link inside the archive to a member that is not there: simply no cmdline
    ([(f"{TOP}/proc/iomem", RAM.encode()), _link(f"{TOP}/dev/zero", "", tarfile.CHRTYPE)], "device or FIFO"),
    ([(f"{TOP}/proc/iomem", RAM.encode()), _link(f"{TOP}/proc/cmdline", "", tarfile.FIFOTYPE)], "device or FIFO"),
])
def test_hostile_layouts_are_refused(tmp_path: Path, members: list, says: str | None) -> None:
    path = _tar(tmp_path / "s.tar.gz", members)
    if says is None:
        assert capture.from_sosreport(path).cmdline is None
    else:
        assert says in _error(path)


def test_links_inside_the_archive_are_followed(tmp_path: Path) -> None:
    # sos puts relative links at the top (dmesg -> sos_commands/kernel/dmesg); reading one is fine
    path = _tar(tmp_path / "s.tar.xz", [(f"{TOP}/proc/iomem", RAM.encode()),
                                        (f"{TOP}/sos_commands/kdump/kexec_--version", b"kexec-tools 2.0.25\n"),
                                        _link(f"{TOP}/kexec_version", "sos_commands/kdump/kexec_--version")],
                mode="w:xz")
    cap = capture.from_sosreport(path)
    assert cap.kexec_version == "kexec-tools 2.0.25\n"


def test_unreadable_and_garbage_archives_are_one_line(tmp_path: Path) -> None:
    # found on 11-30: an unreadable sosreport gave tarfile's 5-line "could not be opened" message
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"\xfd7zXZ\x00" + os.urandom(300))
    assert "truncated or corrupt" in _error(junk)
    gz = tmp_path / "junk.tar.gz"
    gz.write_bytes(b"\x1f\x8b" + bytes(50))
    assert "truncated or corrupt" in _error(gz)
    fifo = tmp_path / "fifo.tar"
    os.mkfifo(fifo)
    assert "not a regular file" in _error(fifo)
    with pytest.raises(KdumplabError, match="not a regular file"):
        capture.from_sosreport("/dev/zero")


def test_total_and_member_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _tar(tmp_path / "s.tar", [(f"{TOP}/proc/iomem", RAM.encode() * 100), (f"{TOP}/var/x", bytes(20_000))],
                mode="w")
    monkeypatch.setattr(sosreport, "TOTAL_LIMIT", 10_000)
    assert "decompresses to more than" in _error(path)
