"""On-disk cache of derived or downloaded frames, as Parquet files.

Writes are atomic (a temporary file in the same folder, then ``os.replace``), so an
interrupted run never leaves half a file under the final name. A file that cannot be read
back (truncated, corrupt, foreign) is reported, deleted and rebuilt, never a crash.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.atomic import atomic_write_file
from core.errors import DataError

log = logging.getLogger(__name__)


#: the packages whose modules a code fingerprint follows imports into (ours)
OUR_PACKAGES = ("analyzers", "brokers", "cli", "core", "engine", "feeds", "indicators",
                "models", "pricing", "strategies", "sweeps", "training")


def code_fingerprint(*modules) -> str:
    """A short hash of the source files of ``modules`` (module objects) and of every module
    of ours they import, directly or through each other (``our_sources``): part of the
    cache key of anything those modules compute, so editing the code that built a cached
    frame makes the old file miss instead of being read back as the new result (a stale
    sample market once broke tests on one machine and passed on a clean one; labels once
    hashed their pricer but not the calendar and contracts it imports)."""
    digest = hashlib.sha256()
    for path in sorted(our_sources(modules)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def our_sources(modules) -> set[Path]:
    """The source files of ``modules`` and of every module of ``OUR_PACKAGES`` they import,
    transitively (imports inside functions too; read from the source, nothing imported)."""
    seen: set[Path] = set()
    todo = [Path(m.__file__).resolve() for m in modules]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(_imported_sources(path))
    return seen


def _imported_sources(path: Path) -> list[Path]:
    """Source files of the modules of ours that ``path`` names in an absolute import."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # ``from pkg import module`` names a module too; ``from module import name`` not
            names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    found = []
    for name in names:
        if name.split(".")[0] in OUR_PACKAGES and (source := _module_file(name)) is not None:
            found.append(source.resolve())
    return found


def _module_file(name: str) -> Path | None:
    """The source file of module ``name``, found on ``sys.path`` without importing anything
    (``importlib.util.find_spec`` imports a dotted name's parents: a fingerprint must not
    load TensorFlow); None for a name that is not a module (``from m import function``)."""
    top, *rest = name.split(".")
    spec = importlib.machinery.PathFinder.find_spec(top)
    if spec is None:
        return None
    if not spec.submodule_search_locations:  # a top-level module, not a package
        return Path(spec.origin) if not rest and spec.origin.endswith(".py") else None
    folder = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest[:-1])
    last = rest[-1] if rest else None
    for candidate in ((folder / "__init__.py",) if last is None else
                      (folder / f"{last}.py", folder / last / "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def default_cache_dir() -> Path:
    """``$BTML_CACHE_DIR``, else ``$XDG_CACHE_HOME/btml``, else ``~/.cache/btml``."""
    if os.environ.get("BTML_CACHE_DIR"):
        return Path(os.environ["BTML_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "btml"


#: a temporary file older than this was left by a killed process, not one still writing
ORPHAN_AGE_SECONDS = 3600.0


def sweep_orphans(folder: Path, older_than: float = ORPHAN_AGE_SECONDS) -> int:
    """Delete ``.*.tmp`` files a killed writer left in ``folder``; returns how many."""
    now, removed = time.time(), 0
    for tmp in folder.glob(".*.tmp"):
        try:
            if now - tmp.stat().st_mtime > older_than:
                tmp.unlink()
                removed += 1
        except OSError:  # another process swept or finished it first
            continue
    return removed


class ParquetCache:
    """Frames stored under ``root`` by a key such as ``("sample", "v1", "SPY")``."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self._check_root()
        self._swept: set[Path] = set()  # folders already cleared of orphans

    def _check_root(self) -> None:
        """Refuse a cache folder that can never work before any download or backtest
        starts: a file, a device, a symlink loop, a folder that cannot be created or
        written."""
        hint = "choose another with --cache-dir or $BTML_CACHE_DIR"
        try:
            if self.root.exists() and not self.root.is_dir():
                raise DataError(f"cache folder {self.root} is not a folder; {hint}")
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise DataError(f"cache folder {self.root} cannot be created ({reason}); "
                            f"{hint}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise DataError(f"cache folder {self.root} is not writable; {hint}")

    def path_for(self, key: Sequence[str]) -> Path:
        """Readable file name from the key, with a short hash so distinct keys never collide."""
        parts = [re.sub(r"[^A-Za-z0-9._=-]+", "_", str(k)).lstrip(".") or "_" for k in key]
        digest = hashlib.sha1("\x1f".join(map(str, key)).encode()).hexdigest()[:10]
        return self.root.joinpath(*parts[:-1], f"{parts[-1]}-{digest}.parquet")

    @staticmethod
    def _check_entry(path: Path) -> None:
        """A folder (or device, ...) where a cache file belongs is someone's, not ours to
        delete: refuse it by name instead of crashing or replacing it."""
        if path.exists() and not path.is_file():
            raise DataError(f"cache entry {path} is not a file; move it out of the cache "
                            f"folder (or choose another with --cache-dir or $BTML_CACHE_DIR)")

    def load(self, key: Sequence[str]) -> pd.DataFrame | None:
        """The cached frame, or None when absent or unreadable (an unreadable file is removed)."""
        path = self.path_for(key)
        if not path.exists():
            return None
        self._check_entry(path)
        try:
            # pages written with a CRC are checked: a flipped bit is a rebuild, not data
            return pq.read_table(path, page_checksum_verification=True).to_pandas()
        except (pa.ArrowException, OSError, ValueError) as exc:
            log.warning("cache file %s is unreadable (%s); rebuilding it", path, exc)
            path.unlink(missing_ok=True)
            return None

    def save(self, key: Sequence[str], frame: pd.DataFrame) -> Path:
        """Write atomically: readers see the old file or the new one, never a partial one."""
        path = self.path_for(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            blocker = next((p for p in (path.parent, *path.parent.parents) if p.is_file()),
                           path.parent)
            raise DataError(f"cache folder {path.parent} cannot be made: {blocker} is a file; "
                            "move it out of the cache folder (or choose another with "
                            "--cache-dir or $BTML_CACHE_DIR)") from None
        self._check_entry(path)
        if path.parent not in self._swept:  # once per folder: saves stay O(1) in big folders
            sweep_orphans(path.parent)
            self._swept.add(path.parent)
        return atomic_write_file(path, lambda tmp: pq.write_table(
            pa.Table.from_pandas(frame), tmp, write_page_checksum=True))

    def load_or_build(self, key: Sequence[str], build: Callable[[], pd.DataFrame],
                      columns: Sequence[str] = ()) -> pd.DataFrame:
        """The cached frame, building and storing it first when missing or unreadable, or
        when it lacks any of ``columns`` (another file put in its place: its numbers are
        not this key's)."""
        frame = self.load(key)
        missing = [c for c in columns if frame is not None and c not in frame.columns]
        if missing:
            log.warning("cache file %s holds other data (no %s column); rebuilding it",
                        self.path_for(key), missing[0])
            frame = None
        if frame is None:
            frame = build()
            self.save(key, frame)
        return frame
