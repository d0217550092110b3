"""The one timing loop every bench script uses: median wall time of a call, in seconds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], runs: int, warmup: int = 0, inner: int = 1) -> float:
    """Median over ``runs`` samples of one call of ``fn`` (each sample times ``inner`` calls and divides),
    after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)
