"""Invariants of the policy table (style: each remark about the table is a test over every row)."""

from __future__ import annotations

import pytest

from kdumplab.errors import KdumplabError
from kdumplab.policy import EarlyStep, Feature, all_policies, for_kernel

ROWS = all_policies()


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.arch}-{r.name}")
def test_row_invariants(row):
    assert row.crash_align & (row.crash_align - 1) == 0
    assert row.cma_align & (row.cma_align - 1) == 0
    assert row.high_max in (1 << 48, 1 << 52, 64 << 40)
    assert row.early_steps.count(EarlyStep.CRASHKERNEL) == 1
    assert not (row.has(Feature.FIXED_BASE_CHECKS) and row.has(Feature.FIXED_BASE_IN_USE_MESSAGE))
    assert not (row.has(Feature.RESERVE_EARLY) and row.has(Feature.DEFER_ONLY_WITH_DMA_ZONES))
    if row.has(Feature.LOW_REGION_NOMAP):
        assert row.low_name != row.main_name, "a NOMAP low region must not look like the main one to kexec-tools"
    assert row.early is not None, "every row is calibrated (arm64: data/memblock, x86: data/boots-x86/cal-*)"
    assert (EarlyStep.X86_SETUP in row.early_steps) == (row.arch == "x86_64")
    for key in row.citations:
        assert key in Feature.__members__ or hasattr(row, key), key


@pytest.mark.parametrize("text,name", [("6.1", "6.1"), ("6.1.0-27-arm64", "6.1"), ("6.12.117+deb13-arm64", "6.12"),
                                       ("7.x", "7.2"), ("5.10.223", "5.10"), ("review", "proposal-2019-review")])
def test_for_kernel(text, name):
    assert for_kernel(text).name == name


@pytest.mark.parametrize("text", ["6.5", "banana", "", "4.19"])
def test_unknown_generation_is_refused(text):
    with pytest.raises(KdumplabError):
        for_kernel(text)


def test_generations_differ_as_the_sources_say():
    """One assertion per generation step, from the Debian sources read (kernel-spec.md B.3-B.5)."""
    v510, v61, v612, v72 = (for_kernel(g) for g in ("5.10", "6.1", "6.12", "7.2"))
    assert v510.has(Feature.FIXED_BASE_CHECKS) and not v61.has(Feature.FIXED_BASE_CHECKS)
    assert v61.has(Feature.HIGH_SEARCH_FROM_ZERO) and not v612.has(Feature.HIGH_SEARCH_FROM_ZERO)
    assert v61.default_low_size is None and v612.default_low_size == 128 << 20
    assert v61.has(Feature.PROTECT_CRASHKRES) and not v612.has(Feature.PROTECT_CRASHKRES)
    assert v612.early_steps.index(EarlyStep.SPARSE) < v612.early_steps.index(EarlyStep.CRASHKERNEL)
    assert v72.early_steps.index(EarlyStep.SPARSE) > v72.early_steps.index(EarlyStep.CRASHKERNEL)
