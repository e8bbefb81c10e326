"""StrategySignal and RegimeIndicator: identical under every engine setting (batch `once`
and bar-by-bar `next`), causal, and equal to the models they wrap."""

import copy

import numpy as np
import pandas as pd
import pytest

from indicators.regime import PROBABILITY_LINES, RegimeIndicator
from indicators.strategy_signal import StrategySignal

ENGINE_SETTINGS = [
    pytest.param(dict(preload=True, runonce=True), id="preload-runonce"),
    pytest.param(dict(preload=True, runonce=False), id="preload-next"),
    pytest.param(dict(preload=False, runonce=False), id="streaming"),
    pytest.param(dict(preload=True, runonce=False, exactbars=1), id="exactbars"),
]
SIGNAL_LINES = ("signal", "p_hold", "p_call", "p_put", "direction", "confidence", "regime")


def watch_both(model):
    def watch(strategy):
        ml = StrategySignal(strategy.data, model=model)
        regime = RegimeIndicator(strategy.data, model=model.hmm_)
        return ({n: getattr(ml, n) for n in SIGNAL_LINES}
                | {f"hmm.{n}": getattr(regime, n) for n in ("regime", *PROBABILITY_LINES)})
    return watch


@pytest.fixture(scope="module")
def bars(sample_market):
    return sample_market.bars("SPY", "2022-01-03", "2022-09-30")


@pytest.fixture(scope="module")
def reference(record_lines, tiny_model, bars):
    return record_lines(watch_both(tiny_model), bars, preload=True, runonce=True)


@pytest.mark.parametrize("engine", ENGINE_SETTINGS[1:])
def test_every_engine_setting_gives_the_same_lines(record_lines, tiny_model, bars, reference,
                                                   engine):
    # the streaming settings score through the model's live path (numpy forward passes):
    # the batch's lines within 1e-5
    pd.testing.assert_frame_equal(record_lines(watch_both(tiny_model), bars, **engine),
                                  reference, check_exact=False, rtol=0, atol=1e-5)


@pytest.mark.parametrize("engine", ENGINE_SETTINGS[:3])
def test_appending_bars_changes_nothing_before(record_lines, tiny_model, bars, reference,
                                               engine):
    short = record_lines(watch_both(tiny_model), bars.iloc[:120], **engine)
    pd.testing.assert_frame_equal(short, reference.loc[short.index], check_exact=False,
                                  rtol=0, atol=1e-5)  # streaming: the live path


def test_lines_are_the_models_numbers(tiny_model, bars, reference):
    scores = tiny_model.predict_proba(bars)
    scored = scores["p_hold"].notna().to_numpy()
    assert scored.sum() > 60 and reference["signal"].isna().to_numpy()[~scored].all()
    np.testing.assert_array_equal(reference["p_put"].to_numpy()[scored],
                                  scores["p_put"].to_numpy()[scored])
    probs = scores[["p_hold", "p_call", "p_put"]].to_numpy()[scored]
    # the call is the action with the best expected return, its confidence that class's
    # probability
    expected = scores[["ev_hold", "ev_call", "ev_put"]].to_numpy()[scored]
    assert np.isfinite(expected).all()
    calls = expected.argmax(axis=1)
    np.testing.assert_array_equal(reference["signal"].to_numpy()[scored], calls)
    direction = np.array([0.0, -1.0, 1.0])[calls]
    np.testing.assert_array_equal(reference["direction"].to_numpy()[scored], direction)
    np.testing.assert_array_equal(reference["confidence"].to_numpy()[scored],
                                  probs[np.arange(len(probs)), calls])
    # the standalone regime indicator starts its filter at the same bar: same numbers
    hmm = reference[[f"hmm.{n}" for n in PROBABILITY_LINES]].to_numpy()
    ml = scores[[f"p_{n[2:]}" for n in PROBABILITY_LINES]].to_numpy()
    both = np.isfinite(hmm).all(axis=1)
    assert both.sum() > 100
    np.testing.assert_array_equal(hmm[both], ml[both])


def test_a_model_that_calls_by_probability_gives_the_most_probable_class(record_lines,
                                                                        tiny_model, bars):
    by_probability = copy.copy(tiny_model)
    by_probability.decision = "probability"
    scores = by_probability.predict_proba(bars)
    scored = scores["p_hold"].notna().to_numpy()
    assert scores[["ev_hold", "ev_call", "ev_put"]].isna().all(axis=None)
    lines = record_lines(watch_both(by_probability), bars, preload=True, runonce=True)
    probs = scores[["p_hold", "p_call", "p_put"]].to_numpy()[scored]
    np.testing.assert_array_equal(lines["signal"].to_numpy()[scored], probs.argmax(axis=1))
