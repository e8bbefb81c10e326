"""The cores this process may use, and one shared pool of threads to use them with.

Work that releases the GIL (a compiled TensorFlow graph scoring a batch of windows) can
run on every core from threads; the pool is made the first time it is asked for, one
thread a core, and shared by everything in the process so two users of it never start
more threads than there are cores.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def core_threads() -> ThreadPoolExecutor | None:
    """The process's pool of one thread a core, None where there is one core only (the
    caller then runs its work itself, one piece after another)."""
    global _POOL
    cores = available_cores()
    if cores <= 1:
        return None
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(cores, thread_name_prefix="btml-core")
        return _POOL
