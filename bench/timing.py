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
    return {name: wall for name, (wall, _) in best_wall_and_cpu_interleaved(fns, repeats).items()}


def best_wall_and_cpu_interleaved(fns: dict[str, Callable[[], object]],
                                  repeats: int = 3) -> dict[str, tuple[float, float]]:
    """``best_seconds_interleaved`` with each contender's least CPU seconds of this process
    beside its least wall-clock seconds (the same runs): on a machine whose neighbours take
    the cores away now and then, the CPU seconds say how much work a run is."""
    walls: dict[str, list[float]] = {name: [] for name in fns}
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            walls[name].append(time.perf_counter() - t0)
            cpus[name].append(time.process_time() - c0)
    return {name: (min(walls[name]), min(cpus[name])) for name in fns}
