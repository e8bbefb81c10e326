"""A model refitted every N sessions: each segment's model never saw its segment (bars or
labels reading into it), scores switch models at the boundaries, batch == bar by bar."""

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from feeds.btfeed import make_feed
from indicators.strategy_signal import StrategySignal
from models.contract import SignalModel
from models.folds import refit_folds, training_slice
from models.refit import RefitModel, fit_refit_model
from models.store import load_model, read_metadata, save_model
from models.strategy_model import PROBA_COLUMNS, StrategyModel

FIRST_TEST = pd.Timestamp("2021-10-01")
EVERY = 40


class SpyModel(StrategyModel):
    """A StrategyModel that remembers the last bar of the data it was fitted on."""

    def fit(self, bars, labels, hmm=None, hmm_bars=None):
        self.seen_until_ = bars.index.max()
        self.hmm_seen_until_ = hmm_bars.index.max()
        return super().fit(bars, labels, hmm=hmm, hmm_bars=hmm_bars)


@pytest.fixture(scope="module")
def setup(tiny_training):
    spec, data = tiny_training
    hmm_bars = data.hmm_bars[data.hmm_bars.index >= "2019-01-01"]  # a short HMM: fast

    def make_model():
        return SpyModel(lstm_config=spec.lstm, hmm_config=spec.hmm,
                        validation_fraction=spec.validation_fraction, embargo=spec.embargo)

    folds = refit_folds(data.bars.index, FIRST_TEST, EVERY)
    refit = fit_refit_model(data.bars, data.labels, make_model, folds, hmm_bars=hmm_bars)
    return data, hmm_bars, make_model, folds, refit


def test_refit_folds_cut_blocks_of_n_sessions():
    index = pd.bdate_range("2020-01-01", periods=300)
    folds = refit_folds(index, index[200], 30, embargo=2)
    assert [index.get_loc(f.test_start) for f in folds] == [200, 230, 260, 290]
    assert folds[-1].test_end == index[-1]
    for fold in folds:
        assert index.get_loc(fold.test_start) - index.get_loc(fold.train_end) == 3
        assert fold.train_start == index[0]
    expanding = refit_folds(index, index[200], 30, train_start=index[50])
    assert {f.train_start for f in expanding} == {index[50]}
    rolling = refit_folds(index, index[200], 30, window="rolling", train_bars=60)
    for fold in rolling:
        assert index.get_loc(fold.train_end) - index.get_loc(fold.train_start) == 59
    frame = pd.DataFrame({"x": np.arange(300)}, index=index)
    sliced = training_slice(frame, rolling[1], warmup=10)
    assert sliced.index[0] == index[index.get_loc(rolling[1].train_start) - 10]
    assert sliced.index[-1] == rolling[1].train_end
    with pytest.raises(DataError, match="at least 1"):
        refit_folds(index, index[200], 0)


def test_each_segment_model_never_saw_its_segment(setup):
    data, hmm_bars, make_model, folds, refit = setup
    assert len(folds) == 2 and len(refit.models) == 2
    assert refit.trained_until == refit.models[0].trained_until < FIRST_TEST
    for model, fold in zip(refit.models, folds, strict=True):
        assert model.seen_until_ < fold.test_start
        assert model.hmm_seen_until_ < fold.test_start
        assert model.trained_until < fold.test_start
    # a later model trains on more: through the bar before its own segment
    assert refit.models[1].seen_until_ == data.bars.index[
        data.bars.index.get_loc(folds[1].test_start) - 1]


def test_changing_the_segment_and_the_labels_reading_it_leaves_its_model_unchanged(setup):
    """Refit the second segment's model on data whose bars from its start on, and whose
    labels that read any of those bars, are different: the model must come out identical
    (the first segment's model is the one-model path, whose purge test_strategy_model
    covers; the spy test above checks its bars)."""
    data, hmm_bars, make_model, folds, refit = setup
    k = 1
    cut = folds[k].test_start

    def tamper(frame):
        frame = frame.copy()
        later = frame.index >= cut
        frame.loc[later, ["open", "high", "low", "close"]] *= 1.3
        frame.loc[later, "volume"] *= 3.0
        return frame

    labels = data.labels.copy()
    reads_later = (labels["label_end"] >= cut).to_numpy()
    labels.loc[reads_later, "label"] = (labels.loc[reads_later, "label"] + 1) % 3
    changed = reads_later & (labels.index < cut) & labels["label"].notna().to_numpy()
    assert changed.sum() >= 5  # labels of bars before the segment that purging must drop
    # the segments up to k again: k's HMM continues the one before it
    again = fit_refit_model(tamper(data.bars), labels, make_model, folds[:k + 1],
                            hmm_bars=tamper(hmm_bars))
    pd.testing.assert_frame_equal(again.models[k].predict_proba(data.bars),
                                  refit.models[k].predict_proba(data.bars))


def test_scores_switch_to_the_refitted_model_at_the_segment_start(setup):
    data, _, _, folds, refit = setup
    single = refit.models[0].predict_proba(data.bars)  # the model trained before the start
    scores = refit.predict_proba(data.bars)
    before = data.bars.index < folds[1].test_start
    pd.testing.assert_frame_equal(scores[before], single[before])
    after = scores.loc[~before, list(PROBA_COLUMNS)].to_numpy()
    assert np.isfinite(after).all()
    assert not np.allclose(after, single.loc[~before, list(PROBA_COLUMNS)].to_numpy())
    np.testing.assert_array_equal(
        after, refit.models[1].predict_proba(data.bars).loc[~before, list(PROBA_COLUMNS)])


class Record(bt.Strategy):
    params = (("model", None),)

    def __init__(self):
        self.ml = StrategySignal(self.data, model=self.p.model)
        self.rows = []

    def prenext(self):
        self.next()

    def next(self):
        self.rows.append([getattr(self.ml, n)[0] for n in PROBA_COLUMNS])


@pytest.mark.parametrize("runonce", [True, False], ids=["batch", "bar-by-bar"])
def test_strategy_signal_runs_the_refit_model_with_batch_values(setup, runonce):
    data, _, _, folds, refit = setup
    bars = data.bars.loc["2021-06-01":]  # both segments, with the warm-up before them
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce)
    cerebro.adddata(make_feed(bars, "SPY"))
    cerebro.addstrategy(Record, model=refit)
    rows = np.array(cerebro.run()[0].rows)
    batch = refit.predict_proba(bars)[list(PROBA_COLUMNS)].to_numpy()
    scored = bars.index[np.isfinite(rows[:, 0])]
    assert len(rows) == len(bars) and scored[0] < folds[1].test_start < scored[-1]
    # bar by bar, each segment's LSTM runs its live path (a numpy forward pass): the
    # batch's probabilities within 1e-5
    np.testing.assert_array_equal(np.isnan(rows), np.isnan(batch))
    np.testing.assert_allclose(rows, batch, rtol=0, atol=0 if runonce else 1e-5)


def test_a_model_trained_into_its_segment_is_refused(setup):
    data, _, _, folds, refit = setup
    with pytest.raises(DataError, match="was trained up to"):
        RefitModel([refit.models[1], refit.models[1]], folds)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(data.bars, "SPY"))
    cerebro.addstrategy(Record, model=object())
    with pytest.raises(ValueError, match="StrategySignal needs model"):
        cerebro.run()


def test_store_round_trip(setup, tmp_path):
    data, _, _, folds, refit = setup
    assert isinstance(refit, SignalModel)
    folder = save_model(refit, "refit", "spy", tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "segment_1",
                                                        "segment_2"]
    loaded = load_model(RefitModel, "latest", "refit", "spy", tmp_path)
    assert loaded.folds == folds
    pd.testing.assert_frame_equal(loaded.predict_frame(data.bars), refit.predict_frame(data.bars))
    assert read_metadata(folder)["training_window"]["end"] == f"{refit.trained_until:%Y-%m-%d}"
