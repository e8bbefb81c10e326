"""Timing helper the benchmarks share."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    """Fastest of ``repeats`` runs of ``fn``, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def best_seconds_interleaved(fns: dict[str, Callable[[], object]],
                             repeats: int = 3) -> dict[str, float]:
    """Fastest of ``repeats`` runs of each of ``fns``, the runs taken in turns (a, b, a, b,
    ...): on a shared machine load that comes and goes then reaches every contender alike,
    so their ratio holds better than timing all of one before all of the other."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: min(values) for name, values in times.items()}
