"""ParquetCache: round trips, build-once, atomic writes and recovery from corrupt files."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import feeds.cache as cache_module
from core.errors import DataError
from feeds.cache import ParquetCache, default_cache_dir
from feeds.sample_market import SampleMarket

KEY = ("sample", "v1", "seed42", "SPY")


def _frame(offset: float = 0.0) -> pd.DataFrame:
    index = pd.DatetimeIndex(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"],
                             name="date")
    return pd.DataFrame({
        "open": np.array([1.0, 2.0, 3.0, 4.0]) + offset,
        "close": np.array([1.5, 2.5, 3.5, 4.5]) + offset,
        "volume": np.array([10, 20, 30, 40], dtype=np.int64),
        "label": ["a", "b", "c", "d"],
    }, index=index)


def _leftovers(root) -> list:
    return [p for p in root.rglob("*") if p.is_file() and p.name.endswith(".tmp")]


def test_save_then_load_round_trips(tmp_path):
    cache = ParquetCache(tmp_path)
    frame = _frame()
    path = cache.save(KEY, frame)
    assert path.exists() and path.is_relative_to(tmp_path)
    loaded = cache.load(KEY)
    assert isinstance(loaded.index, pd.DatetimeIndex)
    pd.testing.assert_frame_equal(loaded, frame)


def test_load_missing_key_returns_none(tmp_path):
    assert ParquetCache(tmp_path).load(("nothing", "here")) is None


def test_distinct_keys_use_distinct_files(tmp_path):
    cache = ParquetCache(tmp_path)
    # both sanitise to the same readable name; the hash keeps them apart
    a, b = ("x", "a/b"), ("x", "a_b")
    assert cache.path_for(a) != cache.path_for(b)
    cache.save(a, _frame(0.0))
    cache.save(b, _frame(100.0))
    assert cache.load(a)["open"].iloc[0] == 1.0
    assert cache.load(b)["open"].iloc[0] == 101.0


def test_default_cache_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BTML_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("BTML_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "btml"


def test_load_or_build_builds_once_then_reads_disk(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return _frame()

    first = ParquetCache(tmp_path).load_or_build(KEY, build)
    assert len(calls) == 1
    # a new cache object over the same folder: comes from disk, no build
    second = ParquetCache(tmp_path).load_or_build(KEY, build)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, second)


def test_save_leaves_no_temp_files(tmp_path):
    cache = ParquetCache(tmp_path)
    cache.save(KEY, _frame())
    cache.save(KEY, _frame(1.0))  # overwrite
    assert _leftovers(tmp_path) == []
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [cache.path_for(KEY)]
    assert cache.load(KEY)["open"].iloc[0] == 2.0


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    cache = ParquetCache(tmp_path)
    good = _frame()
    path = cache.save(KEY, good)
    good_bytes = path.read_bytes()
    seen = []

    def broken_write(table, where, *args, **kwargs):
        seen.append(str(where))
        with open(where, "wb") as handle:
            handle.write(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(cache_module.pq, "write_table", broken_write)
    with pytest.raises(OSError, match="disk full"):
        cache.save(KEY, _frame(50.0))
    monkeypatch.undo()

    assert seen and seen[0] != str(path)  # it wrote elsewhere, not over the final file
    assert path.read_bytes() == good_bytes
    pd.testing.assert_frame_equal(cache.load(KEY), good)
    assert _leftovers(tmp_path) == []


def test_interrupted_first_write_leaves_nothing(tmp_path, monkeypatch):
    cache = ParquetCache(tmp_path)

    def interrupted(table, where, *args, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PAR1")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module.pq, "write_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.save(KEY, _frame())
    monkeypatch.undo()
    assert not cache.path_for(KEY).exists()
    assert _leftovers(tmp_path) == []
    assert cache.load(KEY) is None


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path):
    path.write_bytes(b"this is not a parquet file at all" * 10)


def _empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_truncate, _garbage, _empty],
                         ids=["truncated", "garbage", "empty"])
def test_corrupt_file_is_detected_logged_and_removed(tmp_path, caplog, damage):
    cache = ParquetCache(tmp_path)
    path = cache.save(KEY, _frame())
    damage(path)
    with caplog.at_level(logging.WARNING, logger="feeds.cache"):
        assert cache.load(KEY) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()
    assert not path.exists()


@pytest.mark.parametrize("damage", [_truncate, _garbage, _empty],
                         ids=["truncated", "garbage", "empty"])
def test_corrupt_file_is_rebuilt_by_load_or_build(tmp_path, caplog, damage):
    cache = ParquetCache(tmp_path)
    path = cache.save(KEY, _frame())
    damage(path)
    calls = []

    def build():
        calls.append(1)
        return _frame(7.0)

    with caplog.at_level(logging.WARNING, logger="feeds.cache"):
        rebuilt = cache.load_or_build(KEY, build)
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(rebuilt, _frame(7.0))
    # the rewritten file is readable on its own, and is now used without a build
    pd.testing.assert_frame_equal(pq.read_table(path).to_pandas(), _frame(7.0))
    pd.testing.assert_frame_equal(cache.load_or_build(KEY, build), _frame(7.0))
    assert len(calls) == 1
    assert _leftovers(tmp_path) == []


def test_sample_market_through_cache_matches_uncached(tmp_path, spy):
    cache = ParquetCache(tmp_path)
    first = SampleMarket(seed=42, cache=cache).bars("SPY")
    files = [p for p in tmp_path.rglob("*.parquet")]
    assert len(files) == 1
    # second market reads it from disk: generation must not run
    second_market = SampleMarket(seed=42, cache=cache)

    def no_generate(symbol):
        raise AssertionError("generated again instead of reading the cache")

    second_market._generate = no_generate
    second = second_market.bars("SPY")
    # the on-disk copy loses only the index's (derived) frequency
    pd.testing.assert_frame_equal(second, spy, check_freq=False)
    pd.testing.assert_frame_equal(first, spy, check_freq=False)
    assert second["true_regime"].dtype == spy["true_regime"].dtype


# --- a cache folder that can never work is refused up front (issue 18) --------------------

@pytest.mark.parametrize("make_root, message", [
    (lambda tmp: (tmp / "file").write_text("x") and tmp / "file", "is not a folder"),
    (lambda tmp: Path("/dev/null"), "is not a folder"),
    (lambda tmp: _symlink_loop(tmp), "cannot be created"),
])
def test_an_impossible_cache_folder_is_a_clear_error(tmp_path, make_root, message):
    root = make_root(tmp_path)
    with pytest.raises(DataError, match=f"cache folder {re.escape(str(root))} {message}.*"
                                        "--cache-dir"):
        ParquetCache(root)


def _symlink_loop(tmp: Path) -> Path:
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    return tmp / "a" / "cache"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_folder_is_refused(tmp_path):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        with pytest.raises(DataError, match="is not writable"):
            ParquetCache(root)
    finally:
        root.chmod(0o700)


def test_temporary_files_of_killed_writers_are_swept_on_the_next_save(tmp_path):
    cache = ParquetCache(tmp_path)
    key = ("sample", "SPY")
    folder = cache.path_for(key).parent
    folder.mkdir(parents=True, exist_ok=True)
    orphan, fresh = folder / ".x.parquet.abc.tmp", folder / ".y.parquet.def.tmp"
    orphan.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    old = time.time() - 2 * 3600
    os.utime(orphan, (old, old))
    cache.save(key, pd.DataFrame({"a": [1.0]}))
    assert not orphan.exists() and fresh.exists()  # a live writer's file is left alone


def test_a_flipped_bit_in_a_cached_file_is_caught_and_rebuilt(tmp_path):
    """Pages carry a CRC: one flipped bit anywhere in the data is an unreadable file
    (rebuilt), never different numbers read back in silence."""
    import random

    import numpy as np

    cache = ParquetCache(tmp_path)
    frame = pd.DataFrame({"close": np.random.default_rng(0).normal(100, 1, 2000)},
                         index=pd.bdate_range("2000-01-03", periods=2000))
    path = cache.save(("sample", "SPY"), frame)
    data = path.read_bytes()
    rng = random.Random(7)
    for _ in range(10):
        flipped = bytearray(data)
        at = rng.randrange(len(flipped))
        flipped[at] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(flipped))
        loaded = cache.load(("sample", "SPY"))
        assert loaded is None or loaded.equals(frame), at


def test_another_frame_in_a_cache_files_place_is_rebuilt(tmp_path):
    """A valid parquet with other columns under a bars key (another file copied over it)
    is rebuilt, not read as bars (a TypeError, or a wrong span said as the data's)."""
    cache = ParquetCache(tmp_path)
    cache.save(("sample", "SPY"), pd.DataFrame({"x": [1, 2]}))
    bars = pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0],
                         "volume": [0.0]}, index=pd.DatetimeIndex(["2024-01-02"]))
    built = cache.load_or_build(("sample", "SPY"), lambda: bars,
                                ("open", "high", "low", "close", "volume"))
    pd.testing.assert_frame_equal(built, bars)
    assert list(cache.load(("sample", "SPY")).columns) == list(bars.columns)  # stored again


def test_a_code_fingerprint_follows_the_modules_of_ours_they_import(tmp_path, monkeypatch):
    """Editing a module that a fingerprinted module imports (directly or through another,
    also inside a function) changes the fingerprint: the label cache hashed the labels, the
    spread pricer, the chain and Black-Scholes, but not the calendar, the contracts or the
    spread legs they import, so an edit there read back labels of the old code."""
    import importlib
    import sys

    import feeds.cache as cache

    package = tmp_path / "fppkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "top.py").write_text("from fppkg import middle\n")
    (package / "middle.py").write_text("def f():\n    from fppkg.leaf import X\n    return X\n")
    (package / "leaf.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cache, "OUR_PACKAGES", (*cache.OUR_PACKAGES, "fppkg"))
    top = importlib.import_module("fppkg.top")
    before = cache.code_fingerprint(top)
    (package / "leaf.py").write_text("X = 2\n")
    assert cache.code_fingerprint(top) != before
    for name in [n for n in sys.modules if n.startswith("fppkg")]:
        monkeypatch.delitem(sys.modules, name)


def test_the_label_fingerprint_covers_every_module_the_labels_price_with():
    import brokers.spreads
    import feeds.calendar
    import pricing.contracts
    from feeds.cache import our_sources
    from training import labels

    covered = our_sources([labels])
    for module in (brokers.spreads, feeds.calendar, pricing.contracts):
        assert Path(module.__file__).resolve() in covered, module.__name__
