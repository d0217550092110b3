"""recommend: the cited tables, the range rule, and proof on the model."""

from __future__ import annotations

import pytest

from kdumplab import presets
from kdumplab.recommend import TABLES, pick, recommend

M, G = 1 << 20, 1 << 30


@pytest.mark.parametrize(("ram", "size"), [(2 * G - 1, 0), (2 * G, 256 * M), (4 * G - 1, 256 * M), (4 * G, 320 * M),
                                           (64 * G, 576 * M)])
def test_pick_start_inclusive_end_exclusive(ram: int, size: int) -> None:
    # kdump-utils spec/kdump-lib_spec.sh: lower bound inclusive, upper exclusive
    arm = next(t for t in TABLES if t.name == "kdump-utils" and t.arch == "arm64")
    assert pick(arm.ranges, ram) == size


def test_every_table_is_cited() -> None:
    assert all(t.source and ("kdump-utils" in t.source or "kdump-tools" in t.source) for t in TABLES)
    assert all("file id" in t.source for t in TABLES)


def test_rpi4_recommendation_runs_on_the_model() -> None:
    rec = recommend(presets.machine("rpi4-8g"), "6.1")
    byname = {c.name: c for c in rec.candidates}
    # 8052 MiB RAM -> kdump-utils aarch64 4G-64G:320M; Ubuntu 4G-32G:512M
    assert byname["kdump-utils"].size == 320 * M and byname["ubuntu"].size == 512 * M
    assert byname["kdump-utils"].verdict == "reserved"


def test_64k_smmu_mlx5_deltas() -> None:
    rec = recommend(presets.machine("rpi4-8g"), "6.1", page_size=65536, smmu=True, nic_drivers=("mlx5_core",))
    # 320 + 100 (64K) + 384 (SMMU queues on 64K) + 200 (mlx5 on 64K), kdump-lib.sh
    assert next(c for c in rec.candidates if c.name.startswith("kdump-utils")).size == (320 + 100 + 384 + 200) * M


def test_altra_needs_the_split_on_61() -> None:
    # 6.1: plain crashkernel= does not fall back high; the Altra's low 4 GiB cannot hold 576M
    rec = recommend(presets.machine("ampere-altra-2p"), "6.1")
    plain = next(c for c in rec.candidates if c.name == "kdump-utils")
    split = next(c for c in rec.candidates if c.name == "kdump-utils (high/low split)")
    assert plain.verdict == "failed" and split.verdict == "reserved"
    assert split.cmdline == "crashkernel=576M,high crashkernel=128M,low"


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.lists(st.integers(1, 64), min_size=1, max_size=6, unique=True), st.integers(0, 80 << 30))
def test_pick_matches_brute_force(bounds: list[int], ram: int) -> None:
    # ranges built from sorted GiB bounds, last one open-ended; sizes are the index (MiB) so each range is known
    b = sorted(bounds)
    parts = [f"{lo}G-{hi}G:{i + 1}M" for i, (lo, hi) in enumerate(zip(b, b[1:], strict=False))]
    parts.append(f"{b[-1]}G-:{len(b)}M")
    expect = 0
    for i, lo in enumerate(b):
        hi = b[i + 1] if i + 1 < len(b) else None
        if ram >= lo * G and (hi is None or ram < hi * G):
            expect = (i + 1) * M
    assert pick(",".join(parts), ram) == expect
