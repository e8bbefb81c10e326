"""The model store's times: folders named by the machine's clock, ``saved_at`` an instant
in UTC with its offset, and stored models ordered by instant across a DST change."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from engine.ml_trading.direction_store import newest_first
from models.store import read_metadata, save_model, saved_instant


class _Model:
    """The least a store needs of a model: it writes its own files."""

    def save(self, folder: Path) -> None:
        (folder / "metadata.json").write_text(json.dumps({"model": "tiny"}))


@pytest.fixture
def new_york(monkeypatch):
    """The machine's zone is New York, as on a trader's desk (not UTC)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_saved_at_is_the_instant_in_utc_and_the_folder_the_local_clock(tmp_path, new_york):
    # 01:30 on 2026-11-01 happens twice in New York; this is the second (EST, -05:00)
    stamp = dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)
    folder = save_model(_Model(), "direction", "spy", root=tmp_path, stamp=stamp)
    assert folder.name.startswith("2026-11-01_01-30-00-")
    meta = read_metadata(folder)
    assert meta["saved_at"] == "2026-11-01T06:30:00+00:00"
    assert meta["symbol"] == "SPY" and meta["model"] == "tiny"
    assert saved_instant(meta["saved_at"]) == stamp.timestamp()


def test_a_naive_stamp_is_the_machines_clock(tmp_path, new_york):
    folder = save_model(_Model(), "direction", "SPY", root=tmp_path,
                        stamp=dt.datetime(2026, 7, 1, 9, 30))
    assert folder.name.startswith("2026-07-01_09-30-00-")
    assert read_metadata(folder)["saved_at"] == "2026-07-01T13:30:00+00:00"  # EDT, -04:00


def test_models_saved_across_the_fall_back_hour_order_by_instant(tmp_path, new_york):
    """Written by the clock alone, 01:30 EDT would sort after 01:10 EST, which came 40
    minutes later; old stores without an offset are read as the machine's clock."""
    for name, saved_at in [("2026-11-01_01-30-00-aaaaaa", "2026-11-01T01:30:00-04:00"),
                           ("2026-11-01_01-10-00-bbbbbb", "2026-11-01T01:10:00-05:00"),
                           ("2026-10-31_12-00-00-cccccc", "2026-10-31T12:00:00")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "metadata.json").write_text(json.dumps({
            "training_window": {"start": "2020-01-02", "end": "2025-12-26"},
            "saved_at": saved_at}))
    assert [p.name[-6:] for p in newest_first(tmp_path)] == ["bbbbbb", "aaaaaa", "cccccc"]
    assert saved_instant("2026-10-31T12:00:00") == dt.datetime(
        2026, 10, 31, 16, 0, tzinfo=dt.UTC).timestamp()
    assert saved_instant(None) == 0.0 and saved_instant("not a time") == 0.0
