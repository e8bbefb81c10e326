"""Atomic writes: a reader sees the old file (or folder) or the new one, never half of one.

Everything is written beside its target under a temporary name, then renamed over it with
``os.replace``, which is atomic on one filesystem. A failure removes the temporary file.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path


def atomic_write_file(path: Path | str, write: Callable[[Path], object]) -> Path:
    """Fill ``path`` through ``write(temporary_path)``, then swap it in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write_file(path, lambda tmp: tmp.write_bytes(data))


def publish_folder(base: Path | str, write: Callable[[Path], object],
                   stamp: dt.datetime | None = None) -> Path:
    """A new ``base/<YYYY-MM-DD_HH-MM-SS>/`` filled by ``write(folder)`` and a refreshed
    ``base/latest/`` copy, both swapped in whole (written beside, then renamed), so a
    reader never sees half of either. Returns the timestamped folder."""
    base = Path(base)
    stamp = stamp or dt.datetime.now()
    folder = base / stamp.strftime("%Y-%m-%d_%H-%M-%S")
    if folder.exists():
        raise FileExistsError(f"{folder} exists already")
    tmp = base / f".{folder.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.replace(tmp, folder)
    latest_tmp = base / ".latest.partial"
    shutil.rmtree(latest_tmp, ignore_errors=True)
    shutil.copytree(folder, latest_tmp)
    old = base / ".latest.old"
    shutil.rmtree(old, ignore_errors=True)
    if (base / "latest").exists():
        os.replace(base / "latest", old)
    os.replace(latest_tmp, base / "latest")
    shutil.rmtree(old, ignore_errors=True)
    return folder


def replace_folder(folder: Path | str, write: Callable[[Path], object]) -> Path:
    """Fill a new ``folder`` through ``write(temporary_folder)`` and swap it in whole: a
    reader (or an interrupt) sees the old folder or the new one, never a mix of files.
    Folders left by an earlier interrupted run (``.<name>.partial-*``, ``.<name>.old-*``)
    are swept first."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for leftover in [*folder.parent.glob(f".{folder.name}.partial-*"),
                     *folder.parent.glob(f".{folder.name}.old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)
    suffix = uuid.uuid4().hex[:8]
    tmp = folder.parent / f".{folder.name}.partial-{suffix}"
    tmp.mkdir()
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = folder.parent / f".{folder.name}.old-{suffix}"
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder
