"""The KASLR experiment's numbers (issue 14): recorded KASLR boots of one layout vs kdumplab.kaslr.

    python bench/kaslr_experiment.py [tests/data/boots-x86]

Prints, per layout booted with KASLR: boots, distinct kernel addresses seen, every address enumerated or not,
the modelled vs observed share of each outcome kind (reserved / failed), and Pearson's chi-squared of the
observed addresses against the uniform slot probabilities (10 equal runs of slots). Then, over all layouts, the
failing share per recording batch (the name before the generation: ``kaslr`` and ``kaslr2`` are the first 189
boots, ``kaslr3`` the boots recorded afterwards to test their 44%) with an exact two-sided binomial p-value
against the modelled share, and the pooled position of the kernel inside the 4 GiB above 4 GiB (quarters).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kdumplab import kaslr  # noqa: E402
from tests.ground_truth.test_kaslr_boots import GROUPS, _distribution  # noqa: E402


def main() -> None:
    for key, boots in sorted(GROUPS.items()):
        dist = _distribution(key)
        seen = [b["kernel_at"] for b in boots]
        enumerated = sum(dist.outcome_for(a) is not None for a in seen)
        agree = sum((o := dist.outcome_for(b["kernel_at"])) is not None and list(o.log) == b["log"] for b in boots)
        failed_obs = sum(1 for b in boots if "Crash kernel" not in b["iomem"])
        print(f"layout: kernel {key[0]}, -m {key[1]} {key[2] or ''}, cmdline {key[4]!r}")
        print(f"  boots {len(boots)}, distinct kernel addresses {len(set(seen))}, enumerated {enumerated}, "
              f"outcome as modelled {agree}")
        print(f"  slots {dist.total_slots}; modelled reserved {dist.reserved_share:.3f} / failed "
              f"{1 - dist.reserved_share:.3f}; observed reserved {1 - failed_obs / len(boots):.3f} / failed "
              f"{failed_obs / len(boots):.3f}")
        all_slots = tuple(a for o in dist.outcomes for a in o.kernel_at)
        obs, exp = kaslr.slot_bins(all_slots, seen, 10)
        stat, dof, p = kaslr.chi_squared(obs, exp)
        print(f"  slot bins observed {obs}\n            expected {[round(e, 1) for e in exp]}")
        print(f"  chi-squared {stat:.2f} with {dof} dof, p = {p:.3f}")
        k_obs = [len(boots) - failed_obs, failed_obs]
        k_exp = [len(boots) * dist.reserved_share, len(boots) * (1 - dist.reserved_share)]
        stat, dof, p = kaslr.chi_squared(k_obs, k_exp)
        print(f"  outcome kinds: chi-squared {stat:.2f} with {dof} dof, p = {p:.3f}")


def batches() -> None:
    from collections import defaultdict  # noqa: PLC0415

    rows: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    quarters = [0, 0, 0, 0]
    quarter_exp = [0.0, 0.0, 0.0, 0.0]
    for key, boots in sorted(GROUPS.items()):
        dist = _distribution(key)
        failed = 1 - dist.reserved_share
        high = [a for o in dist.outcomes for a in o.kernel_at if a >= 1 << 32]
        span = max(high) + 1 - (1 << 32)
        for a in high:
            quarter_exp[(a - (1 << 32)) * 4 // span] += len(boots) / dist.total_slots
        for b in boots:
            rows[b["dir"].name.split("-")[0]].append(("Crash kernel" not in b["iomem"], failed))
            if b["kernel_at"] >= 1 << 32:
                quarters[(b["kernel_at"] - (1 << 32)) * 4 // span] += 1
    print("failing share by batch (all layouts):")
    for batch, r in sorted(rows.items()):
        k, n = sum(f for f, _ in r), len(r)
        p = sum(m for _, m in r) / n
        print(f"  {batch}: {k} of {n} failed = {k / n:.1%}, modelled {p:.1%}; exact binomial p = "
              f"{kaslr.binomial_two_sided(k, n, p):.3f}")
    stat, dof, pv = kaslr.chi_squared(quarters, quarter_exp)
    print(f"kernel in the 4 GiB above 4 GiB, by quarter: observed {quarters}, expected "
          f"{[round(e, 1) for e in quarter_exp]}; chi-squared {stat:.2f} ({dof} dof), p = {pv:.3f}")


if __name__ == "__main__":
    main()
    batches()
