"""Causal volatility estimates for sources that have prices but no option quotes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.domain import TRADING_DAYS

#: Implied volatility runs above realized on average (the variance risk premium); this is
#: the stated ratio used where no implied volatility is known.
IMPLIED_OVER_REALIZED = 1.15
#: the volatility of a first bar, which has no return to estimate one from
FIRST_BAR_VOLATILITY = 0.2


def ewma_volatility(close: pd.Series, decay: float = 0.94) -> pd.Series:
    """RiskMetrics EWMA volatility, annualised; the value at t uses returns up to t only."""
    returns = np.log(close).diff()
    variance = returns.pow(2).ewm(alpha=1.0 - decay, adjust=False).mean()
    vol = np.sqrt(variance * TRADING_DAYS)
    # the first bar has no return: a stated prior (its next bar's estimate, which this
    # once took, is not known on the day)
    return vol.fillna(FIRST_BAR_VOLATILITY)


def implied_volatility_estimate(close: pd.Series) -> pd.Series:
    """A 30-day implied volatility stand-in: EWMA realized volatility x IMPLIED_OVER_REALIZED."""
    return (ewma_volatility(close) * IMPLIED_OVER_REALIZED).clip(lower=0.05)
