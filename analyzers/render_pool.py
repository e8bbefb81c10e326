"""Draw independent report figures on several cores (issue 16).

matplotlib and pyfolio draw on one core; a report of several symbols (or one symbol's
several pictures) is independent work. The worker processes are forked, so they start
with everything the report process has already imported (pyfolio, matplotlib: seconds to
import afresh) and with the backtest results in memory: only a job's number goes to a
worker and only what it returns (the written paths) comes back. Where fork does not exist
(Windows, macOS default) or one core is all there is, the jobs run here, one after another,
with the same results. Nor once TensorFlow is loaded in this process (an ML backtest trains
its keras networks before the report): a fork of a process whose TensorFlow runtime has
started its threads can crash in the child (seen as a segmentation fault of the worker and
a broken pool), so the jobs then run here too.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from core.cores import available_cores

T = TypeVar("T")

_JOBS: list[Callable[[], object]] = []  # what the forked workers run, by number


def run_jobs(jobs: Sequence[Callable[[], T]], workers: int | None = None) -> list[T]:
    """Every job's return value, in the jobs' order. ``workers``: processes to use (None:
    one a core, at most one a job; 1: run here, in order). The first job that raises
    stops the run with its exception (KeyboardInterrupt included) once the jobs already
    started have ended, as a serial run would have stopped there."""
    workers = min(len(jobs), available_cores() if workers is None else workers)
    if workers <= 1 or not fork_is_safe():
        return [job() for job in jobs]
    _JOBS[:] = list(jobs)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_run_job, number) for number in range(len(jobs))]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    finally:
        _JOBS.clear()


def fork_is_safe() -> bool:
    """Whether workers may be forked from this process: the platform has fork and
    TensorFlow, whose runtime threads do not survive a fork, is not loaded."""
    return ("fork" in multiprocessing.get_all_start_methods()
            and "tensorflow" not in sys.modules)


def _run_job(number: int):
    return _JOBS[number]()
