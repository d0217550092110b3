"""Live lab: `kdumplab lab setup` (idempotent) and two real boots. Marked `lab` (deselected by default).

Skips with a reason when QEMU or the cache is missing, unless KDUMPLAB_REQUIRE_LAB=1, which turns the skip
into a failure (CI sets it).
"""

from __future__ import annotations

import os
import shutil

import pytest
from click.testing import CliRunner

from kdumplab.cli import main
from kdumplab.lab.setup import cache_dir

pytestmark = pytest.mark.lab

REQUIRE = os.environ.get("KDUMPLAB_REQUIRE_LAB") == "1"


def _skip_or_fail(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"KDUMPLAB_REQUIRE_LAB=1 but {reason}")
    pytest.skip(reason)


def test_setup_is_idempotent() -> None:
    if os.geteuid() != 0 and not REQUIRE:
        pytest.skip("lab setup needs root for apt")
    runner = CliRunner()
    first = runner.invoke(main, ["lab", "setup"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, ["lab", "setup"])
    assert second.exit_code == 0, second.output
    assert [ln for ln in first.output.splitlines() if ln.startswith("kernel")] == \
        [ln for ln in second.output.splitlines() if ln.startswith("kernel")]


@pytest.mark.parametrize("kernel", ["6.1", "6.12"])
def test_real_boot_512M(kernel: str) -> None:
    if shutil.which("qemu-system-aarch64") is None:
        _skip_or_fail("qemu-system-aarch64 is not installed (run `kdumplab lab setup`)")
    if not (cache_dir() / "manifest.json").is_file():
        _skip_or_fail(f"no lab cache at {cache_dir()} (run `kdumplab lab setup`)")
    from kdumplab.lab.qemu import BootSpec, boot

    r = boot(BootSpec(kernel, "8G", "crashkernel=512M"), timeout=180)
    assert r.observation is not None, r.lost
    # Same as the recordings tests/data/boots/{6.1,6.12}-fit-low-512M.
    assert [(x.start, x.end) for x in r.observation.crash_regions] == [(0xDC000000, 0xFC000000)]
    assert r.observation.crash_log == ("crashkernel reserved: 0x00000000dc000000 - 0x00000000fc000000 (512 MB)",)
