"""``kdumplab lab calibrate``: boot any arm64 Image in the lab with ``memblock=debug`` and write its profile.

Two bounded boots, one QEMU at a time, on qemu-virt with 8 GiB and ``crashkernel=512M``: one node, then two
nodes of 4 GiB (what each further node adds). ``earlycon`` prints the early lines before the log buffer
can drop them. The Image is booted in place of the lab kernel of the policy it follows (same QEMU machine
options, e.g. ``dtb-randomness=off`` for the lab's own builds), on ``-cpu neoverse-n1`` when its header says
16K or 64K pages. The facts are read by :mod:`kdumplab.calibrate`; the profile is written as TOML.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

from kdumplab import calibrate, profiles
from kdumplab.errors import KdumplabError
from kdumplab.inputfile import read_bytes, read_text
from kdumplab.ranges import SZ_1G

__all__ = ["CALIBRATION_CMDLINE", "calibrate_image"]

CALIBRATION_CMDLINE = "console=ttyAMA0 panic=-1 earlycon=pl011,0x9000000 memblock=debug crashkernel=512M"
_MEM = 8 * SZ_1G
_IMAGE_LIMIT = 512 << 20


def _lab_version(release: str, policy: str) -> str:
    """The version the lab's observer reads the generation from: the lab builds' "<source>+<variant>"."""
    from kdumplab.lab.build import VARIANTS  # noqa: PLC0415

    if policy in VARIANTS:
        return f"5.10.223-1+{policy}"
    return release if release.startswith(policy.split("-")[0] + ".") else f"{policy.split('-')[0]}.0"


def calibrate_image(image: Path, policy: str, name: str, *, system_map: Path | None = None, timeout: float = 300.0,
                    keep: Path | None = None, log: Callable[[str], None] = print) -> tuple[profiles.KernelProfile, str]:
    """Boot ``image`` twice and return its profile and the profile file's text."""
    from kdumplab.lab.qemu import BootSpec, boot, default_initrd  # noqa: PLC0415
    from kdumplab.lab.setup import load_lab  # noqa: PLC0415
    from kdumplab.policy import reservation_rows  # noqa: PLC0415

    if policy not in reservation_rows("arm64"):
        raise KdumplabError("--policy", f"unknown reservation policy {policy!r}",
                            f"known: {', '.join(reservation_rows('arm64'))}")
    if profiles.get(name) is not None:
        raise KdumplabError("--name", f"{name!r} is already a kernel", "give the calibrated kernel a name of its own")
    data = read_bytes(image, _IMAGE_LIMIT, str(image))
    header = calibrate.read_image_header(data, str(image))
    smap = calibrate.system_map_offsets(read_text(system_map, where=str(system_map))) if system_map else None
    lab = load_lab("arm64")
    version = _lab_version(header.release, policy)
    entry = {"package": image.name, "version": version, "vmlinuz": str(image.resolve()),
             "image_sha256": hashlib.sha256(data).hexdigest()}
    lab = dataclasses.replace(lab, kernels={**lab.kernels, policy: entry})
    cpu = "neoverse-n1" if header.page_size != 4096 else ""
    initrd = default_initrd(lab)
    boots = []
    for numa in ((), ("4G", "4G")):
        spec = BootSpec(policy, "8G", CALIBRATION_CMDLINE, numa, cpu=cpu)
        log(f"calibrate: booting {image.name} ({header.release or 'no banner'}, {header.page_size >> 10}K pages) "
            f"-m 8G{' numa 4G,4G' if numa else ''}")
        result = boot(spec, lab=lab, initrd=initrd, timeout=timeout)
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{name}-8G{'n' if numa else ''}-512M.log").write_text(result.serial)
        if result.observation is None:
            raise KdumplabError("lab calibrate", f"the lab lost the boot: {result.lost}",
                                "give --keep-logs DIR to see its serial log")
        log(f"calibrate: {result.observation.provenance.wall_s} s")
        boots.append(calibrate.DebugBoot(result.serial, _MEM, 2 if numa else 1, initrd.size,
                                         f"{image.name} boot {'2 nodes' if numa else '1 node'}"))
    prof = calibrate.make_profile(name, policy, header, boots[0], boots[1], system_map=smap,
                                  package=f"{image.name} sha256 {entry['image_sha256'][:16]}")
    text = profiles.profile_to_toml(prof, (
        f"kernel profile of {image.name} (sha256 {entry['image_sha256']})",
        f"{header.banner[:150]}",
        f"written by kdumplab lab calibrate --policy {policy}: 2 memblock=debug boots on qemu-virt 8G (1 and 2 "
        "nodes), crashkernel=512M",
        "use it as: kdumplab plan --kernel THIS_FILE ...",
    ))
    return prof, text
