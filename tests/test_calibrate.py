"""``lab calibrate``'s reading of an Image and its memblock=debug boots, on the recorded boots.

Ground truth: the ``memblock=debug`` serial logs of tests/data/memblock (real boots of every built-in arm64
kernel) and the recorded boots of tests/data/boots. The Images themselves are not in git: what the test
needs of their headers (text_offset, image_size, page size, the PE .text start) is the built-in profile's,
and for the boots whose log does not print /proc/iomem (6.12-16k, the lab kernels) the section offsets are
the profile's too (standing in for their System.map).
"""

from __future__ import annotations

import dataclasses
import gzip
import struct
from pathlib import Path

import pytest

from kdumplab import calibrate, profiles
from kdumplab.errors import KdumplabError
from kdumplab.lab.observe import Observation
from kdumplab.tools.verify import verify_observation
from tests.ground_truth.test_boots import KNOWN as KNOWN_BOOTS

DATA = Path(__file__).parent / "data"
MEMBLOCK = DATA / "memblock"
#: kernel -> (1-node log, 2-node log, initrd size of those boots (tests/data/memblock/README.md), System.map?)
CALIBRATED = {
    "5.10": ("5.10-8G-512M", "5.10-8Gn-512M", 987889, False),
    "6.1": ("6.1-8G-512M", "6.1-8Gn-512M", 987889, False),
    "6.12": ("6.12-8G-512M", "6.12-8Gn-512M", 987889, False),
    "7.2": ("7.2-8G-512M", "7.2-8Gn-512M", 987889, False),
    "6.12-16k": ("6.12-16k-8G-512M", "6.12-16k-8Gn-1Gh", 987623, True),
    "5.10-control": ("5.10-control-8G-512M", "5.10-control-8Gn-512M", 987623, True),
}
_MAP_KEYS = ("stext", "init_begin", "sdata", "end", "init_pg_dir", "init_pg_end")


def _calibrated(kernel: str) -> profiles.KernelProfile:
    one, two, initrd, use_map = CALIBRATED[kernel]
    ref = profiles.get(kernel)
    assert ref is not None
    header = calibrate.ImageHeader(ref.image.text_offset, ref.image.image_size, ref.page_size, "", "",
                                   ref.image.stext)
    boots = [calibrate.DebugBoot.from_file(str(MEMBLOCK / f"{name}.log.gz"), 8 << 30, nodes, initrd)
             for name, nodes in ((one, 1), (two, 2))]
    smap = {k: getattr(ref.image, k) for k in _MAP_KEYS} if use_map else None
    return calibrate.make_profile(f"cal-{kernel}", ref.policy, header, boots[0], boots[1], system_map=smap)


@pytest.fixture(scope="module")
def calibrated() -> dict[str, profiles.KernelProfile]:
    return {k: _calibrated(k) for k in CALIBRATED}


#: What calibration reads differently from the built-in profile, and why (the boots win where they show it).
EXPLAINED = {
    # 7.2 allocates the memmap after the reservation (after the kernel's memblock dump and the log's early
    # part): the sparse numbers are not in the calibration boots and are 7.2's own, taken as reference
    "7.2": {},
}


@pytest.mark.parametrize("kernel", CALIBRATED)
def test_calibration_regenerates_the_builtin_profile(kernel: str, calibrated: dict) -> None:
    """Early allocations, image facts and the crash kernel's static size come out equal to the built-in
    profile from two of its memblock=debug boots (8 GiB, one and two nodes)."""
    ref, got = profiles.get(kernel), calibrated[kernel]
    assert got.early == ref.early
    assert got.image == ref.image
    assert got.crash == dataclasses.replace(ref.crash, generation=got.crash.generation)
    assert got.page_size == ref.page_size and got.policy == ref.policy
    assert ("not shown by the boots" in got.citations.get("early", "")) == (kernel == "7.2")


@pytest.mark.parametrize("kernel", CALIBRATED)
def test_calibrated_profile_predicts_boots_it_was_not_calibrated_on(kernel: str, calibrated: dict) -> None:
    """The recorded boots of the same kernel (tests/data/boots; none of them a calibration boot): every
    field verify checks agrees with the calibrated profile, as with the built-in one."""
    prof = calibrated[kernel]
    cases = sorted(p for p in (DATA / "boots").glob(f"{kernel}-*/case.json")
                   if kernel != "5.10" or not p.parent.name.startswith("5.10-control")
                   if kernel != "6.12" or not p.parent.name.startswith("6.12-16k"))
    assert len(cases) >= 14
    with profiles.registered(prof):
        for path in cases:
            if path.parent.name in KNOWN_BOOTS:  # a strict xfail of test_boots with the built-in profile too
                continue
            obs = Observation.from_json(path.read_text())
            checks = verify_observation(dataclasses.replace(obs, generation=prof.name))
            assert all(c.ok for c in checks), (path.parent.name, [c.field for c in checks if not c.ok])


def _image(flags: int = 0xA, image_size: int = 0x2010000, pe_text: int | None = None) -> bytes:
    head = bytearray(0x200)
    head[8:16] = (0).to_bytes(8, "little")
    head[16:24] = image_size.to_bytes(8, "little")
    head[24:32] = flags.to_bytes(8, "little")
    head[56:60] = b"ARM\x64"
    if pe_text is not None:
        head[0:2] = b"MZ"
        head[0x3C:0x40] = (0x40).to_bytes(4, "little")
        head[0x40:0x44] = b"PE\0\0"
        head[0x46:0x48] = (1).to_bytes(2, "little")  # one section
        head[0x54:0x56] = (0).to_bytes(2, "little")  # no optional header: the table follows at 0x58
        head[0x58:0x60] = b".text\0\0\0"
        head[0x58 + 12:0x58 + 16] = struct.pack("<I", pe_text)
    return bytes(head) + b"Linux version 6.1.0-57-arm64 (debian-kernel@lists.debian.org) #1 SMP\n"


def test_image_header() -> None:
    h = calibrate.read_image_header(_image(pe_text=0x10000), "Image")
    assert (h.text_offset, h.image_size, h.page_size, h.stext, h.release) == (0, 0x2010000, 4096, 0x10000,
                                                                            "6.1.0-57-arm64")
    assert calibrate.read_image_header(_image(flags=0xC), "Image").page_size == 16384  # Debian's -16k flags
    assert calibrate.read_image_header(gzip.compress(_image()), "vmlinuz").stext is None


@pytest.mark.parametrize(("data", "what"), [
    (b"\0" * 100, "not an arm64 kernel Image"),
    (_image(image_size=0), "no image_size"),
    (_image(flags=0x0), "do not give a page size"),
    (b"\x1f\x8b\x08\0garbage", "damaged gzip"),
])
def test_bad_image_is_one_clear_error(data: bytes, what: str) -> None:
    with pytest.raises(KdumplabError, match=what) as err:
        calibrate.read_image_header(data, "x/Image")
    assert err.value.where == "x/Image"


def test_calibrated_profile_file_round_trips(calibrated: dict, tmp_path: Path) -> None:
    """What calibrate writes is read back equal and runs as --kernel FILE."""
    from kdumplab import policy  # noqa: PLC0415

    prof = calibrated["6.1"]
    path = tmp_path / "cal.toml"
    path.write_text(profiles.profile_to_toml(prof, ("calibrated",)))
    back = profiles.profile_from_toml(path.read_text(), str(path))
    assert back == prof
    with profiles.registered(dataclasses.replace(back, name="cal-6.1-file")):
        assert policy.for_kernel("cal-6.1-file").early == profiles.get("6.1").early


@pytest.mark.parametrize(("args", "what"), [
    ([], "not an arm64 kernel Image"),
    (["--policy", "6.3"], "unknown reservation policy '6.3'"),
    (["--name", "6.1"], "'6.1' is already a kernel"),
])
def test_calibrate_refuses_bad_input_before_booting(tmp_path: Path, args: list[str], what: str) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from kdumplab.cli import main  # noqa: PLC0415

    image = tmp_path / "Image"
    image.write_bytes(_image(pe_text=0x10000) if args else b"not a kernel\n")
    out = CliRunner().invoke(main, ["lab", "calibrate", "--image", str(image), *args])
    assert out.exit_code == 2, out.output
    assert what in out.output and "Traceback" not in out.output
