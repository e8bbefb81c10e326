"""Atomic writes: a reader sees the old file (or folder) or the new one, never half of one.

Everything is written beside its target under a temporary name, then renamed over it with
``os.replace``, which is atomic on one filesystem. A failure removes the temporary file.
A file's bytes reach the disk (``fsync``) before the rename, and the rename itself (the
folder's ``fsync``) after it: without the first, a power cut soon after could leave the new
name on an empty or partial file, which is the one thing this module promises never to show.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from core.errors import DataError


def atomic_write_file(path: Path | str, write: Callable[[Path], object]) -> Path:
    """Fill ``path`` through ``write(temporary_path)``, then swap it in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        _sync(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return path


def _sync(path: Path | str) -> None:
    """Flush ``path``'s bytes to the disk (the writer closed it; its data may still sit in
    the page cache, where a power cut loses it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename is a change of the folder), where the system
    allows it: Windows cannot open a folder, and some filesystems refuse to sync one."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write_file(path, lambda tmp: tmp.write_bytes(data))


def publish_folder(base: Path | str, write: Callable[[Path], object],
                   stamp: dt.datetime | None = None) -> Path:
    """A new ``base/<YYYY-MM-DD_HH-MM-SS>-<random>/`` filled by ``write(folder)`` (written
    beside, then renamed) and ``base/latest`` pointed at it, so a reader never sees half
    of either. Returns the new folder.

    ``latest`` is a relative symbolic link swapped in with one rename: there is no moment
    without it, and a copied store keeps it working. The random suffix makes every run's
    folder its own: two runs saving in the same second (two processes, two threads) both
    land, and ``latest`` is the last one published. What a killed run left (``.partial``
    folders) is swept first (``sweep_partials``)."""
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    sweep_partials(base)
    stamp = stamp or dt.datetime.now()
    suffix = uuid.uuid4().hex[:6]
    folder = base / f"{stamp:%Y-%m-%d_%H-%M-%S}-{suffix}"
    tmp = base / f".{folder.name}.partial-{os.getpid()}"
    tmp.mkdir()
    try:
        write(tmp)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    link = base / f".latest.partial-{os.getpid()}-{suffix}"
    os.symlink(folder.name, link)
    latest = base / "latest"
    if latest.is_dir() and not latest.is_symlink():  # a copy from before links: move it
        old = base / f".latest.old-{suffix}"
        os.replace(latest, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(link, latest)
    return folder


#: a ``.partial`` folder of a live process this old is stale too (a hung writer)
PARTIAL_MAX_AGE_S = 24 * 3600.0


def sweep_partials(base: Path | str, max_age: float = PARTIAL_MAX_AGE_S) -> int:
    """Delete the ``.*.partial-<pid>*`` and ``.*.old*`` folders (and links) under ``base`` that their
    writer left behind (the process is gone, or the folder is older than ``max_age``);
    those of a run still writing are kept. Returns how many were removed."""
    import time

    base, removed = Path(base), 0
    for leftover in [*base.glob(".*.partial*"), *base.glob(".*.old*")]:
        try:
            age = time.time() - leftover.lstat().st_mtime
        except OSError:
            continue
        if _writer_gone(leftover.name) or age > max_age:
            if leftover.is_symlink():
                leftover.unlink(missing_ok=True)
            else:
                shutil.rmtree(leftover, ignore_errors=True)
            removed += 1
    return removed


def _writer_pid(name: str) -> int | None:
    tail = name.rpartition(".partial")[2] if ".partial" in name else ""
    digits = tail.lstrip("-").split("-")[0]
    return int(digits) if digits.isdigit() else None


def _writer_gone(name: str) -> bool:
    """Whether the run that named a ``.partial``/``.old`` leftover ``name`` is over: its pid
    is not running, or the name has none (older runs). This process's own count as
    running: another thread of it may be writing."""
    pid = _writer_pid(name)
    return pid is None or not _alive(pid)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


#: the files every backtest report folder has (single symbol, portfolio, ml-trading)
REPORT_FILES = ("index.html", "metrics.json")


def is_report_folder(folder: Path | str, report_files: tuple[str, ...] = REPORT_FILES
                     ) -> bool:
    """Whether ``folder`` is a report (``report_files``: a backtest's by default), which a
    new report may replace whole; any other folder with files is the user's, never
    replaced."""
    return all((Path(folder) / name).is_file() for name in report_files)


def holds_other_files(folder: Path | str, report_files: tuple[str, ...] = REPORT_FILES
                      ) -> bool:
    """Whether ``folder`` has files and is not such a report: a report must not replace it
    (``staged_folder`` refuses it; commands refuse it before any work)."""
    folder = Path(folder)
    return (folder.is_dir() and any(folder.iterdir())
            and not is_report_folder(folder, report_files))


def replace_folder(folder: Path | str, write: Callable[[Path], object],
                   report_files: tuple[str, ...] = REPORT_FILES) -> Path:
    """Fill a new ``folder`` through ``write(temporary_folder)`` and swap it in whole
    (``staged_folder``)."""
    with staged_folder(folder, report_files) as tmp:
        write(tmp)
    return Path(folder)


@contextlib.contextmanager
def staged_folder(folder: Path | str, report_files: tuple[str, ...] = REPORT_FILES):
    """A temporary folder beside ``folder`` to fill, swapped in whole when the block ends
    without an error: a reader (or an interrupt) sees the old folder or the new one, never
    a mix of files. Folders left by an earlier interrupted run (``.<name>.partial-*`` of a
    writer no longer running, ``.<name>.old-*``) are swept first; a run killed between its
    two renames left no ``folder`` but its ``.old-*``, which is put back first. An existing
    ``folder`` with files that is not such a report (``report_files`` all there:
    ``is_report_folder``) is refused (DataError): what the user keeps there is never
    deleted."""
    folder = Path(folder)
    if holds_other_files(folder, report_files):
        raise DataError(f"{folder} holds files that are not a report of this command; a "
                        "report replaces its folder whole, so nothing was written there "
                        "(name a new or empty folder)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    olds = sorted(folder.parent.glob(f".{folder.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not folder.exists():  # killed between the two renames: the old one is back
        os.replace(olds.pop(), folder)
    # another run writing the same report right now keeps its partial folder (its pid is
    # in the name): only a dead writer's is swept
    partials = [p for p in folder.parent.glob(f".{folder.name}.partial-*")
                if _writer_gone(p.name)]
    for leftover in [*partials, *olds]:
        shutil.rmtree(leftover, ignore_errors=True)
    suffix = uuid.uuid4().hex[:8]
    tmp = folder.parent / f".{folder.name}.partial-{os.getpid()}-{suffix}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = folder.parent / f".{folder.name}.old-{suffix}"
    if folder.exists():
        os.replace(folder, old)
    try:
        os.replace(tmp, folder)
    except OSError:  # another run swapped its report in between: the last one stays
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
