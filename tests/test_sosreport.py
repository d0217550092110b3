"""sosreport archives read as a bounded stream: hostile layouts and sizes are one error line (issue 12)."""

from __future__ import annotations

import io
import lzma
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
        info = tarfile.TarInfo(f"{TOP}/etc/huge")  # sorts before what check reads: its data is read
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


# --- stopping early in an archive as sos writes it ---------------------------------------------------------

WANTED = tuple(rel for cands in capture.FIELDS.values() for rel in cands)
OTHER = ("etc/hosts", "proc/cpuinfo", "proc/zoneinfo", "sos_commands/kernel/lsmod", "sos_commands/logs/big",
         "sys/kernel/mm/x", "sys/module/y", "usr/lib/z", "var/log/messages", "zz")


def _sos_tar(path: Path, files: dict[str, bytes], links: dict[str, str], mode: str = "w:xz",
             reviewed_first: bool = True) -> Path:
    """As sos builds it (sos/archive.py TarFileArchive._build_archive): tarfile.add of the report directory
    (each directory's entries sorted, depth first); sos 4.9.1 and 4.12.1 (Debian trixie, sid) first add
    version.txt, sos_reports and sos_logs on their own "so that they can be more easily read", so those come
    twice (``reviewed_first``; sos 4.0, Debian bullseye/bookworm, does not)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp) / TOP
        for rel, data in files.items():
            (top / rel).parent.mkdir(parents=True, exist_ok=True)
            (top / rel).write_bytes(data)
        for rel, target in links.items():
            (top / rel).parent.mkdir(parents=True, exist_ok=True)
            (top / rel).symlink_to(target)
        with tarfile.open(path, mode) as tar:
            for content in ("version.txt", "sos_reports", "sos_logs") if reviewed_first else ():
                if (top / content).exists():
                    tar.add(top / content, arcname=f"{TOP}/{content}")
            tar.add(top, arcname=TOP)
    return path


SOS_HEAD = {"version.txt": b"sosreport: 4.12.1\n", "sos_reports/manifest.json": b"{}\n",
            "sos_logs/sos.log": b"log\n"}


def test_sos_4_9_archives_with_their_reviewed_files_twice_are_read(tmp_path: Path) -> None:
    """sos 4.9+ writes version.txt, sos_reports/ and sos_logs/ twice: no file check reads, so no refusal; the
    early stop still works after them (found reading Debian's sos 4.12.1: every such archive was refused)."""
    files = {**SOS_HEAD, "proc/iomem": RAM.encode(), "var/log/messages": os.urandom(1 << 20)}
    whole = _sos_tar(tmp_path / "a.tar.xz", files, {}).read_bytes()
    assert capture.from_sosreport(tmp_path / "a.tar.xz", whole=True).iomem == RAM
    (tmp_path / "cut.tar.xz").write_bytes(whole[:-200])
    assert capture.from_sosreport(tmp_path / "cut.tar.xz").iomem == RAM


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(present=st.sets(st.sampled_from(WANTED + OTHER + tuple(SOS_HEAD)), min_size=1),
       linked=st.sets(st.sampled_from(tuple(r for r in WANTED if "/" not in r)), max_size=2),
       reviewed_first=st.booleans())
def test_stopping_early_keeps_what_the_whole_read_keeps(tmp_path: Path, present, linked, reviewed_first) -> None:
    """Whatever members sos wrote (and links such as the top-level dmesg), the early stop gives the capture the
    whole read gives."""
    files = {rel: f"{rel} text\n".encode() for rel in present if rel not in linked}
    files.setdefault("proc/iomem", RAM.encode())
    links = {rel: "sos_commands/kernel/dmesg" for rel in linked if rel not in files}
    path = _sos_tar(tmp_path / f"s{abs(hash((tuple(sorted(present)), tuple(sorted(linked)), reviewed_first)))}.tar",
                    files, links, "w", reviewed_first)
    assert capture.from_sosreport(path) == capture.from_sosreport(path, whole=True)


def test_early_stop_leaves_the_tail_unread_and_reads_all_when_out_of_order(tmp_path: Path) -> None:
    # an incompressible tail well past the read-ahead of the decompressor and the tar reader
    files = {"proc/iomem": RAM.encode(), "proc/cmdline": b"crashkernel=512M\n", "var/log/messages": os.urandom(1 << 20)}
    whole = _sos_tar(tmp_path / "a.tar.xz", files, {}).read_bytes()
    cut = tmp_path / "cut.tar.xz"
    cut.write_bytes(whole[: len(whole) - 200])  # the tail (var/log, after every wanted path) is damaged
    assert capture.from_sosreport(cut).iomem == RAM
    assert "truncated or corrupt" in str(_raises(lambda: capture.from_sosreport(cut, whole=True)))
    # the same members out of sos's order: nothing proves a wanted file absent, so all is read and the cut seen
    shuffled = _tar(tmp_path / "b.tar.xz", [(f"{TOP}/var/log/messages", os.urandom(1 << 20)),
                                            (f"{TOP}/proc/iomem", RAM.encode())], "w:xz").read_bytes()
    (tmp_path / "bcut.tar.xz").write_bytes(shuffled[:-200])
    assert "truncated or corrupt" in _error(tmp_path / "bcut.tar.xz")


def test_a_second_copy_before_the_stop_is_refused_one_after_it_is_not_read(tmp_path: Path) -> None:
    """The documented limit of the early stop: a copy appended after the members sos wrote (tar -r) is not
    read, as a cut tail is not; a copy among them breaks sos's order and is refused as before."""
    early = _tar(tmp_path / "a.tar", [(f"{TOP}/proc/iomem", RAM.encode()), (f"{TOP}/proc/iomem", b"junk\n")], "w")
    assert "appears twice" in _error(early)
    path = _sos_tar(tmp_path / "b.tar", {"proc/iomem": RAM.encode(), "zz": b"last\n"}, {}, "w")
    with tarfile.open(path, "a") as tar:  # tar -r: a second copy after everything sos wrote
        info = tarfile.TarInfo(f"{TOP}/proc/iomem")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"junk\n"))
    assert capture.from_sosreport(path).iomem == RAM
    assert "appears twice" in str(_raises(lambda: capture.from_sosreport(path, whole=True)))


def _raises(fn) -> KdumplabError:
    with pytest.raises(KdumplabError) as e:
        fn()
    return e.value
