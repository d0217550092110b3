"""The KASLR experiment (issue 14): recorded x86 boots with physical KASLR on, against kdumplab.kaslr.

For every layout booted with KASLR (tests/data/boots-x86, no ``nokaslr``), each boot's real kernel address
("Kernel code" in its /proc/iomem) must be a slot the model enumerates, and the model's outcome for that slot
must be the boot's crash regions and crash log lines. For a layout booted often, the observed addresses are
tested against the model's uniform slot probabilities: slots in 10 runs of equal size, Pearson's chi-squared.
Facts come from serial.log by the small extractor of test_x86_boots.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from kdumplab import kaslr, model
from kdumplab.presets.q35 import qemu_q35
from tests.ground_truth.test_x86_boots import BOOTS, _facts, _size


def _groups() -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for d in BOOTS:
        case = json.loads((d / "case.json").read_text())
        if "nokaslr" in case["cmdline"].split():
            continue
        key = (case["generation"], case["mem"], tuple(case["numa"]), case["provenance"]["initrd_size"],
               case["cmdline"])
        out[key].append({"dir": d, **_facts((d / "serial.log").read_text(errors="replace"))})
    return out


GROUPS = _groups()


def _distribution(key: tuple) -> kaslr.Distribution:
    gen, mem, numa, initrd, cmdline = key
    machine = qemu_q35(_size(mem), tuple(_size(n) for n in numa) or None, initrd, gen)
    return kaslr.distribution(model.Scenario(machine, cmdline, gen))


def test_there_is_a_kaslr_experiment() -> None:
    assert max((len(v) for v in GROUPS.values()), default=0) >= 30


@pytest.mark.parametrize("key", sorted(GROUPS), ids=lambda k: f"{k[0]}-{k[1]}-{k[4].split()[-1]}")
def test_every_kaslr_boot_is_an_enumerated_slot_with_its_outcome(key: tuple) -> None:
    dist = _distribution(key)
    for boot in GROUPS[key]:
        outcome = dist.outcome_for(boot["kernel_at"])
        assert outcome is not None, f"{boot['dir'].name}: kernel at {boot['kernel_at']:#x} is not a modelled slot"
        assert list(outcome.log) == boot["log"], boot["dir"].name
    if len(GROUPS[key]) >= 30:
        seen = [b["kernel_at"] for b in GROUPS[key]]
        all_slots = tuple(a for o in dist.outcomes for a in o.kernel_at)
        observed, expected = kaslr.slot_bins(all_slots, seen, 10)
        _stat, _dof, p = kaslr.chi_squared(observed, expected)
        assert p > 0.001, f"observed {observed} vs expected {[round(e, 1) for e in expected]}: p = {p:.2g}"
        # the failing share (issue 14 item 3): the first 189 boots failed 44% against 35.5% modelled; 120 more,
        # recorded afterwards (kaslr3-*), failed 34.2% (p = 0.85): chance, not a mechanism (kdumplab.kaslr)
        failed = sum(1 for b in GROUPS[key] if "Crash kernel" not in b["iomem"])
        p = kaslr.binomial_two_sided(failed, len(GROUPS[key]), 1 - dist.reserved_share)
        assert p > 0.001, f"{failed} of {len(GROUPS[key])} failed, modelled {1 - dist.reserved_share:.1%}: p = {p:.2g}"


def test_boots_dir_exists() -> None:
    assert Path(BOOTS[0]).parent.name == "boots-x86"
