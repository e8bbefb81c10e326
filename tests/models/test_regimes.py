"""The HMM regime classifier: filtered (causal) probabilities that recover the sample
market's hidden regimes, names by the stated rule, and clear errors."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from core.errors import DataError
from models.features import LOOKBACK, build_features
from models.regimes import MarketStateClassifier, RegimeFilter, name_states


@pytest.fixture(scope="module")
def fitted(sample_market):
    bars = sample_market.bars("SPY", "2012-01-01", "2023-12-29")
    feats = build_features(bars).iloc[LOOKBACK - 1:]
    model = MarketStateClassifier(n_init=2).fit(feats[feats.index < "2021-01-01"])
    return bars, feats, model


def test_filtered_regimes_recover_the_true_regimes(fitted):
    bars, feats, model = fitted
    truth = bars["true_regime"].reindex(feats.index).to_numpy()
    predicted = model.predict_states(feats).to_numpy()
    ari = adjusted_rand_score(truth, predicted)
    accuracy = float((truth == predicted).mean())  # names by the rule, no relabelling
    print(f"regime recovery on SPY 2012-2023: ARI {ari:.3f}, named accuracy {accuracy:.3f}")
    assert ari > 0.35 and accuracy > 0.55
    shuffled = np.random.default_rng(0).permutation(predicted)
    assert adjusted_rand_score(truth, shuffled) < 0.05  # what a broken classifier gets


def test_filtered_probabilities_are_causal_and_smoothed_ones_are_not(fitted):
    _, feats, model = fitted
    short, full = feats.iloc[:600], feats
    pd.testing.assert_frame_equal(model.filtered_state_probabilities(short),
                                  model.filtered_state_probabilities(full).iloc[:600])
    smoothed_short = model.smoothed_state_probabilities(short).to_numpy()
    smoothed_full = model.smoothed_state_probabilities(full).iloc[:600].to_numpy()
    assert np.abs(smoothed_short - smoothed_full).max() > 1e-6  # hmmlearn reads the future


def test_bar_by_bar_filter_matches_the_batch_exactly(fitted):
    _, feats, model = fitted
    batch = model.filtered_state_probabilities(feats.iloc[:300]).to_numpy()
    live = RegimeFilter(model)
    rows = np.array([live.update(feats.iloc[i]) for i in range(300)])
    np.testing.assert_array_equal(rows, batch)


def test_fitting_twice_gives_the_same_model(fitted):
    _, feats, model = fitted
    again = MarketStateClassifier(n_init=2).fit(feats[feats.index < "2021-01-01"])
    np.testing.assert_array_equal(again.hmm_.means_, model.hmm_.means_)
    assert again.state_names_ == model.state_names_


def test_naming_rule():
    names = name_states(np.array([0.6, -0.5, 0.1, 0.25, -0.02]),
                        np.array([0.40, 0.34, 0.09, 0.15, 0.11]))
    assert names == ["high_volatility_rally", "high_volatility_downtrend",
                     "low_volatility_uptrend", "momentum_uptrend", "consolidation"]


def test_errors(fitted):
    _, feats, _ = fitted
    with pytest.raises(RuntimeError, match="not fitted"):
        MarketStateClassifier().filtered_state_probabilities(feats)
    with pytest.raises(DataError, match="at least 120 bars"):
        MarketStateClassifier().fit(feats.iloc[:50])
    with pytest.raises(DataError, match="at least two"):
        MarketStateClassifier().fit(feats[["ret_1", "rsi_14"]])
    with pytest.raises(ValueError, match="n_components=5"):
        MarketStateClassifier(n_components=3)


def test_as_a_signal_model_batch_equals_bar_by_bar(fitted):
    bars, feats, model = fitted
    assert model.trained_until == feats[feats.index < "2021-01-01"].index[-1]
    frame = model.predict_frame(bars.iloc[:200])
    stream = model.stream()
    live = np.array([stream.update(day, bar) for day, bar in bars.iloc[:200].iterrows()])
    np.testing.assert_array_equal(live, frame.to_numpy())
    assert np.isnan(live[:LOOKBACK - 1]).all() and np.isfinite(live[LOOKBACK - 1:]).all()
    probs = model.filtered_state_probabilities(feats.iloc[:200 - LOOKBACK + 1]).to_numpy()
    np.testing.assert_array_equal(frame.to_numpy()[LOOKBACK - 1:, 1:], probs)
