"""plan on x86: --kernel-at pins the kernel (kaslr null), nokaslr is fixed (kaslr null), otherwise the JSON
carries the distribution over the decompressor's slots and the top level stays the nokaslr placement."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kdumplab.cli import main


def _plan(*args: str) -> dict:
    r = CliRunner().invoke(main, ["plan", "--machine", "qemu-q35", "--kernel", "6.1", "--json", *args])
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.output)


def test_fixed_placements_have_no_distribution() -> None:
    assert _plan("--mem", "1G", "--cmdline", "nokaslr crashkernel=256M")["kaslr"] is None
    pinned = _plan("--mem", "1G", "--kernel-at", "0x20000000", "--cmdline", "crashkernel=256M")
    assert pinned["kaslr"] is None
    assert "20000000-20e01d31 : Kernel code" in pinned["iomem"]


def test_random_placement_reports_shares_and_worst() -> None:
    # 1 GiB, all below 4 GiB: crashkernel=640M fits only when the kernel leaves 640 MiB of 16 MiB blocks free
    doc = _plan("--mem", "1G", "--cmdline", "crashkernel=640M")
    k = doc["kaslr"]
    assert k["random"] and k["slots"] > 100
    assert abs(sum(o["share"] for o in k["outcomes"]) - 1) < 1e-9
    assert 0 < k["reserved_share"] < 1 and k["worst"]["verdict"] == "failed"
    assert doc["verdict"] == "reserved"  # the nokaslr placement (kernel at 16 MiB)
