"""Listed-option conventions: the strike grid, the default spread width, OCC symbols."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

_NICE_STEPS = np.array([0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0])


def strike_step(spot: float) -> float:
    """Strike spacing of a listed chain: the smallest round step of at least spot / 200."""
    i = int(np.searchsorted(_NICE_STEPS, spot / 200.0))
    return float(_NICE_STEPS[min(i, len(_NICE_STEPS) - 1)])


def default_width(price: float) -> float:
    """Spread width the strategies and labels use by default: one strike step of the listed
    grid at ``price``, at least $5."""
    step = strike_step(price)
    return step * max(1, int(np.ceil(5.0 / step - 1e-9)))


def occ_symbol(root: str, expiry, right: str, strike: float) -> str:
    """OCC option symbol, e.g. ``SPY251219P00650000``."""
    day = expiry if type(expiry) is dt.date else pd.Timestamp(expiry)
    return (f"{root}{day.year % 100:02d}{day.month:02d}{day.day:02d}{right}"
            f"{int(round(strike * 1000)):08d}")
