"""Kernel families from release strings and from the log's wording (src/kdumplab/family.py cites each
boundary's commit)."""

from __future__ import annotations

import pytest

from kdumplab import family
from kdumplab.family import Trait, Wording


@pytest.mark.parametrize(("release", "arch", "name"), [
    ("4.19.90-microsoft-standard", "arm64", "arm64-low-4g"),
    ("5.4.0-42-generic", "arm64", "arm64-low-4g"),
    ("5.6.0-rc4+", "arm64", "arm64-dma-1g"),                  # 1a8e1cef7603 (v5.5)
    ("5.10.17-v8+", "arm64", "arm64-dma-1g"),                 # before stable 5.10.22
    ("5.10.63-v8+", "arm64", "arm64-dma-fw"),                 # stable 5.10.22 took the v5.11 change
    ("5.10.0-32-arm64", "arm64", "arm64-dma-fw"),             # Debian ABI 32 >= 5 (5.10.24-1)
    ("5.10.0-4-arm64", "arm64", "arm64-dma-1g"),              # Debian ABI 4: 5.10.19-1
    ("5.15.0-1034-raspi", "arm64", "arm64-dma-fw"),
    ("6.1.0-56-arm64", "arm64", "arm64-high-low"),            # 944a45abfabc (v5.19)
    ("6.6.20+rpt-rpi-v8", "arm64", "arm64-default-low"),
    ("6.8.0-45-generic", "arm64", "arm64-generic"),
    ("6.12.48+deb13-arm64", "arm64", "arm64-dma-limit"),
    ("5.10.0-32-amd64", "x86_64", "x86-legacy"),
    ("6.18.44-fc-v857", "x86_64", "x86-generic"),
])
def test_release_decides(release: str, arch: str, name: str) -> None:
    g = family.from_release(release, arch)
    assert g.name == name and not g.alternatives


def test_debian_linux_version_gives_the_real_patch_level() -> None:
    assert family.from_release("5.10.0-8-arm64", "arm64", "5.10.46").name == "arm64-dma-fw"


def test_bare_510_does_not_settle_and_says_so() -> None:
    g = family.from_release("5.10.0", "arm64")
    assert g.inferred and set(g.alternatives) == {"arm64-dma-1g", "arm64-dma-fw"}
    # the log's Zone ranges decide: a 1 GiB ZONE_DMA with a DMA32 zone above it
    w = Wording("arm64", mainline_wording=True, dma_start=0x40000000, dma_end=0x80000000, dma32_nonempty=True)
    assert family.decide("5.10.0", "arm64", w).name == "arm64-dma-1g"
    w = Wording("arm64", mainline_wording=True, dma_start=0x40000000, dma_end=0x100000000)
    assert family.decide("5.10.0", "arm64", w).name == "arm64-dma-fw"


def test_vendor_kernels_are_inferred() -> None:
    for rel in ("4.18.0-348.el8.aarch64", "5.14.0-427.13.1.el9_4.aarch64", "5.14.21-150400.24.46-default"):
        assert family.from_release(rel, "arm64").inferred


def test_x86_wording_on_arm64_is_the_2019_series() -> None:
    g = family.decide("5.9.0-rc7+", "arm64", Wording("arm64", x86_wording=True))
    assert g.name == "arm64-series-2019" and g.family.has(Trait.SERIES_2019)


def test_table_invariants() -> None:
    # one family per first release per arch, and every later arm64 mainline family keeps ,high once it has it
    seen = set()
    for f in family.FAMILIES:
        assert (f.arch, f.first) not in seen
        seen.add((f.arch, f.first))
    arm = sorted((f for f in family.FAMILIES if f.arch == "arm64" and f.first), key=lambda f: f.first)
    has = [f.has(Trait.HIGH_LOW) for f in arm]
    assert has == sorted(has)


@pytest.mark.parametrize(("zones", "extra", "expect"), [
    # mm/page_alloc.c prints every configured zone under "Zone ranges:" (empty ones as "empty")
    (frozenset({"DMA", "Normal"}), {}, ("arm64-low-4g",)),                       # 4.x: one 32-bit ZONE_DMA
    (frozenset({"DMA32", "Normal"}), {}, ("arm64-low-4g",)),                     # 5.0-5.4
    (frozenset({"DMA", "DMA32", "Normal"}), {"dma_start": 0x40000000, "dma_end": 0x100000000},
     ("arm64-dma-fw", "arm64-high-low", "arm64-default-low", "arm64-generic", "arm64-dma-limit")),
    (frozenset({"DMA", "DMA32", "Normal"}), {"dma_start": 0x40000000, "dma_end": 0x100000000, "low_region": True},
     ("arm64-high-low", "arm64-default-low", "arm64-generic", "arm64-dma-limit")),
    (frozenset({"DMA", "DMA32", "Normal"}), {"dma_start": 0x40000000, "dma_end": 0x100000000, "in_use": True},
     ("arm64-generic", "arm64-dma-limit")),
    (frozenset({"DMA", "DMA32", "Normal"}), {"dma_start": 0x40000000, "dma_end": 0x100000000, "old_checks": True},
     ("arm64-dma-fw",)),
])
def test_backwards_from_zones_and_wording(zones: frozenset[str], extra: dict, expect: tuple[str, ...]) -> None:
    g = family.from_wording(Wording("arm64", mainline_wording=True, zones=zones, **extra))
    assert (g.alternatives or (g.name,)) == expect
    assert g.inferred == (len(expect) > 1)


def test_recorded_debian_510_boot_read_backwards() -> None:
    # a real Debian 5.10.223 boot (tests/data/boots/5.10-cma-suffix) with its release string removed: the zones
    # (DMA to 4 GiB, DMA32 empty) leave 5.11+ layouts; its parse error alone does not narrow further
    from kdumplab import capture
    from kdumplab.findings import analyze
    from tests.serial_sections import sections
    from tests.test_infer import BOOTS

    log = sections((BOOTS / "5.10-cma-suffix" / "serial.log").read_text())["DMESG"]
    log = "\n".join(ln for ln in log.splitlines() if "Linux version" not in ln)
    g = analyze(capture.from_texts("t", {"kernel_log": log})).family
    assert g.inferred and g.alternatives[0] == "arm64-dma-fw"
