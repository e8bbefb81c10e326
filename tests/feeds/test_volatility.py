"""The volatility stand-ins of sources without option quotes are causal."""

from __future__ import annotations

import numpy as np
import pandas as pd

from feeds.volatility import FIRST_BAR_VOLATILITY, ewma_volatility, implied_volatility_estimate


def _closes() -> pd.Series:
    rng = np.random.default_rng(5)
    index = pd.bdate_range("2020-01-02", periods=60)
    return pd.Series(100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 60))), index=index)


def test_no_value_depends_on_a_later_bar():
    """Each bar's estimate is the same with every later close moved (the first bar once took
    its next bar's estimate)."""
    close = _closes()
    for cut in (0, 1, 30):
        moved = close.copy()
        moved.iloc[cut + 1:] *= 1.10
        for estimate in (ewma_volatility, implied_volatility_estimate):
            pd.testing.assert_series_equal(estimate(moved).iloc[:cut + 1],
                                           estimate(close).iloc[:cut + 1])


def test_the_first_bar_has_the_stated_prior():
    assert ewma_volatility(_closes()).iloc[0] == FIRST_BAR_VOLATILITY
