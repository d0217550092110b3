"""arm64 under EDK2 with an EFI RNG: the stub's random place (kdumplab.kaslr, arm64 part; efi.edk2_boot rng).

Expected values: the recorded ``--rng`` boots in tests/data/boots-uefi/*-rng-* (each also exact when pinned, in
ground_truth/test_boots.py and test_efi_map.py), and libstub/randomalloc.c of Debian's 6.1.192 / 6.12.117
(64 KiB slots, every one equally likely).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdumplab import kaslr, model, presets
from kdumplab.cli import main
from kdumplab.errors import KdumplabError
from kdumplab.tools.verify import kernel_code_start, kernel_text_at

RNG_BOOTS = sorted(p for p in (Path(__file__).parent / "data" / "boots-uefi").glob("*-rng-*")
                   if (p / "case.json").exists())


def _machine(case: dict, kernel_at: int | None = None):
    mem = int(case["mem"][:-1]) << 30
    return presets.qemu_virt(mem, None, case["provenance"]["initrd_size"], case["generation"], firmware="uefi",
                             cmdline=case["cmdline"], rng=True, kernel_at=kernel_at)


def test_there_are_rng_boots_of_three_generations():
    gens = {json.loads((p / "case.json").read_text())["generation"] for p in RNG_BOOTS}
    assert len(RNG_BOOTS) >= 6 and {"6.1", "6.12", "7.2"} <= gens


@pytest.mark.parametrize("case_dir", RNG_BOOTS, ids=lambda p: p.name)
def test_each_real_place_is_a_modelled_slot_with_the_outcome_of_its_segment(case_dir: Path):
    """The kernel's real _text is one of efi_random_alloc's slots, and the model at the first slot of its
    segment (what the distribution runs) reserves what the boot reserved."""
    case = json.loads((case_dir / "case.json").read_text())
    text = kernel_text_at(case["generation"], kernel_code_start(case["iomem"]))
    machine = _machine(case)
    assert kaslr.placement_is_random(machine, case["cmdline"])
    assert any(first <= text <= last and text % 0x10000 == 0 for first, last in kaslr.arm64_slot_runs(machine))
    seg = next(s for s, n in kaslr.arm64_segments(machine) if s <= text < s + n * 0x10000)
    out = model.run(model.Scenario(_machine(case, seg), case["cmdline"], case["generation"])).outcome
    assert [(r.start, r.end) for r in out.regions] == [(r["start"], r["end"]) for r in case["crash_regions"]]
    assert list(out.log) == case["crash_log"]


def test_segments_cover_every_slot_once():
    machine = presets.qemu_virt(2 << 30, None, 0xF2000, "6.12", firmware="uefi", cmdline="", rng=True)
    runs = kaslr.arm64_slot_runs(machine)
    segs = kaslr.arm64_segments(machine)
    assert sum(n for _, n in segs) == sum((last - first) // 0x10000 + 1 for first, last in runs)
    assert all(a + n * 0x10000 <= b for (a, n), (b, _) in zip(segs, segs[1:], strict=False))


def test_grouping_agrees_with_every_slot_of_a_stretch():
    """Brute force: every 64 KiB slot from 52 MiB below the no-RNG crash region (6.12, 4 GiB, 1G at
    0xbc000000) to 4 MiB inside it, where the outcome changes every 2 MiB."""
    cmdline = "crashkernel=1G"
    machine = presets.qemu_virt(4 << 30, None, 0xF2000, "6.12", firmware="uefi", cmdline=cmdline, rng=True)
    dist = kaslr.distribution(model.Scenario(machine, cmdline, "6.12"))
    assert dist.total_slots == sum(o.slots for o in dist.outcomes)
    seen = set()
    for at in range(0xB8C00000, 0xBC400000, 0x10000):
        pinned = presets.qemu_virt(4 << 30, None, 0xF2000, "6.12", firmware="uefi", cmdline=cmdline, kernel_at=at)
        o = model.run(model.Scenario(pinned, cmdline, "6.12")).outcome
        want = dist.outcome_for(at)
        assert want is not None
        assert [(r.name, r.start, r.end) for r in o.regions] == list(want.regions), hex(at)
        seen.add(want.regions)
    assert len(seen) > 3


def test_plan_gives_the_distribution_and_kernel_at_pins_it():
    args = ["plan", "--firmware", "uefi", "--rng", "--mem", "2G", "--kernel", "6.1", "--cmdline",
            "crashkernel=256M", "--json"]
    doc = json.loads(CliRunner().invoke(main, args).output)
    k = doc["kaslr"]
    assert k is not None and 0 < k["reserved_share"] <= 1 and len(k["outcomes"]) > 1
    # tests/data/boots-uefi/6.1-rng-2G-256M: Kernel code at 0x64ca0000 (_stext; _text 64 KiB below)
    r = CliRunner().invoke(main, args + ["--kernel-at", "0x64c90000"])
    doc = json.loads(r.output)
    assert doc["kaslr"] is None
    real = json.loads((Path(__file__).parent / "data/boots-uefi/6.1-rng-2G-256M/case.json").read_text())
    want = [(r["start"], r["end"] - 1) for r in real["crash_regions"]]
    assert [(x["start"], x["end"]) for x in doc["regions"]] == want


def test_without_rng_or_with_nokaslr_the_place_is_fixed():
    m = presets.qemu_virt(2 << 30, None, 0xF2000, "6.12", firmware="uefi", cmdline="")
    assert not kaslr.placement_is_random(m, "")
    m = presets.qemu_virt(2 << 30, None, 0xF2000, "6.12", firmware="uefi", cmdline="nokaslr", rng=True)
    assert not kaslr.placement_is_random(m, "nokaslr")


@pytest.mark.parametrize(("kwargs", "where"), [
    ({"kernel": "5.10", "firmware": "uefi", "rng": True}, "--rng"),  # 5.10's draw is not modelled
    ({"kernel": "6.12", "firmware": "dt", "rng": True}, "--rng"),
    ({"kernel": "6.12", "firmware": "uefi", "kernel_at": 0x48001000}, "--kernel-at"),  # not 64 KiB aligned
    ({"kernel": "6.12", "firmware": "uefi", "kernel_at": 0x13c430000}, "--kernel-at"),  # not conventional memory
])
def test_bad_places_are_refused(kwargs: dict, where: str):
    with pytest.raises(KdumplabError) as err:
        presets.qemu_virt(4 << 30, None, 0xF2000, **kwargs)
    assert err.value.where == where


def test_virtio_rng_adds_firmware_pages_only_in_its_bin():
    """With the device EDK2 holds 5 more boot-data pages (3 before the memory attributes table): the table
    sits 3 pages lower, nothing Linux keeps elsewhere moves (6.12-rng-cal-4G-512M-a vs 6.12-u-cal-4G-512M)."""
    cal = ("console=ttyAMA0 panic=-1 earlycon=pl011,0x9000000 memblock=debug efi=debug crashkernel=512M "
           "initrd=initrd")  # the calibration boots' line: 105 characters, so a fresh pool for the table
    plain = presets.qemu_virt(4 << 30, None, 0xF2000, "6.12", firmware="uefi", cmdline=cal)
    rng = presets.qemu_virt(4 << 30, None, 0xF2000, "6.12", firmware="uefi", cmdline=cal, rng=True,
                            kernel_at=0x969E0000)
    memattr = {m.reserved[i].name: m.reserved[i].start for m in (plain,) for i in range(len(m.reserved))}
    memattr_rng = {r.name: r.start for r in rng.reserved}
    assert memattr["EFI memattr"] - memattr_rng["EFI memattr"] == 0x3000
    assert dataclasses.replace(rng, reserved=plain.reserved).initrd == plain.initrd
