"""Task wrappers the sweep tests hand to ``run_sweep`` (importable by the Dask workers,
which inherit this process's ``sys.path``): they count executions with marker files and
kill a worker process once, then run the real ``run_one``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sweeps.runner import run_one


def counting(marker_dir: str, run, training=None) -> dict:
    """Leave one marker file per execution, named after the run's key."""
    Path(marker_dir, f"{run.key}.{uuid.uuid4().hex}").touch()
    return run_one(run, training)


def kill_once(marker: str, victim: int, run, training=None) -> dict:
    """The first attempt of run number ``victim`` kills its worker process outright
    (``os._exit``, no cleanup); the marker file makes every later attempt run normally."""
    if run.index == victim:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            os._exit(1)
    return run_one(run, training)
