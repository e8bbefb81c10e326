"""Statistical arbitrage signals, causal: options-implied vs realized move, and a pairs spread.

(a) **Implied vs realized move** of one symbol. The option market's at-the-money implied
volatility (``atm_iv``, annualized) prices a move over the next ``horizon`` sessions of

    implied_move_t  = atm_iv_t * sqrt(horizon / 252)
    realized_move_t = sqrt(sum of the last ``horizon`` squared daily log returns)

(the second is what the stock actually moved over the same length of time just past).
``divergence`` = implied - realized; ``zscore`` is the divergence against its own mean and
standard deviation over the last ``window`` bars (including t). A large positive z: options
price far more movement than the stock has been making (rich premium); a large negative z:
options are cheap against realized movement. A bar without an IV gives NaN there (and in the
z-scores whose window holds it).

(b) **Pairs spread** between y and x with a time-varying hedge ratio: y_t = alpha_t +
beta_t x_t + e_t, with (alpha, beta) a random walk estimated by a Kalman filter. Prices are
divided by their first value inside the filter (so the parameters mean the same for any
price level) and the results scaled back. Process noise is fixed ratios of the measurement
noise (``alpha_ratio``, ``beta_ratio``: how fast the intercept and the hedge ratio may
drift); the measurement noise is estimated from the innovations as in ``models.kalman``.
``hedge_ratio`` and ``intercept`` at t are the estimates from bars before t (the ratio in
force when bar t arrives), ``spread`` = y_t - intercept - hedge_ratio * x_t (the one-step
prediction error, not yet absorbed by the filter), ``zscore`` = the spread against its mean
and standard deviation over the last ``window`` bars. Bar 0 starts the filter (beta =
y_0 / x_0, alpha = 0, diffuse), so its outputs are NaN.

Each comes as a class that steps one bar (``update``) and a batch function that runs that
same class over a series, so the two agree to the bit. Rolling statistics are recomputed
per window with ``math.fsum`` (correctly rounded), never carried as running sums.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd

from core.domain import TRADING_DAYS
from core.errors import DataError
from models.kalman import (
    check_positive_int,
    check_price,
    check_prices,
    check_ratio,
    ew_alpha,
    ew_update,
    innovation_of,
    joseph_update,
    noise_variance,
    run_filter,
)

DIVERGENCE_COLUMNS = ("implied_move", "realized_move", "divergence", "zscore")
PAIRS_COLUMNS = ("hedge_ratio", "intercept", "spread", "zscore")
#: prior variance of the normalized intercept and hedge ratio at bar 0: diffuse
PAIRS_PRIOR_VAR = 1.0


class RollingZScore:
    """z-score of each new value against the last ``window`` values (itself included);
    NaN until ``window`` finite values, and while any of them is NaN."""

    def __init__(self, window: int):
        self.window = check_positive_int("window", window, 2)
        self._values: deque[float] = deque(maxlen=self.window)

    def update(self, value: float) -> float:
        self._values.append(value)
        if len(self._values) < self.window or not all(map(math.isfinite, self._values)):
            return math.nan
        mean = math.fsum(self._values) / self.window
        var = math.fsum((v - mean) ** 2 for v in self._values) / (self.window - 1)
        return (value - mean) / math.sqrt(var) if var > 0 else math.nan


class ImpliedMoveDivergenceFilter:
    """``update(close, atm_iv)`` returns (implied_move, realized_move, divergence, zscore)."""

    columns = DIVERGENCE_COLUMNS

    def __init__(self, horizon: int = 20, window: int = 60):
        self.horizon = check_positive_int("horizon", horizon, 1)
        self.window = check_positive_int("window", window, 2)
        #: the first bar with a z-score is bar horizon + window - 1
        self.warmup_bars = self.horizon + self.window
        self._scale = math.sqrt(self.horizon / TRADING_DAYS)
        self._returns: deque[float] = deque(maxlen=self.horizon)
        self._last_log: float | None = None
        self._zscore = RollingZScore(self.window)

    def update(self, close: float, atm_iv: float) -> tuple[float, float, float, float]:
        log_close = math.log(check_price(close, "ImpliedMoveDivergenceFilter"))
        iv = float(atm_iv)
        if iv < 0 or math.isinf(iv):
            raise DataError(f"ImpliedMoveDivergenceFilter: atm_iv {iv!r} is negative or "
                            f"infinite")
        if self._last_log is not None:
            self._returns.append(log_close - self._last_log)
        self._last_log = log_close
        implied = iv * self._scale  # NaN when the bar has no IV
        realized = math.nan
        if len(self._returns) == self.horizon:
            realized = math.sqrt(math.fsum(r * r for r in self._returns))
        divergence = implied - realized
        if len(self._returns) < self.horizon:
            return (implied, realized, divergence, math.nan)  # z windows start when full
        return (implied, realized, divergence, self._zscore.update(divergence))


def implied_realized_divergence(bars: pd.DataFrame, horizon: int = 20,
                                window: int = 60) -> pd.DataFrame:
    """Implied vs realized move (columns ``DIVERGENCE_COLUMNS``) of every bar, indexed like
    ``bars``, from its ``close`` and ``atm_iv`` columns; row t uses bars <= t only. Raises
    DataError when ``atm_iv`` is missing or never set, on bad closes or negative IVs, or on
    fewer than horizon + window bars; ValueError on bad parameters."""
    stream = ImpliedMoveDivergenceFilter(horizon, window)
    if "close" not in bars or "atm_iv" not in bars:
        raise DataError("implied_realized_divergence: bars need close and atm_iv columns "
                        "(a source with option implied volatility)")
    close = check_prices(bars["close"], "implied_realized_divergence", stream.warmup_bars)
    iv = bars["atm_iv"].to_numpy(dtype=float)
    if not np.isfinite(iv).any():
        raise DataError("implied_realized_divergence: atm_iv has no value (the source has no "
                        "option implied volatility)")
    negative = np.isinf(iv) | (iv < 0)
    if negative.any():
        when = bars.index[int(np.argmax(negative))]
        label = f"{when:%Y-%m-%d}" if isinstance(when, pd.Timestamp) else repr(when)
        raise DataError(f"implied_realized_divergence: atm_iv is negative or infinite on "
                        f"{label}")
    return pd.DataFrame(run_filter(stream, [close, iv]), index=bars.index,
                        columns=stream.columns)


class PairsSpreadFilter:
    """``update(y, x)`` returns (hedge_ratio, intercept, spread, zscore) of y against x."""

    columns = PAIRS_COLUMNS

    def __init__(self, window: int = 60, alpha_ratio: float = 1e-4, beta_ratio: float = 1e-3,
                 noise_span: int = 20):
        self.window = check_positive_int("window", window, 2)
        self.alpha_ratio = check_ratio("alpha_ratio", alpha_ratio)
        self.beta_ratio = check_ratio("beta_ratio", beta_ratio)
        self.noise_span = check_positive_int("noise_span", noise_span, 1)
        #: bar 0 starts the filter; the first z-score is at bar ``window``
        self.warmup_bars = self.window + 1
        self._alpha = ew_alpha(self.noise_span)
        self._scale: tuple[float, float] | None = None  # (y_0, x_0)
        self._state = (0.0, 1.0)
        self._cov = (PAIRS_PRIOR_VAR, 0.0, PAIRS_PRIOR_VAR)
        self._innovation_var: float | None = None
        self._noise_var = 0.0
        self._zscore = RollingZScore(self.window)

    def update(self, y: float, x: float) -> tuple[float, float, float, float]:
        y = check_price(y, "PairsSpreadFilter (y)")
        x = check_price(x, "PairsSpreadFilter (x)")
        if self._scale is None:
            self._scale = (y, x)
            return (math.nan, math.nan, math.nan, math.nan)
        y0, x0 = self._scale
        yn, xn = y / y0, x / x0
        q = self._noise_var
        p11, p12, p22 = self._cov
        cov = (p11 + self.alpha_ratio * q, p12, p22 + self.beta_ratio * q)  # random walk
        prior = self._state
        innovation, hph = innovation_of(prior, cov, (1.0, xn), yn)
        self._innovation_var = ew_update(self._innovation_var, innovation * innovation,
                                         self._alpha)
        r = noise_variance(self._innovation_var, hph)
        self._state, self._cov, _, _ = joseph_update(prior, cov, (1.0, xn), yn, r)
        self._noise_var = r
        hedge_ratio, intercept = prior[1] * y0 / x0, prior[0] * y0
        spread = innovation * y0
        return (hedge_ratio, intercept, spread, self._zscore.update(spread))


def pairs_spread(y: pd.Series, x: pd.Series, window: int = 60, *, alpha_ratio: float = 1e-4,
                 beta_ratio: float = 1e-3, noise_span: int = 20) -> pd.DataFrame:
    """Kalman hedge ratio, intercept, spread and its rolling z-score (``PAIRS_COLUMNS``) of
    y (e.g. one symbol's closes) against x (another's), indexed like ``y``; row t uses bars
    <= t only. The two series must share their index. Raises DataError on NaN or
    non-positive prices, mismatched indexes or fewer than window + 1 bars."""
    stream = PairsSpreadFilter(window, alpha_ratio, beta_ratio, noise_span)
    if not isinstance(x, pd.Series) or not isinstance(y, pd.Series) or not y.index.equals(
            x.index):
        raise DataError("pairs_spread: y and x must be pandas Series on the same index "
                        "(align the two symbols' sessions first)")
    y_values = check_prices(y, "pairs_spread (y)", stream.warmup_bars)
    x_values = check_prices(x, "pairs_spread (x)", stream.warmup_bars)
    return pd.DataFrame(run_filter(stream, [y_values, x_values]), index=y.index,
                        columns=stream.columns)
