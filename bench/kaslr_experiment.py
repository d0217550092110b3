"""The KASLR experiment's numbers (issue 14): recorded KASLR boots of one layout vs kdumplab.kaslr.

    python bench/kaslr_experiment.py [tests/data/boots-x86]

Prints, per layout booted with KASLR: boots, distinct kernel addresses seen, every address enumerated or not,
the modelled vs observed share of each outcome kind (reserved / failed), and Pearson's chi-squared of the
observed addresses against the uniform slot probabilities (10 equal runs of slots).
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


if __name__ == "__main__":
    main()
