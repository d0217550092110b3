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


def _report(tmp_path: Path, args: list[str] = ARGS, status: int = 1) -> Path:
    # ARGS -> 1: 6.1 with the kexec-tools Debian ships beside it (2.0.25) loads, but its vmcore vaddrs are wrong
    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", "--html", str(out), *args])
    assert r.exit_code == status, r.output
    assert out.stat().st_mode & 0o777 == 0o644
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
    assert "Crash kernel (low) 128 MiB" in dom and "Crash kernel (main) 1 GiB" in dom


BIG = ["--machine", "qemu-virt", "--mem", "512G", "--cmdline", "crashkernel=1G", "--kernel", "6.12"]


def test_report_legend_scale_and_findings_agree(tmp_path: Path) -> None:
    from kdumplab import model, presets
    from kdumplab.render.svg import scale_for

    html = _report(tmp_path, BIG, 0).read_text()
    assert 'id="legend"' in html and "crash region (main)" in html and "4 GiB = DMA limit" in html
    assert 'class="ok here"' in html  # the report's own cell: 6.12 with 2.0.29, kdump works
    assert "OK: a crash region is reserved and a crash kernel is loaded" in html  # agrees with its cell
    res = model.run(model.Scenario(presets.qemu_virt(512 << 30), "crashkernel=1G", "6.12"))
    scale = scale_for(res)
    assert scale.width(0x4000_0000, 1 << 32) >= 0.3 * 920  # the low 3 GiB keep a third of the map
    ticks = html.count('class="tick-label"')
    assert 4 <= ticks <= 16


def test_report_findings_agree_with_the_matrix(tmp_path: Path) -> None:
    html = _report(tmp_path, ["--cmdline", "crashkernel=1G,high", "--kernel", "6.1"], 3).read_text()
    findings = html.split('id="findings"')[1].split("</ul>")[0]
    kdump = html.split('id="kdump"')[1].split("</ul>")[0]
    assert "</b> OK:" not in findings and "VMCORE_SIZE_WRAPS" in findings and "wrapped kernel-text header" in kdump
    assert 'class="broken here"' in html


def _screenshot(exe: str, page: Path, tmp_path: Path, png: Path) -> None:
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}"]
    subprocess.run([*flags, f"--screenshot={png}", "--window-size=1024,900", page.as_uri()],
                   check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def test_report_low_window_visible_in_chromium(tmp_path: Path) -> None:
    """On a 512 GiB machine the low window is drawn at least 100 px wide (measured in the rendered DOM)."""
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    page = _report(tmp_path, BIG, 0)
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL).stdout
    import re

    width = float(re.search(r'class="low-window"[^>]*width="([0-9.]+)"', dom).group(1))
    assert width >= 100 and 'id="legend"' in dom and "4 GiB = DMA limit" in dom
    if os.environ.get("KDUMPLAB_SCREENSHOT"):  # for a person to look at
        _screenshot(exe, page, tmp_path, Path(os.environ["KDUMPLAB_SCREENSHOT"]))
