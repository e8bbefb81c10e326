"""Leak tests: a model that cannot learn a label planted into its own inputs cannot learn
anything subtler. A bar column that feeds a feature unchanged is overwritten with the class
code plus small noise, aligned so the feature row of bar t (the last row of t's window)
carries t's label; every model must then score held-out bars with accuracy >= 0.9.

The strategy LSTM goes through the whole ``StrategyModel`` path (features, HMM, scaler,
windows, purged early stopping) at its default architecture with test-sized epochs; the
direction system through ``DirectionModel.fit``, whose walk-forward evaluation table scores
every member and both meta-models on blocks none of them trained on.
"""

import numpy as np
import pandas as pd
import pytest

from models.direction_model import DirectionConfig, DirectionModel
from models.lstm import LSTMConfig
from models.regimes import HMMConfig
from models.strategy_model import StrategyModel
from models.triple_barrier import triple_barrier_labels

NOISE = 0.1


def planted(bars: pd.DataFrame, labels: np.ndarray, column: str = "unusual_score",
            seed: int = 0) -> pd.DataFrame:
    """``bars`` with ``column`` = the class code of each bar (NEUTRAL where unknown) plus
    Gaussian noise of sd NOISE."""
    rng = np.random.default_rng(seed)
    out = bars.copy()
    out[column] = np.nan_to_num(labels, nan=1.0) + NOISE * rng.standard_normal(len(bars))
    return out


@pytest.fixture(scope="module")
def strategy_leak(sample_market):
    """Three classes drawn at random per bar, each known 5 bars later, planted into
    ``unusual_score``; trained to 2021-12-31, scored on the first half of 2022."""
    bars = sample_market.bars("SPY", "2019-06-01", "2022-06-30")
    rng = np.random.default_rng(7)
    label = rng.integers(0, 3, len(bars)).astype(float)
    ends = bars.index[np.minimum(np.arange(len(bars)) + 5, len(bars) - 1)]
    labels = pd.DataFrame({"label": label, "label_end": ends}, index=bars.index)
    return planted(bars, label), labels, pd.Timestamp("2021-12-31")


def test_the_strategy_lstm_learns_a_planted_label(strategy_leak):
    bars, labels, cut = strategy_leak
    train = bars.index <= cut
    # the default network; patient training controls (the plant must be found, not the
    # stopping rule tested)
    config = LSTMConfig(epochs=60, patience=15, min_epochs=10, learning_rate=0.003)
    model = StrategyModel(config, HMMConfig(n_init=1), head="lstm").fit(bars[train],
                                                                   labels[train])
    proba = model.predict_proba(bars).loc[~train, ["p_hold", "p_call", "p_put"]].to_numpy()
    truth = labels.loc[~train, "label"].to_numpy()
    assert len(truth) > 100 and np.isfinite(proba).all()
    accuracy = (proba.argmax(axis=1) == truth).mean()
    assert accuracy >= 0.9, f"held-out accuracy {accuracy:.3f} on a planted label"


def test_the_same_lstm_without_the_plant_stays_near_chance(strategy_leak, sample_market):
    """The control: the same labels, the real ``unusual_score``: nothing to learn, so the
    accuracy above comes from the planted column, not from a bug that reads the label."""
    bars, labels, cut = strategy_leak
    real = sample_market.bars("SPY", "2019-06-01", "2022-06-30")
    bars = bars.assign(unusual_score=real["unusual_score"])
    train = bars.index <= cut
    config = LSTMConfig(epochs=15, patience=5)
    model = StrategyModel(config, HMMConfig(n_init=1), head="lstm").fit(bars[train],
                                                                   labels[train])
    proba = model.predict_proba(bars).loc[~train, ["p_hold", "p_call", "p_put"]].to_numpy()
    truth = labels.loc[~train, "label"].to_numpy()
    assert (proba.argmax(axis=1) == truth).mean() < 0.5


#: small but able: enough trees that the random forest's feature subsets meet the planted
#: column, enough epochs (lr 0.003) for the keras members to move, and AdamW's weight decay
#: so that they generalise from about 1,000 windows of ~60 columns, of which one carries the
#: label: without it the LSTM member memorised the others and reached 0.84-0.94 held-out
#: depending on the seed (8 units; 16 units: about 0.9), with it 0.93-0.99 over seeds 42, 7,
#: 3 and 11 (the GRU 0.97-0.99)
LEAK_DIRECTION = dict(n_estimators=100, max_depth=2, rf_max_depth=6, units=16, epochs=30,
                      patience=5, nn_learning_rate=0.003, nn_weight_decay=1.0,
                      sequence_length=5, tcn_dilations=(1, 2), n_folds=2, batch_size=32,
                      min_train_samples=50)


@pytest.fixture(scope="module")
def planted_direction(sample_market):
    """Five years of bars: on the tests' usual 21 months (about 240 training windows for
    the evaluated block) the keras members memorise the other ~60 features and stay at
    0.4-0.65 held-out accuracy, where a logistic regression reaches 0.91; with about 1,000
    windows (and weight decay, ``LEAK_DIRECTION``) every keras member passes."""
    config = DirectionConfig(**LEAK_DIRECTION)
    bars = sample_market.bars("SPY", "2017-01-03", "2021-12-31")
    labels = triple_barrier_labels(bars["close"], config.horizon, config.profit_take,
                                   config.stop_loss, config.volatility_window)["label"]
    model = DirectionModel(config).fit(planted(bars, labels.to_numpy()))
    return config, model.evaluation_


def test_every_direction_member_and_meta_model_learns_a_planted_label(planted_direction):
    config, table = planted_direction
    learners = [*config.members, "meta", "meta_bayes"]
    assert "lstm" in learners
    assert table.loc[learners, "n"].min() > 50
    low = table.loc[learners, "accuracy"][lambda a: a < 0.9]
    assert low.empty, f"held-out accuracy below 0.9 on a planted label: {low.to_dict()}"
    assert table.loc["majority", "accuracy"] < 0.7  # the plant, not the class balance
