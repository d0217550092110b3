"""profiles.stand_in: a point release no profile describes is run with the generation's built-in Image, and
plan says so (the 6.12 vmcore miss of issue 11 was exactly that: 6.12.107's Image is 64 KiB smaller than the
built-in 6.12.117's, tests/data/cycles-point-release)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kdumplab import profiles
from kdumplab.cli import main


@pytest.mark.parametrize(("requested", "arch", "built"), [
    ("6.12.99+deb13-arm64", "arm64", "6.12.117+deb13-arm64"),
    ("6.1.0-28-arm64", "arm64", "6.1.0-56-arm64"),  # Debian 6.1's ABI number names the point release
    ("5.10.0-30-arm64", "arm64", "5.10.0-32-arm64"),
    ("6.12.100+deb13-amd64", "x86_64", "6.12.117+deb13-amd64"),
])
def test_an_uncalibrated_point_release_names_the_image_it_is_modelled_with(requested, arch, built):
    note = profiles.stand_in(requested, arch)
    assert note is not None and note.startswith(f"{requested} has no calibrated profile: modelled with {built}'s")
    assert ("lab calibrate" in note) == (arch == "arm64")  # no x86 bzImage calibration


@pytest.mark.parametrize("requested", [
    "6.12", "7.2", "6.12-16k",  # a generation: the built-in build is what was asked for
    "6.12.117+deb13-arm64", "6.12.117+deb13-arm64-16k", "6.1.0-56-arm64", "7.2.13+deb14-arm64",  # built-in Images
    "6.12.107+deb13-arm64", "6.12.117+deb12-arm64",  # calibrated point releases (profiles/calibrated)
])
def test_the_built_in_and_calibrated_releases_need_no_note(requested):
    assert profiles.stand_in(requested, "arm64") is None


def test_image_release_reads_the_package():
    assert profiles.image_release(profiles.get("6.12-16k")) == "6.12.117+deb13-arm64-16k"
    assert profiles.image_release(profiles.get("proposal-2019-v5")) == ""  # a lab build


@pytest.mark.parametrize(("kernel", "note"), [("6.12.99+deb13-arm64", True), ("6.12.107+deb13-arm64", False)])
def test_plan_carries_the_note_in_json_and_text(kernel, note):
    r = CliRunner().invoke(main, ["plan", "--kernel", kernel, "--mem", "4G", "--json"])
    assert r.exit_code == 0, r.output
    assert (json.loads(r.output)["kernel_stand_in"] is not None) == note
    text = CliRunner().invoke(main, ["plan", "--kernel", kernel, "--mem", "4G"], terminal_width=400).output
    assert ("note: 6.12.99+deb13-arm64 has no calibrated profile" in text) == note
