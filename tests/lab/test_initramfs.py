"""lab/initramfs.py: deterministic newc archives that an independent reader (GNU cpio) can list."""

from __future__ import annotations

import gzip
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdumplab.errors import KdumplabError
from kdumplab.lab.initramfs import INIT_SCRIPT, Initramfs, base_initramfs, read_newc


@pytest.fixture
def fake_busybox(tmp_path: Path) -> Path:
    p = tmp_path / "busybox"
    p.write_bytes(b"\x7fELF fake busybox " * 100)
    p.chmod(0o755)
    return p


def test_same_inputs_same_bytes(fake_busybox: Path) -> None:
    a = base_initramfs(fake_busybox).build()
    b = base_initramfs(fake_busybox).build()
    assert a.data == b.data and a.sha256 == b.sha256
    # gzip header: mtime field (bytes 4..8) is zero.
    assert a.data[4:8] == b"\0\0\0\0"


def test_insertion_order_does_not_matter() -> None:
    one = Initramfs().with_file("b/x", b"1").with_file("a/y", b"2").with_symlink("c", "a/y")
    two = Initramfs().with_symlink("c", "a/y").with_file("a/y", b"2").with_file("b/x", b"1")
    assert one.build().data == two.build().data


def test_content_changes_hash(fake_busybox: Path) -> None:
    a = base_initramfs(fake_busybox).build()
    b = base_initramfs(fake_busybox).with_file("extra", b"x").build()
    assert a.sha256 != b.sha256


def test_own_reader_round_trip(fake_busybox: Path) -> None:
    fs = base_initramfs(fake_busybox).with_file("usr/lib/libx.so.1", b"lib", 0o644)
    members = {name: (mode, data) for name, mode, data in read_newc(fs.build().data)}
    assert members["init"][1] == INIT_SCRIPT.encode()
    assert stat.S_IMODE(members["init"][0]) == 0o755
    assert members["bin/sh"] == (stat.S_IFLNK | 0o777, b"busybox")
    assert stat.S_ISDIR(members["usr/lib"][0])  # parents are created
    assert stat.S_ISCHR(members["dev/console"][0])
    assert list(members) == sorted(members)


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio not installed")
def test_gnu_cpio_lists_it(fake_busybox: Path) -> None:
    raw = gzip.decompress(base_initramfs(fake_busybox).build().data)
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=raw, capture_output=True, check=True).stdout
    names = listing.decode().split()
    assert names == sorted(names)
    assert {"init", "bin/busybox", "bin/sh", "dev/console", "proc", "sys"} <= set(names)


def test_bad_paths_rejected() -> None:
    with pytest.raises(KdumplabError):
        Initramfs().with_file("../etc/passwd", b"")


_names = st.text(alphabet="abcxyz019._-", min_size=1, max_size=8)


@given(st.dictionaries(st.lists(_names, min_size=1, max_size=3).map("/".join), st.binary(max_size=300),
                       max_size=8))
def test_property_round_trip_and_determinism(files: dict[str, bytes]) -> None:
    fs = Initramfs()
    for path, data in files.items():
        try:
            fs = fs.with_file(path, data)
        except KdumplabError:  # ".." components are refused (test_bad_paths_rejected)
            return
    built = fs.build()
    members = {name: data for name, mode, data in read_newc(built.data) if stat.S_ISREG(mode)}
    dirs = {name for name, mode, _ in read_newc(built.data) if stat.S_ISDIR(mode)}
    expected = {p: d for p, d in files.items() if p not in dirs}
    assert {p: members[p] for p in expected} == expected
    again = Initramfs()
    for path in sorted(files, reverse=True):
        again = again.with_file(path, files[path])
    assert again.build().data == built.data
