"""Which stored Direction model a premarket or trading run tries first: the one trained on
the latest data, then the one saved last (``newest_first``)."""

from __future__ import annotations

import json

from engine.ml_trading.direction_store import newest_first


def _stored(folder, name: str, trained_until: str | None, saved_at: str | None) -> None:
    stamp = folder / name
    stamp.mkdir(parents=True)
    meta = {}
    if trained_until:
        meta["training_window"] = {"start": "2020-01-02", "end": trained_until}
    if saved_at:
        meta["saved_at"] = saved_at
    (stamp / "metadata.json").write_text(json.dumps(meta))


def test_the_model_trained_on_the_latest_data_comes_first_whenever_it_was_saved(tmp_path):
    """A replay of an earlier day saves a model trained on less data after the one trained
    on more: the fuller one still comes first; a tie goes to the one saved last; folders
    without readable metadata, ``latest`` and ``.partial`` folders come last or not at all."""
    _stored(tmp_path, "2026-12-07_05-35-00", "2025-12-26", "2026-12-07T05:35:00")
    _stored(tmp_path, "2026-12-07_05-37-00", "2025-12-24", "2026-12-07T05:37:00")
    _stored(tmp_path, "2026-12-06_10-00-00", "2025-12-26", "2026-12-06T10:00:00")
    (tmp_path / "2026-12-05_09-00-00").mkdir()  # no metadata: a torn save
    (tmp_path / "latest").mkdir()
    (tmp_path / ".2026-12-07_06-00-00.partial").mkdir()
    assert [p.name for p in newest_first(tmp_path)] == [
        "2026-12-07_05-35-00", "2026-12-06_10-00-00", "2026-12-07_05-37-00",
        "2026-12-05_09-00-00"]
