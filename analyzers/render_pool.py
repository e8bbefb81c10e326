"""Draw independent report figures on several cores (issue 16).

matplotlib and pyfolio draw on one core; a report of several symbols (or one symbol's
several pictures) is independent work. The worker processes are forked, so they start
with everything the report process has already imported (pyfolio, matplotlib: seconds to
import afresh) and with the backtest results in memory: only a job's number goes to a
worker and only what it returns (the written paths) comes back. Where fork does not exist
(Windows, macOS default) or one core is all there is, the jobs run here, one after another,
with the same results.

Once TensorFlow is loaded in this process (an ML backtest trains its keras networks before
the report), this process is not forked: a fork of a process whose TensorFlow runtime has
started its threads can crash in the child (a segmentation fault of the worker, a broken
pool). The workers then come from a fork server (``multiprocessing``'s forkserver): a clean
process that has imported the report's modules and pyfolio, and never TensorFlow, forks one per
worker, and each job goes to its worker pickled (one symbol's results: a few frames). The
ML commands start that server (``start_render_server``) before they train, so its imports
run meanwhile; a program that never started it draws here, one job after another, as do
jobs that cannot be pickled.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import select
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import TypeVar

from core.cores import available_cores

T = TypeVar("T")

_JOBS: list[Callable[[], object]] = []  # what the forked workers run, by number
#: what the fork server imports before it forks a worker, besides the modules its caller
#: names: first that Ctrl-C is the command's to handle (``analyzers.ignore_interrupts``),
#: then this program's main module (each worker imports it again otherwise) and the
#: drawing code with pyfolio (``analyzers.report_preload``)
_PRELOAD = ["analyzers.ignore_interrupts", "__main__", "analyzers.report_preload"]
#: how often a worker without pidfds looks whether its command is still there
COMMAND_CHECK_SECONDS = 0.5
_SERVER_LOCK = threading.Lock()
_SERVER_STARTED: list[bool] = []


def run_jobs(jobs: Sequence[Callable[[], T]], workers: int | None = None) -> list[T]:
    """Every job's return value, in the jobs' order. ``workers``: processes to use (None:
    one a core, at most one a job; 1: run here, in order). The first job that raises
    stops the run with its exception (KeyboardInterrupt included) once the jobs already
    started have ended, as a serial run would have stopped there."""
    workers = min(len(jobs), available_cores() if workers is None else workers)
    if workers <= 1:
        return [job() for job in jobs]
    if fork_is_safe():
        _JOBS[:] = list(jobs)
        try:
            return _run_pool(workers, multiprocessing.get_context("fork"),
                             [partial(_run_job, number) for number in range(len(jobs))])
        finally:
            _JOBS.clear()
    if _SERVER_STARTED and all(_picklable(job) for job in jobs):
        return _run_pool(workers, multiprocessing.get_context("forkserver"), list(jobs))
    return [job() for job in jobs]


def _run_pool(workers: int, context, calls: list[Callable[[], T]]) -> list[T]:
    with ProcessPoolExecutor(workers, mp_context=context,
                             initializer=exit_with_command, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(call) for call in calls]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def exit_with_command(command: int) -> None:
    """Make this worker end itself once the command (process ``command``) that asked for
    it is gone. A command killed outright (``kill -9``, out of memory) cannot shut its pool
    down, and its workers would wait for jobs forever; a fork server's workers would keep
    the server alive too (each holds its end of the server's pipe). Run by every worker
    first; a thread waits for the command's end (a pidfd on Linux, else a look twice a
    second)."""
    threading.Thread(target=_exit_when_gone, args=(command,), name="exit-with-command",
                     daemon=True).start()


def _exit_when_gone(command: int) -> None:
    try:
        select.select([os.pidfd_open(command)], [], [])  # readable once it has ended
    except ProcessLookupError:
        pass
    except (AttributeError, OSError):  # no pidfd here
        while _running(command):
            time.sleep(COMMAND_CHECK_SECONDS)
    os._exit(1)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # there, but another user's
        pass
    return True


def fork_is_safe() -> bool:
    """Whether workers may be forked from this process: the platform has fork and
    TensorFlow, whose runtime threads do not survive a fork, is not loaded."""
    return ("fork" in multiprocessing.get_all_start_methods()
            and "tensorflow" not in sys.modules)


def start_render_server(*modules: str) -> bool:
    """Start the fork server the report's workers come from once TensorFlow is loaded
    (module docstring), unless it runs already or the platform has none; True when it
    runs. ``modules``: those the jobs' arguments are instances of (unpickling a job
    imports them: ``engine.backtest`` for backtest results, backtrader and most of our
    packages, 1.5 s a worker if the server has not). Its imports (the drawing code and
    pyfolio, ``analyzers.report_preload``: a few seconds) run in it while this
    process goes on, so call it before training. A program calling it must guard its
    main module with ``if __name__ == "__main__"`` (``run.py`` does): multiprocessing
    imports the main module again in every process the server starts."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    from multiprocessing import forkserver

    with _SERVER_LOCK:
        if not _SERVER_STARTED:
            multiprocessing.get_context("forkserver").set_forkserver_preload(
                _PRELOAD + list(modules))
            forkserver.ensure_running()
            _SERVER_STARTED.append(True)
    return True


def _picklable(job) -> bool:
    try:
        pickle.dumps(job)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def _run_job(number: int):
    return _JOBS[number]()
