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


def test_a_stored_model_of_other_bars_is_told_apart_by_its_data_hash(tmp_path):
    """A CSV replaced under the same name (prices x 3): the stored model's data hash no
    longer matches the bars up to its training end, so it is not reused as if it fit."""
    import pandas as pd

    from engine.ml_trading.direction_store import other_data
    from models.store import data_hash

    days = pd.bdate_range("2024-01-02", periods=30)
    bars = pd.DataFrame({"close": range(100, 130)}, index=days, dtype=float)
    stamp = tmp_path / "2026-12-07_05-35-00-aaaaaa"
    stamp.mkdir()
    (stamp / "metadata.json").write_text(json.dumps({
        "training_window": {"start": "2024-01-02", "end": f"{days[19]:%Y-%m-%d}"},
        "data_hash": data_hash(bars.iloc[:20])}))
    meta = json.loads((stamp / "metadata.json").read_text())
    assert other_data(meta, bars) is None  # later bars do not matter
    assert "data hash differs" in other_data(meta, bars * 3)
    (stamp / "metadata.json").write_text(json.dumps({  # a folder without a hash: as before
        "training_window": {"start": "2024-01-02", "end": f"{days[19]:%Y-%m-%d}"}}))
    meta = json.loads((stamp / "metadata.json").read_text())
    assert other_data(meta, bars * 3) is None


def test_the_data_hash_covers_the_training_window_only(tmp_path):
    """A hash of the bars a model trained on (its training_window) matches bars read from
    an earlier or a later start, as long as they hold that window; bars starting after it
    cannot be checked, and say so."""
    import pandas as pd

    from engine.ml_trading.direction_store import other_data
    from models.store import data_hash

    days = pd.bdate_range("2024-01-02", periods=30)
    bars = pd.DataFrame({"close": range(100, 130)}, index=days, dtype=float)
    meta = {"training_window": {"start": f"{days[5]:%Y-%m-%d}", "end": f"{days[19]:%Y-%m-%d}"},
            "data_hash": data_hash(bars.iloc[5:20])}
    assert other_data(meta, bars) is None and other_data(meta, bars.iloc[3:]) is None
    assert "data hash differs" in other_data(meta, bars * 3)
    assert "cannot be checked" in other_data(meta, bars.iloc[8:])
