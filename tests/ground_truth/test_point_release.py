"""Full kdump cycles of a Debian point release the built-in profiles do not describe (tests/data/cycles-point-release).

Debian trixie's linux-image-6.12.107+deb13-arm64-unsigned 6.12.107-1 has an Image 64 KiB smaller than the
6.12.117-1 build the built-in ``6.12`` profile describes (Image header image_size 0x24f0000 against 0x2500000).
kexec-tools writes the kernel's PT_LOAD from /proc/iomem's Kernel code start to Kernel data end
(crashdump-arm64.c), and /proc/vmcore counts it page by page, so a cycle of 6.12.107 judged as 6.12.117 comes
out with /proc/vmcore 64 KiB smaller than the model says: the "64 KiB short on every 6.12 DT cycle" of issue 11
item 6. Each recording carries the profile ``kdumplab lab calibrate --image vmlinuz-6.12.107+deb13-arm64
--policy 6.12 --name 6.12.107`` wrote from two memblock=debug boots of that Image (``profile.toml``), and with it
every field agrees (``kdumplab verify --recorded`` judges such a recording with its own profile).

Recorded by booting the 6.12.107 vmlinuz in place of the lab's 6.12 (as lab calibrate does) with
``lab.cycle.run_cycle``; the package name and version are in each cycle.json's provenance.
"""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from kdumplab import model, profiles
from kdumplab.lab.cycle import load_cycle
from kdumplab.tools.verify_cycle import compare_cycle, cycle_scenario

DATA = Path(__file__).parent.parent / "data" / "cycles-point-release"
CASES = sorted(p for p in DATA.glob("*") if (p / "cycle.json").is_file())


SHIPPED = Path(profiles.__file__).parent / "calibrated" / "6.12.107.toml"


def _release(case: Path) -> str:
    package = load_cycle(case).first.provenance.kernel_package.split()[0]
    return re.sub(r"^linux-image-|-unsigned$", "", package)


def _profile(case: Path) -> profiles.KernelProfile:
    path = case / "profile.toml"
    if path.is_file():
        return profiles.profile_from_toml(path.read_text(), str(path))
    prof = profiles.calibrated(_release(case))
    assert prof is not None, f"no calibrated profile ships for {_release(case)}"
    return prof


def test_the_recordings_are_there() -> None:
    assert len(CASES) >= 3
    beside = [p / "profile.toml" for p in CASES if (p / "profile.toml").is_file()]
    assert beside and all(b.read_bytes() == SHIPPED.read_bytes() for b in beside)
    # the bookworm-backports build of the same 6.12.117 (gcc-12, an uncompressed EFI Image): 6.2 MiB larger
    assert profiles.calibrated("6.12.117+deb12-arm64").image.image_size == 0x2b3_0000


def test_the_release_string_finds_the_calibrated_build() -> None:
    # `--kernel 6.12.107+deb13-arm64` (uname -r of that build) is modelled with its own Image; 6.12.117, or a
    # release kdumplab has not calibrated, keeps the generation's built-in profile
    from kdumplab import policy

    prof = profiles.calibrated("6.12.107+deb13-arm64")
    assert prof is not None and prof.image.image_size == 0x24f_0000
    with profiles.registered(prof):
        assert policy.for_kernel("6.12.107+deb13-arm64").name == "6.12.107"
    assert profiles.calibrated("6.12.117+deb13-arm64") is None and profiles.calibrated("6.12.108+deb13-arm64") is None
    assert policy.for_kernel("6.12.117+deb13-arm64").name == "6.12"


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_its_own_profile_gives_every_field(case: Path) -> None:
    cyc = load_cycle(case)
    assert re.match(r"linux-image-6\.12\.1\d\d\+deb1[23]-arm64-unsigned", cyc.first.provenance.kernel_package)
    prof = _profile(case)
    own = dataclasses.replace(cyc, first=dataclasses.replace(cyc.first, generation=prof.name))
    with profiles.registered(prof):  # only inside: other tests see the built-in kernels alone
        result = model.run(cycle_scenario(own))
        assert [(c.field, c.model, c.real) for c in compare_cycle(result, own) if not c.ok] == []


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_judged_as_the_built_in_6_12_the_vmcore_is_off_by_the_image(case: Path) -> None:
    cyc = load_cycle(case)
    builtin = model.run(cycle_scenario(cyc))  # cycle.json says generation 6.12: the built-in 6.12.117 profile
    prof = _profile(case)
    # the real kernel PT_LOAD, read from /proc/vmcore's own program headers: _text .. _end of 6.12.107
    elf = ELFFile(io.BytesIO(cyc.capture.vmcore_head))
    kernel = next(p for p in elf.iter_segments() if p["p_type"] == "PT_LOAD" and p["p_vaddr"] >> 63
                  and p["p_paddr"] == 0x4020_0000)
    assert kernel["p_memsz"] == prof.image.end
    shorter = profiles.get("6.12").image.end - prof.image.end
    assert shorter == (64 << 10 if prof.name == "6.12.107" else -0x63_0000)  # 6.12.107; bookworm's 6.12.117
    assert builtin.crash_view.vmcore_size - cyc.capture.vmcore_size == shorter
