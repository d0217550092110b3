"""kdumplab.kaslr: the x86 decompressor's slot choice (arch/x86/boot/compressed/kaslr.c), by hand derivation."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab import kaslr, model
from kdumplab.kaslr import KaslrLayout, SlotArea, chi_squared, slot_areas, slots
from kdumplab.presets.q35 import qemu_q35

M2 = 2 << 20


def test_q35_6g_slots_by_hand() -> None:
    # 6.1 on 6 GiB: RAM [1M, 0x7ffdf000) and [4G, 8G); avoid [16M, 16M + init_size 0x3f98000) and the initrd
    # [0x7fed4000, +1028151); needed_size 0x4000000 (64 MiB). Low piece: from align_up(0x4f98000, 2M) =
    # 0x5000000 up to the initrd: 1 + (0x7fed4000 - 0x5000000 - 0x4000000) // 2M = 952 slots. High: the whole
    # 4 GiB: 1 + (4G - 64M) // 2M = 2017. The piece after the initrd (to 0x7ffdf000) is too small.
    layout = kaslr.layout_for(qemu_q35(6 << 30, None, 1028151, "6.1"))
    assert layout.minimum == 16 << 20
    assert slot_areas(layout) == (SlotArea(0x5000000, 952), SlotArea(1 << 32, 2017))


def test_store_the_part_before_an_avoided_range() -> None:
    # [0, 64M) with [40M, 42M) avoided and a 8 MiB image from 16M: [16M, 40M) holds 1 + (24-8)/2 = 9 slots,
    # [42M, 64M) 1 + (22-8)/2 = 8
    layout = KaslrLayout(((0, 64 << 20),), ((40 << 20, 42 << 20),), 16 << 20, 8 << 20)
    assert slot_areas(layout) == (SlotArea(16 << 20, 9), SlotArea(42 << 20, 8))


def test_numa_cuts_regions_at_srat_ranges() -> None:
    one = kaslr.layout_for(qemu_q35(16 << 30, None, 1028151, "6.1"))
    two = kaslr.layout_for(qemu_q35(16 << 30, (8 << 30, 8 << 30), 1028151, "6.1"))
    assert len(slots(two)) == len(slots(one)) - 31  # a 64 MiB image cannot straddle 10 GiB: 31 slots fewer


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=64), st.integers(min_value=0, max_value=200))
def test_every_slot_is_aligned_fits_and_avoids(image_mib: int, hole_mib: int) -> None:
    image = image_mib << 20
    layout = KaslrLayout(((1 << 20, 512 << 20), (1 << 32, (1 << 32) + (256 << 20))),
                         ((16 << 20, 80 << 20), (hole_mib << 20, (hole_mib + 3) << 20)), 16 << 20, image)
    for s in slots(layout):
        assert s % M2 == 0 and s >= layout.minimum
        assert any(lo <= s and s + image <= hi for lo, hi in layout.ram)
        assert not any(a < s + image and s < b for a, b in layout.avoid)


def test_chi_squared_p_values() -> None:
    # chi2 with 1 dof at 3.841 is p = 0.05; a perfect fit is p = 1
    assert chi_squared([30, 70], [30.0, 70.0])[2] == 1.0
    stat, dof, p = chi_squared([60, 40], [50.0, 50.0])
    assert (stat, dof) == (4.0, 1) and math.isclose(p, 0.0455, abs_tol=1e-4)


def test_nokaslr_and_pinned_are_not_random() -> None:
    m = qemu_q35(6 << 30)
    assert kaslr.placement_is_random(m, "crashkernel=3G")
    assert not kaslr.placement_is_random(m, "nokaslr crashkernel=3G")


def test_distribution_of_the_issue_layout() -> None:
    # crashkernel=3G on 6 GiB (6.1): fails whenever the kernel leaves no 3 GiB above 4 GiB
    d = kaslr.distribution(model.Scenario(qemu_q35(6 << 30, None, 1028151, "6.1"), "crashkernel=3G", "6.1"))
    assert d.total_slots == 952 + 2017
    failed = [o for o in d.outcomes if o.verdict == "failed"]
    assert len(failed) == 1 and d.worst is failed[0]
    assert math.isclose(d.reserved_share + failed[0].share, 1.0)
    assert 0.2 < failed[0].share < 0.5


def _one_gib(cmdline: str) -> model.Scenario:
    return model.Scenario(qemu_q35(1 << 30, None, 1028151, "6.1"), cmdline, "6.1")


def test_runs_partition_the_slots_by_verdict() -> None:
    # 1 GiB, all below 4 GiB: crashkernel=640M fails when the kernel sits in the middle (derivation as in
    # tests/tools/test_plan_kaslr.py); runs cover every slot once, in address order, adjacent runs differ
    d = kaslr.distribution(_one_gib("crashkernel=640M"))
    runs = d.runs()
    assert sum((e - s) // M2 for s, e, _ in runs) == d.total_slots
    assert [s for s, _, _ in runs] == sorted(s for s, _, _ in runs)
    assert all(a[2] != b[2] for a, b in zip(runs, runs[1:], strict=False) if a[1] == b[0])
    assert {v for _, _, v in runs} == {"reserved", "failed"}
    failed = sum(o.slots for o in d.outcomes if o.verdict == "failed")
    assert kaslr.share_text(d, " here") == (f"fails on {failed / d.total_slots:.1%} of boots here ({failed} of the "
                                           f"{d.total_slots} places the kernel can land)")
    assert math.isclose(d.failed_share, failed / d.total_slots)


def test_reserves_everywhere_agrees_with_the_distribution() -> None:
    for cmd in ("crashkernel=640M", "crashkernel=256M"):
        d = kaslr.distribution(_one_gib(cmd))
        assert kaslr.reserves_everywhere(_one_gib(cmd)) is (d.failed_share == 0), cmd
    assert kaslr.share_text(kaslr.distribution(_one_gib("crashkernel=256M"))).startswith("reserved on every boot")


def test_binomial_two_sided_by_hand() -> None:
    # Binomial(4, 1/2): P(0) = P(4) = 1/16, P(1) = P(3) = 4/16, P(2) = 6/16; k = 0 -> 2/16, k = 1 -> 10/16
    assert math.isclose(kaslr.binomial_two_sided(0, 4, 0.5), 2 / 16)
    assert math.isclose(kaslr.binomial_two_sided(1, 4, 0.5), 10 / 16)
    assert kaslr.binomial_two_sided(2, 4, 0.5) == 1.0
