"""The strategy model (features -> HMM -> scaler -> LSTM): causal, batch == bar by bar,
deterministic, round-trips through the store, and refuses bad inputs clearly."""

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from models.contract import SignalModel
from models.evaluation import action_returns
from models.store import (
    check_training_window,
    load_hmm_model,
    load_lstm_model,
    load_strategy_model,
    read_metadata,
    save_models,
)
from models.strategy_model import PROBA_COLUMNS, StrategyModel


@pytest.fixture(scope="module")
def scored_bars(sample_market):
    return sample_market.bars("SPY", "2021-06-01", "2022-06-30")


@pytest.fixture(scope="module")
def calibrated_model(tiny_model, tiny_training):
    """``tiny_model`` with a calibration block (half of 30 % held out: the tiny fit's 20 %
    leave early stopping too few windows once purged)."""
    spec, data = tiny_training
    model = StrategyModel(lstm_config=spec.lstm, validation_fraction=0.3,
                          calibration_fraction=0.5, head="lstm")
    return model.fit(data.bars, data.labels, hmm=tiny_model.hmm_)


def test_fit_purges_labels_that_read_past_the_training_data(tiny_model, tiny_training):
    _, data = tiny_training
    report = tiny_model.report_
    assert report.train_end == data.bars.index[-1]
    assert report.n_purged > 0 and report.n_train > 50 and report.n_validation > 10
    # labels whose spreads left the book after the training end are unknown on it
    # (``training.pipeline.known_by``): none reads past the training data
    assert data.labels["label_end"].max() <= report.train_end
    assert data.labels["label"].iloc[-3:].isna().all()


def test_scores_are_causal(tiny_model, scored_bars):
    short = tiny_model.predict_proba(scored_bars.iloc[:180])
    full = tiny_model.predict_proba(scored_bars)
    pd.testing.assert_frame_equal(short, full.iloc[:180])


def test_bar_by_bar_stream_equals_the_batch(tiny_model, scored_bars):
    batch = tiny_model.predict_proba(scored_bars).to_numpy()
    stream = tiny_model.stream()
    live = np.array([stream.update(day, row) for day, row in scored_bars.iterrows()])
    # the regime probabilities are the batch's exactly; the class probabilities come from
    # the LSTM's numpy forward pass (the live path), equal to the compiled batch's within
    # 1e-5, and so do the expected returns made from them
    np.testing.assert_array_equal(live[:, 3:8], batch[:, 3:8])
    np.testing.assert_array_equal(np.isnan(live), np.isnan(batch))
    np.testing.assert_allclose(live[:, :3], batch[:, :3], rtol=0, atol=1e-5)
    np.testing.assert_allclose(live[:, 8:], batch[:, 8:], rtol=0, atol=1e-5)
    assert np.isnan(batch[: tiny_model.warmup_bars, :3]).all(axis=None)
    probs = batch[tiny_model.warmup_bars:, :3]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_outputs_are_calibrated_on_the_held_out_validation_windows(calibrated_model,
                                                                    scored_bars):
    """The stored model outputs what the walk-forward scores as ``lstm``: the network's
    softmax scaled by the temperature that minimises log loss on the calibration windows
    (held out of training and of early stopping), never on the bars it scores."""
    from models.evaluation import apply_temperature

    raw = calibrated_model.predict_proba(scored_bars, calibrated=False)[list(PROBA_COLUMNS)]
    calibrated = calibrated_model.predict_proba(scored_bars)[list(PROBA_COLUMNS)]
    t = calibrated_model.temperature
    assert t != 1.0  # the tiny network is miscalibrated on its calibration windows
    live = raw.notna().all(axis=1)
    np.testing.assert_allclose(calibrated[live], apply_temperature(raw[live], t), rtol=1e-6)
    assert (calibrated[live].to_numpy().argmax(1) == raw[live].to_numpy().argmax(1)).all()


def test_training_is_deterministic(tiny_model, tiny_training, scored_bars):
    spec, data = tiny_training
    again = spec.make_model().fit(data.bars, data.labels, hmm_bars=data.hmm_bars)
    pd.testing.assert_frame_equal(again.predict_proba(scored_bars),
                                  tiny_model.predict_proba(scored_bars))


def test_store_round_trip(tiny_model, tiny_training, scored_bars, tmp_path):
    _, data = tiny_training
    assert isinstance(tiny_model, SignalModel) and isinstance(tiny_model.hmm_, SignalModel)
    folder = save_models(tiny_model, tmp_path, "test", "spy", training_bars=data.bars)
    assert folder.parent.name == "SPY" and (folder.parent / "latest").is_dir()
    for name in ("model.keras", "lstm_scaler.pkl", "hmm_model.pkl", "metadata.json"):
        assert (folder / name).exists() and (folder.parent / "latest" / name).exists()
    loaded = load_strategy_model(folder.parent / "latest")
    pd.testing.assert_frame_equal(loaded.predict_proba(scored_bars),
                                  tiny_model.predict_proba(scored_bars))
    lstm, scaler = load_lstm_model(folder)
    np.testing.assert_array_equal(scaler.mean_, tiny_model.scaler_.mean_)
    assert load_hmm_model(folder).state_names_ == tiny_model.hmm_.state_names_
    meta = read_metadata(folder)
    assert meta["training_window"]["end"] == "2021-12-31"
    assert meta["features"] == list(tiny_model.feature_names_) and len(meta["data_hash"]) == 64
    assert "tensorflow-cpu" in meta["libraries"]
    assert meta["temperature"] == loaded.temperature == tiny_model.temperature
    with pytest.raises(DataError, match="overlaps the backtest"):
        check_training_window(meta, pd.Timestamp("2021-06-01"), str(folder))
    check_training_window(meta, pd.Timestamp("2022-01-03"), str(folder))
    for damaged in ({}, {"training_window": {"end": "not a date"}}):  # a KeyError before
        with pytest.raises(DataError, match="does not say when the model's training data"):
            check_training_window(damaged, pd.Timestamp("2022-01-03"), str(folder))
    with pytest.raises(DataError, match="no model folder"):
        load_strategy_model(tmp_path / "nowhere")


def test_bad_inputs_give_clear_errors(tiny_model, tiny_spec, scored_bars, tiny_training):
    _, data = tiny_training
    plain = scored_bars[["open", "high", "low", "close", "volume"]]
    with pytest.raises(DataError, match="trained on the feature groups"):
        tiny_model.predict_proba(plain)
    holed = scored_bars.copy()
    holed.iloc[120, holed.columns.get_loc("put_call_ratio")] = np.nan
    with pytest.raises(DataError, match="put_call_ratio is NaN"):
        tiny_model.predict_proba(holed)
    with pytest.raises(DataError, match="too little history"):
        tiny_spec.make_model().fit(data.bars.iloc[:95], data.labels,
                                   hmm=tiny_model.hmm_)
    with pytest.raises(RuntimeError, match="not fitted"):
        tiny_spec.make_model().predict_proba(scored_bars)
    assert list(PROBA_COLUMNS) == ["p_hold", "p_call", "p_put"]


def test_the_call_weighs_returns_learned_from_the_training_labels_only(tiny_model,
                                                                      tiny_training):
    _, data = tiny_training
    labels = data.labels
    known = labels[labels["label"].notna()
                   & (pd.DatetimeIndex(labels["label_end"]) <= tiny_model.trained_until)]
    known = known[known.index >= data.bars.index[tiny_model.warmup_bars]]
    expected = action_returns(known["label"].astype(int), known["put_return"],
                              known["call_return"])
    np.testing.assert_allclose(tiny_model.action_returns, expected, rtol=0, atol=1e-15)
    # every bar's expected returns are p @ m.T, and the call is their best action
    scores = tiny_model.predict_proba(data.bars).dropna()
    probs = scores[["p_hold", "p_call", "p_put"]].to_numpy()
    np.testing.assert_allclose(scores[["ev_hold", "ev_call", "ev_put"]].to_numpy(),
                               probs @ expected.T, rtol=0, atol=1e-12)
    assert tiny_model.metadata()["decision"] == "expected_pnl"


def test_a_model_stored_before_the_expected_return_call_calls_the_most_probable_class(
        tiny_model):
    state = dict(tiny_model.__dict__)
    for added in ("decision", "action_returns_"):
        state.pop(added)
    old = StrategyModel.__new__(StrategyModel)
    old.__setstate__(state)
    assert old.decision == "probability" and old.action_returns is None
    assert np.isnan(old.expected_returns(np.full((2, 3), 1 / 3))).all()


def test_a_history_too_short_for_the_regime_classifier_says_how_many_bars_it_needs(
        sample_market):
    from core.errors import DataError
    from models.features import LOOKBACK, available_groups
    from models.regimes import MIN_FIT_BARS
    from models.strategy_model import regime_features

    bars = sample_market.bars("SPY", "2024-01-02", "2024-12-31")
    need = LOOKBACK - 1 + MIN_FIT_BARS
    groups = available_groups(bars)
    assert len(regime_features(bars.iloc[:need], groups)) == MIN_FIT_BARS
    with pytest.raises(DataError, match=rf"{need - 1} bars up to .* are too short a history: "
                                        rf"the regime classifier needs at least {need}"):
        regime_features(bars.iloc[:need - 1], groups)


def test_the_temperature_is_fitted_on_windows_that_early_stopping_never_saw():
    """Fitted on the early-stopping windows, the temperature raised the out-of-sample log
    loss (docs/models/evaluation.md, Calibration): the calibration block is the last part
    of the validation windows, and the early-stopping part ends its labels an embargo
    before that block, as training ends its labels before early stopping's."""
    from models.strategy_model import split_windows

    index = pd.bdate_range("2024-01-01", periods=120)
    label_end = index[np.minimum(np.arange(120) + 6, 119)]  # each label reads 6 bars on
    ends = np.arange(10, 114)
    train, stop, cal, purged = split_windows(ends, 40, 0.5, label_end, index, embargo=2)
    assert len(cal) == 20 and list(cal) == list(ends[-20:])
    assert len(stop) and stop.max() < cal.min() and train.max() < stop.min()
    assert label_end[stop].max() < index[cal[0] - 2]  # purged and embargoed
    assert label_end[train].max() < index[stop[0] - 2]
    assert purged == len(ends) - len(train) - len(stop) - len(cal) > 0
    # too few validation windows to spare a block: early stopping keeps them, T stays 1
    train, stop, cal, _ = split_windows(ends, 12, 0.5, label_end, index, embargo=2)
    assert len(cal) == 0 and list(stop) == list(ends[-12:])


def test_the_fitted_temperature_is_the_calibration_blocks_own(calibrated_model, tiny_model,
                                                              tiny_training):
    """The model's temperature is what ``fit_temperature`` gives on the calibration
    windows (1.0 when scaling does not lower their log loss: ``tests/models/
    test_evaluation.py``), not on the windows that chose the epoch."""
    from models.evaluation import fit_temperature
    from models.strategy_model import split_windows

    _, data = tiny_training
    bars, labels = data.bars, data.labels.reindex(data.bars.index)
    model, report = calibrated_model, calibrated_model.report_
    assert report.n_calibration >= 10 and report.n_validation >= 10
    assert model.metadata()["samples"]["calibration"] == report.n_calibration
    scaled = np.nan_to_num(model.scaler_.transform(
        model.model_inputs(bars).to_numpy(dtype=float))).astype(np.float32)
    ends = np.arange(model.warmup_bars, len(bars))
    known = labels["label"].notna().to_numpy() & (
        pd.DatetimeIndex(labels["label_end"]) <= bars.index[-1])
    ends = ends[known[ends]]
    _, stop, cal, _ = split_windows(ends, int(round(len(ends) * 0.3)), 0.5,
                                    labels["label_end"].to_numpy(), bars.index, 5)
    assert len(cal) == report.n_calibration and len(stop) == report.n_validation
    y = labels["label"].to_numpy()
    proba = model.head_.predict_proba(model._windows(scaled, cal))
    assert model.temperature == pytest.approx(fit_temperature(proba, y[cal].astype(int)))


def test_by_default_the_lstm_is_not_temperature_scaled(tiny_model, scored_bars):
    """No calibration block by default, so no temperature: fitted on the early-stopping
    windows it raised the out-of-sample log loss in three of four data sets, and fitted on
    a block of its own it did not lower it either (docs/models/evaluation.md#calibration).
    Early stopping keeps every validation window."""
    report = tiny_model.report_
    assert tiny_model.temperature == 1.0 and report.n_calibration == 0
    assert tiny_model.metadata()["temperature"] == 1.0
    assert report.n_validation == int(round(0.2 * (report.n_train + report.n_purged
                                                   + report.n_validation)))
    pd.testing.assert_frame_equal(tiny_model.predict_proba(scored_bars, calibrated=False),
                                  tiny_model.predict_proba(scored_bars))


def test_a_model_stored_before_the_change_keeps_its_stored_temperature(tiny_model,
                                                                      scored_bars):
    """A model pickled when the temperature came from the early-stopping windows outputs
    what it did: its stored temperature stays."""
    from copy import copy

    from models.evaluation import apply_temperature

    state = dict(tiny_model.__dict__, temperature_=0.7, report_=copy(tiny_model.report_))
    state.pop("calibration_fraction")
    del state["report_"].n_calibration  # a report pickled before the field existed
    old = StrategyModel.__new__(StrategyModel)
    old.__setstate__(state)
    assert old.temperature == 0.7 and old.metadata()["temperature"] == 0.7
    assert old.metadata()["samples"]["calibration"] == 0 and old.calibration_fraction == 0.0
    raw = old.predict_proba(scored_bars, calibrated=False)[list(PROBA_COLUMNS)].dropna()
    np.testing.assert_allclose(old.predict_proba(scored_bars).loc[raw.index, list(PROBA_COLUMNS)],
                               apply_temperature(raw, 0.7), rtol=1e-6)


def test_a_column_the_source_lacks_is_named_as_lacking_not_as_a_gap(tiny_model, scored_bars):
    """A backtest feed has a line for every known column, NaN where the source has none (a
    CSV of OHLCV): a model trained with the flow groups must say the data lacks those
    columns, every one of them, not that the first is 'NaN on <date> (missing input data
    there?)', which reads as a gap in the data."""
    no_flow = scored_bars.copy()
    flow = [c for c in no_flow.columns if c not in ("open", "high", "low", "close", "volume")]
    no_flow[flow] = np.nan
    with pytest.raises(DataError, match="trained on the feature groups") as refused:
        tiny_model.predict_proba(no_flow)
    assert "call_iv" in str(refused.value) and "dark_pool_ratio" in str(refused.value)
    assert "missing input data there" not in str(refused.value)
