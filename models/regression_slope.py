"""Rolling linear-regression slope of the log price: the micro-trend, and how well a line fits.

Over the last ``window`` bars (t - window + 1 .. t) an ordinary least-squares line
log(close) = a + slope * k is fitted against the bar number k, so

    slope = sum_k (k - kbar) (y_k - ybar) / sum_k (k - kbar)^2      (log return per bar)
    r2    = slope^2 * sum_k (k - kbar)^2 / sum_k (y_k - ybar)^2     (share of variance explained)

The slope of the log price is already normalized: 0.001 means the fitted line rises 0.1 %
per bar whatever the price level. A window of constant prices has slope 0 and r2 0 (no
trend to explain). The first ``window - 1`` bars are NaN.

Every value is computed from its own window (no running sums carried from bar to bar) with
``math.fsum``, whose sums are correctly rounded whatever the order, so the value at bar t
is bit-identical in ``regression_slope`` (a whole series) and ``RegressionSlopeFilter.update``
(one bar at a time), and does not depend on where the series starts.
"""

from __future__ import annotations

import math
import operator
from collections import deque

import numpy as np
import pandas as pd

from models.kalman import check_positive_int, check_price, check_prices

REGRESSION_COLUMNS = ("slope", "r2")


class RegressionSlopeFilter:
    """``update(close)`` returns (slope, r2) of the last ``window`` log closes (NaN until
    there are ``window`` of them)."""

    columns = REGRESSION_COLUMNS

    def __init__(self, window: int = 20):
        self.window = check_positive_int("window", window, 2)
        self.warmup_bars = self.window
        centre = (self.window - 1) / 2.0
        self._k = [k - centre for k in range(self.window)]
        self._sxx = math.fsum(k * k for k in self._k)
        self._logs: deque[float] = deque(maxlen=self.window)

    def update(self, close: float) -> tuple[float, float]:
        self._logs.append(math.log(check_price(close, "RegressionSlopeFilter")))
        if len(self._logs) < self.window:
            return (math.nan, math.nan)
        mean = math.fsum(self._logs) / self.window
        dev = [y - mean for y in self._logs]
        # the same rounded products as k * d and d * d, without a generator's frame a term
        slope = math.fsum(map(operator.mul, self._k, dev)) / self._sxx
        sst = math.fsum(map(operator.mul, dev, dev))
        r2 = min(1.0, slope * slope * self._sxx / sst) if sst > 0 else 0.0
        return (slope, r2)


def regression_slope(close: pd.Series, window: int = 20) -> pd.DataFrame:
    """Rolling OLS slope (log return per bar) and r2 of log(close) over ``window`` bars,
    indexed like ``close``; row t uses closes t - window + 1 .. t. Raises DataError on NaN
    or non-positive prices or a series shorter than the window, ValueError on window < 2."""
    stream = RegressionSlopeFilter(window)
    values = check_prices(close, "regression_slope", stream.warmup_bars)
    return pd.DataFrame(regression_slope_values(values, window), index=close.index,
                        columns=stream.columns)


def regression_slope_values(values: np.ndarray, window: int = 20) -> np.ndarray:
    """``regression_slope``'s rows as an array (slope, r2) of closes already checked
    (``check_prices``): for callers that hold numpy columns. Each row reads its own window
    only, so a tail of the closes gives the same rows as the whole series.

    Every window at once, with the float operations of ``RegressionSlopeFilter.update``:
    the logs through ``math.log``, each sum through ``math.fsum`` (one call per window and
    sum), and between them numpy's elementwise subtractions, products and divisions, which
    round exactly as Python's do; so the rows are the filter's bit for bit (tested), in
    about 60 % of its time (no Python step per bar)."""
    stream = RegressionSlopeFilter(window)
    n = stream.window
    out = np.full((len(values), len(stream.columns)), np.nan)
    if len(values) < n:
        return out
    logs = np.array([math.log(v) for v in values.tolist()])  # checked by the caller
    windows = np.lib.stride_tricks.sliding_window_view(logs, n)
    mean = np.array([math.fsum(w) for w in windows.tolist()]) / n
    dev = windows - mean[:, None]
    slope = np.array([math.fsum(p) for p in (np.array(stream._k) * dev).tolist()]) / stream._sxx
    sst = np.array([math.fsum(p) for p in (dev * dev).tolist()])
    with np.errstate(divide="ignore", invalid="ignore"):
        fit = np.minimum(1.0, slope * slope * stream._sxx / sst)
    out[n - 1:, 0] = slope
    out[n - 1:, 1] = np.where(sst > 0, fit, 0.0)
    return out
