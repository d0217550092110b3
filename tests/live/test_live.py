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


def test_real_kdump_cycle_agrees_with_the_model() -> None:
    # One full cycle: 6.12 with crashkernel=1G,high (a high region and the default 128 MiB low one) and
    # kexec-tools 2.0.25, as recorded in tests/data/cycles/6.12-kt2.0.25-high-1G.
    if shutil.which("qemu-system-aarch64") is None:
        _skip_or_fail("qemu-system-aarch64 is not installed (run `kdumplab lab setup`)")
    if not (cache_dir() / "manifest.json").is_file():
        _skip_or_fail(f"no lab cache at {cache_dir()} (run `kdumplab lab setup`)")
    from kdumplab.lab.cycle import CycleSpec, run_cycle
    from kdumplab.lab.qemu import BootSpec
    from kdumplab.tools.verify_cycle import real_usable_ranges, verify_cycle

    r = run_cycle(CycleSpec(BootSpec("6.12", "8G", "crashkernel=1G,high"), "2.0.25"), timeout=300)
    assert r.cycle is not None, r.lost
    assert r.cycle.kexec.loaded and r.cycle.capture is not None
    assert real_usable_ranges(r.cycle) == ((0x1F6E00000, 0x236DFFFFF), (0xF4000000, 0xFBFFFFFF))
    bad = [c for c in verify_cycle(r.cycle) if not c.ok]
    assert not bad, bad


def test_calibrate_debian_image_regenerates_its_profile(tmp_path) -> None:  # noqa: ANN001
    """`lab calibrate` on Debian's 6.12 vmlinuz from the lab cache (two memblock=debug boots): the profile it
    writes has the built-in 6.12 profile's image facts, early allocations and crash kernel static size."""
    if shutil.which("qemu-system-aarch64") is None:
        _skip_or_fail("qemu-system-aarch64 is not installed (run `kdumplab lab setup`)")
    if not (cache_dir() / "manifest.json").is_file():
        _skip_or_fail(f"no lab cache at {cache_dir()} (run `kdumplab lab setup`)")
    import dataclasses  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from kdumplab import profiles  # noqa: PLC0415
    from kdumplab.lab.setup import load_lab  # noqa: PLC0415

    image = Path(load_lab("arm64").kernels["6.12"]["vmlinuz"])
    out = tmp_path / "live-6.12.toml"
    r = CliRunner().invoke(main, ["lab", "calibrate", "--image", str(image), "--name", "live-6.12", "--out", str(out)])
    assert r.exit_code == 0, r.output
    prof = profiles.profile_from_toml(out.read_text(), str(out))
    ref = profiles.get("6.12")
    assert (prof.policy, prof.page_size) == ("6.12", 4096)
    # the vmemmap's page-table pages are 1-3 by where KASLR puts the linear map (test_early's tolerance)
    assert 1 <= prof.early.vmemmap_pt_pages <= 3
    assert prof.image == ref.image and prof.late == ref.late
    assert dataclasses.replace(prof.early, vmemmap_pt_pages=ref.early.vmemmap_pt_pages) == ref.early
    assert prof.crash == dataclasses.replace(ref.crash, generation=prof.crash.generation)
