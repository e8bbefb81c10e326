"""``--signals ml``: each fold's model is trained on the bars before the fold, once, and
reused by every parameter set and by a rerun (serial, one tiny model, to stay fast)."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd

from models.lstm import LSTMConfig
from models.regimes import HMMConfig
from sweeps.runner import run_sweep
from training.pipeline import TrainingSpec

TINY = TrainingSpec(head="lstm", lstm=LSTMConfig(sequence_length=10, lstm_units=(8, 4, 4), dense_units=(8, 4),
                                    epochs=1, patience=1, batch_size=64),
                    hmm=HMMConfig(n_init=1), hmm_start=pd.Timestamp("2022-01-03"),
                    lstm_start=pd.Timestamp("2023-11-01"))


def test_ml_sweep_trains_each_fold_model_before_the_fold_and_reuses_it(make_spec, tmp_path):
    spec = replace(make_spec(grid=["target_delta=0.2,0.3"], symbols=("SPY",), folds=1,
                             window=(pd.Timestamp("2024-04-01"), pd.Timestamp("2024-06-28"))),
                   signals="ml", training=TINY)
    outcome = run_sweep(spec, tmp_path)
    table = outcome.table
    assert table["error"].isna().all() and (table["signals"] == "ml").all()
    (model_dir,) = (tmp_path / "models").iterdir()
    meta = json.loads((model_dir / "metadata.json").read_text())
    assert meta["training_window"]["end"] == "2024-03-28"  # the session before the fold
    assert pd.Timestamp(meta["training_window"]["end"]) < pd.Timestamp(table["fold_start"][0])
    stamp = (model_dir / "model.keras").stat().st_mtime_ns

    wider = replace(spec, grid=make_spec(grid=["target_delta=0.2,0.3,0.4"]).grid)
    again = run_sweep(wider, tmp_path)
    assert (again.executed, again.skipped) == (1, 2)
    assert [p.name for p in (tmp_path / "models").iterdir()] == [model_dir.name]
    assert (model_dir / "model.keras").stat().st_mtime_ns == stamp  # not retrained
    pd.testing.assert_frame_equal(again.table.iloc[:2], table, check_exact=True)
    assert again.table["error"].isna().all()
