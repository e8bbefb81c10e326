"""Whole-series scores are cached per model object: computed once, never shared between
models, and dropped with their model."""

import gc

import numpy as np
import pandas as pd

from indicators import model_cache


class Counting:
    """A model whose score is its own constant, counting the calls."""

    def __init__(self, value: float):
        self.value, self.calls = value, 0

    def score(self, bars: pd.DataFrame) -> pd.DataFrame:
        self.calls += 1
        return pd.DataFrame({"p": np.full(len(bars), self.value)}, index=bars.index)


def bars(n=5, shift=0.0):
    index = pd.bdate_range("2024-01-01", periods=n)
    return pd.DataFrame({"close": np.arange(n) + 100.0 + shift}, index=index)


def test_scores_are_computed_once_per_model_and_data():
    model = Counting(0.5)
    first = model_cache.cached_scores(model, bars(), model.score)
    again = model_cache.cached_scores(model, bars(), model.score)
    assert model.calls == 1 and np.array_equal(first, again)
    model_cache.cached_scores(model, bars(shift=0.01), model.score)
    assert model.calls == 2  # other data, other entry


def test_models_never_share_scores_and_take_them_away_when_collected():
    one, two = Counting(0.1), Counting(0.9)
    assert model_cache.cached_scores(one, bars(), one.score)[0, 0] == 0.1
    assert model_cache.cached_scores(two, bars(), two.score)[0, 0] == 0.9
    gc.collect()  # models earlier tests left in reference cycles go first, not during the count
    held = len(model_cache._BY_MODEL)
    del one
    gc.collect()
    assert len(model_cache._BY_MODEL) == held - 1
    model_cache.clear()
    assert len(model_cache._BY_MODEL) == 0
