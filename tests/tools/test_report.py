"""report: one self-contained HTML page; rendered in headless Chromium when it is installed."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdumplab.cli import main

ARGS = ["--machine", "rpi4-8g", "--cmdline", "crashkernel=1G,high crashkernel=128M,low", "--kernel", "6.1"]


def _report(tmp_path: Path) -> Path:
    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", "--html", str(out), *ARGS])
    assert r.exit_code == 0, r.output
    return out


def test_report_is_self_contained(tmp_path: Path) -> None:
    html = _report(tmp_path).read_text()
    assert "<svg" in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "DMA limit" in html and "Crash kernel (low)" in html and "Crash kernel (main)" in html
    assert list(tmp_path.iterdir()) == [tmp_path / "r.html"]  # no temp file left behind


def test_report_bad_input_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", "--html", str(out), "--machine", "nope", "--cmdline", "x"])
    assert r.exit_code == 2 and not out.exists() and list(tmp_path.iterdir()) == []


def _chromium() -> str | None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and os.environ.get("KDUMPLAB_REQUIRE_TOOLS") == "1":
        pytest.fail("chromium is required (KDUMPLAB_REQUIRE_TOOLS=1)")
    return exe


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    page = _report(tmp_path)
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}"]
    png = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={png}", "--window-size=1024,900", page.as_uri()],
                   check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1024, 900)
    assert len(data) > 20_000  # a blank page compresses to a few KiB
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL).stdout
    assert "Crash kernel (low) 128 MiB" in dom and "Crash kernel (main) 1024 MiB" in dom
