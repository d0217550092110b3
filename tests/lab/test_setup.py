"""lab/setup.py pieces that need no network: mirror discovery from apt sources, pinning text, and the
Debian version order (dpkg's rules: epoch first, then upstream and revision compared in alternating
non-digit/digit runs, with '~' sorting before everything, even the end of the string)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdumplab.errors import KdumplabError
from kdumplab.lab.setup import (
    ADDED_SUITES,
    ARCHES,
    _inside,
    debian_version_cmp,
    load_lab,
    manifest_path,
    mirror_uris,
    prefs_text,
    sources_text,
)


def _etc(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_mirror_from_deb822(tmp_path: Path) -> None:
    etc = _etc(tmp_path, {"sources.list.d/debian.sources": (
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n")})
    assert mirror_uris(etc) == (("http://mirror.example/debian",
                                 "/usr/share/keyrings/debian-archive-keyring.gpg"),)


def test_mirror_from_one_line_list(tmp_path: Path) -> None:
    etc = _etc(tmp_path, {"sources.list": "# c\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/d bookworm main\n"
                                          "deb-src http://m.example/d bookworm main\n"})
    assert mirror_uris(etc) == (("http://m.example/d", "/k.gpg"),)


def test_no_mirror_is_one_clear_error(tmp_path: Path) -> None:
    etc = _etc(tmp_path, {"sources.list": "deb http://other.example/x jammy main\n"})
    with pytest.raises(KdumplabError, match="bookworm"):
        mirror_uris(etc)


def test_sources_are_the_guest_arches_only_and_pinned_low() -> None:
    text = sources_text((("http://m.example/d", None),))
    assert "Architectures: arm64 amd64" in text and "Suites: " + " ".join(ADDED_SUITES) in text
    prefs = prefs_text()
    assert prefs.count("Pin-Priority: 100") == len(ADDED_SUITES)


PAIRS = [  # (a, b, sign of a - b), by dpkg's rules in the module docstring
    ("1:2.0.20-2.1", "2.0.32-1", 1),  # epoch wins
    ("6.1.192-2", "6.1.76-1", 1),  # numeric runs compare as numbers
    ("1.0~rc1-1", "1.0-1", -1),  # '~' before the end
    ("1.0a-1", "1.0+b1-1", -1),  # letters before other signs
    ("1.0-1", "1.00-1", 0),  # leading zeros
    ("7.2.13-1", "7.2.13-1", 0),
]


@pytest.mark.parametrize(("a", "b", "sign"), PAIRS)
def test_debian_version_cmp(a: str, b: str, sign: int) -> None:
    assert debian_version_cmp(a, b) == sign
    assert debian_version_cmp(b, a) == -sign


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg not installed")
@pytest.mark.parametrize(("a", "b", "sign"), PAIRS)
def test_agrees_with_dpkg(a: str, b: str, sign: int) -> None:
    lt = subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0
    assert (debian_version_cmp(a, b) < 0) == lt


_ver = st.from_regex(r"\A([0-9]:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,4})?\Z")


@given(_ver, _ver, _ver)
def test_version_order_is_a_total_order(a: str, b: str, c: str) -> None:
    assert debian_version_cmp(a, a) == 0
    assert debian_version_cmp(a, b) == -debian_version_cmp(b, a)
    if debian_version_cmp(a, b) <= 0 and debian_version_cmp(b, c) <= 0:
        assert debian_version_cmp(a, c) <= 0


@pytest.mark.parametrize(("arch", "gen", "name", "ok"), [
    ("x86_64", "5.10", "linux-image-5.10.0-32-amd64-unsigned", True),
    ("x86_64", "6.1", "linux-image-6.1.0-57-amd64-unsigned", True),
    ("x86_64", "6.12", "linux-image-6.12.117+deb13-amd64-unsigned", True),
    ("x86_64", "7.2", "linux-binary-7.2.13+deb14-amd64", True),
    ("x86_64", "6.1", "linux-image-6.1.0-57-arm64-unsigned", False),
    ("x86_64", "6.1", "linux-image-6.1.0-57-cloud-amd64-unsigned", False),
    ("arm64", "7.2", "linux-binary-7.2.13+deb14-amd64", False),
])
def test_kernel_package_names_per_arch(arch: str, gen: str, name: str, ok: bool) -> None:
    assert bool(ARCHES[arch].kernels[gen].match(name)) is ok


def test_inside_follows_absolute_links_within_the_tree(tmp_path: Path) -> None:
    # amd64 bullseye libc6: /lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/ld-2.31.so (absolute)
    (tmp_path / "lib/x86_64-linux-gnu").mkdir(parents=True)
    (tmp_path / "lib/x86_64-linux-gnu/ld-2.31.so").write_bytes(b"ld")
    (tmp_path / "lib64").mkdir()
    (tmp_path / "lib64/ld-linux-x86-64.so.2").symlink_to("/lib/x86_64-linux-gnu/ld-2.31.so")
    (tmp_path / "lib/x86_64-linux-gnu/libc.so.6").symlink_to("ld-2.31.so")
    assert _inside(tmp_path, Path("/lib64/ld-linux-x86-64.so.2")) == tmp_path / "lib/x86_64-linux-gnu/ld-2.31.so"
    assert _inside(tmp_path, Path("lib/x86_64-linux-gnu/libc.so.6")) == tmp_path / "lib/x86_64-linux-gnu/ld-2.31.so"
    assert _inside(tmp_path, Path("/lib64/missing.so")) is None


def test_each_arch_has_its_own_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDUMPLAB_CACHE", str(tmp_path))
    assert manifest_path().name == "manifest.json"
    assert manifest_path("x86_64").name == "manifest-x86_64.json"
    (tmp_path / "manifest.json").write_text('{"kernels": {}, "busybox": {"path": "/bb"}}')
    with pytest.raises(KdumplabError, match="x86_64"):
        load_lab("x86_64")
    (tmp_path / "manifest-x86_64.json").write_text(
        '{"kernels": {"6.1": {"package": "p", "version": "v", "vmlinuz": "/v"}}, "busybox": {"path": "/bb64"}, '
        '"firmware": {"ovmf": {"path": "/OVMF.fd"}}}')
    lab = load_lab("x86_64")
    assert lab.arch == "x86_64" and lab.busybox == Path("/bb64") and lab.firmware["ovmf"]["path"] == "/OVMF.fd"
