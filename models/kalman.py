"""A Kalman filter for the trend of a price: level, slope and the noise around them, causal.

The model is the local linear trend of the log price z_t = log(close_t):

    z_t     = level_t + e_t,                       e_t ~ N(0, R_t)   (measurement noise)
    level_t = level_{t-1} + slope_{t-1} + u_t,     u_t ~ N(0, level_ratio * R)
    slope_t = slope_{t-1} + w_t,                   w_t ~ N(0, slope_ratio * R)

How the noises are set (both causal):

* **measurement noise R_t** is estimated from the filter's own innovations (the surprise
  i_t = z_t - predicted level): an exponentially weighted mean of i_t^2 over ``noise_span``
  bars estimates the innovation variance S = H P H' + R, so R_t = that mean minus the
  filter's own state variance H P H' (never below ``MIN_NOISE_SHARE`` of the mean, nor below
  ``NOISE_FLOOR``^2). It reads bars <= t only.
* **process noise Q** is fixed ratios of R (``level_ratio``, ``slope_ratio``, parameters):
  the ratios alone set how fast the trend and the slope may turn (the filter's gain), so the
  same parameters mean the same smoothness for a calm and a wild stock.

Outputs per bar: ``kalman_trend`` = exp(level) (price units, to draw on the price chart),
``kalman_slope`` = slope (log return per bar of the trend), ``kalman_noise`` = sqrt(R_t) (std
of the noise around the trend, as a fraction of price). The first bar only starts the
filter (level = z_0, slope 0 with a diffuse variance), so its outputs are NaN.

``KalmanTrendFilter.update`` steps the recursion one bar; ``kalman_trend`` runs the same
object over a series, so batch and bar-by-bar values are bit-identical. The covariance
update is Joseph's form, which keeps P symmetric and positive in floating point.

A recursion remembers (fading) every bar since it started, so its value at t depends a
little on where the series starts. With ``window=W`` the filter instead restarts on the
last W bars at every bar: the value at t reads bars t - W + 1 .. t only and is the same
whether the series starts years or W bars earlier, like ``models.features`` (use this for
model features that are computed window by window); it costs W steps per bar.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd

from core.errors import DataError

#: R never drops below this share of the innovation variance (young filter: H P H' is large)
MIN_NOISE_SHARE = 0.05
#: absolute floor of the noise std (log units): a constant price must not divide by zero
NOISE_FLOOR = 1e-10
#: prior variance of the slope at the first bar (log return per bar): diffuse
SLOPE_PRIOR_VAR = 1.0

KALMAN_COLUMNS = ("kalman_trend", "kalman_slope", "kalman_noise")


def check_positive_int(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, else a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_ratio(name: str, value) -> float:
    """``value`` as a finite float >= 0, else a ValueError naming the parameter."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}") from None
    if not math.isfinite(out) or out < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return out


def check_price(value: float, what: str) -> float:
    """A price as a float, or a DataError when it is NaN, infinite or not positive."""
    price = float(value)
    if not math.isfinite(price) or price <= 0:
        raise DataError(f"{what}: price {price!r} is not a positive finite number")
    return price


def check_prices(series: pd.Series, what: str, min_bars: int) -> np.ndarray:
    """The series as floats, or a DataError naming the first bad date or the length."""
    if not isinstance(series, pd.Series):
        raise DataError(f"{what}: expected a pandas Series of prices, got {type(series).__name__}")
    values = series.to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        when = series.index[int(np.argmax(bad))]
        label = f"{when:%Y-%m-%d}" if isinstance(when, pd.Timestamp) else repr(when)
        raise DataError(f"{what}: {series.name or 'price'} is NaN, infinite or not positive "
                        f"on {label}")
    if len(values) < min_bars:
        raise DataError(f"{what}: needs at least {min_bars} bars, got {len(values)}")
    return values


def ew_alpha(span: int) -> float:
    """Weight of the newest value in an exponentially weighted mean over ``span`` bars."""
    return 2.0 / (span + 1.0)


def ew_update(mean: float | None, value: float, alpha: float) -> float:
    """One step of an exponentially weighted mean (None: ``value`` starts it); both filters
    track their innovation variance with it, so their noise estimates follow one rule."""
    if mean is None:
        return value
    return mean + alpha * (value - mean)


def noise_variance(innovation_var: float, state_var: float) -> float:
    """Measurement noise R from the innovation variance S and the filter's H P H'."""
    return max(innovation_var - state_var, MIN_NOISE_SHARE * innovation_var, NOISE_FLOOR ** 2)


def joseph_update(state: tuple[float, float], cov: tuple[float, float, float],
                  h: tuple[float, float], z: float, r: float):
    """One Kalman measurement update of a 2-state filter with observation z = h . state + e.

    ``cov`` is (P11, P12, P22). Returns (new state, new cov, innovation, H P H').
    Plain float arithmetic in a fixed order: the same inputs give the same bits."""
    p11, p12, p22 = cov
    h1, h2 = h
    ph1 = p11 * h1 + p12 * h2
    ph2 = p12 * h1 + p22 * h2
    hph = h1 * ph1 + h2 * ph2
    innovation = z - (h1 * state[0] + h2 * state[1])
    s = hph + r
    k1, k2 = ph1 / s, ph2 / s
    a11, a12, a21, a22 = 1.0 - k1 * h1, -k1 * h2, -k2 * h1, 1.0 - k2 * h2
    m11, m12 = a11 * p11 + a12 * p12, a11 * p12 + a12 * p22
    m21, m22 = a21 * p11 + a22 * p12, a21 * p12 + a22 * p22
    new_cov = (m11 * a11 + m12 * a12 + r * k1 * k1,
               m11 * a21 + m12 * a22 + r * k1 * k2,
               m21 * a21 + m22 * a22 + r * k2 * k2)
    new_state = (state[0] + k1 * innovation, state[1] + k2 * innovation)
    return new_state, new_cov, innovation, hph


def innovation_of(state: tuple[float, float], cov: tuple[float, float, float],
                  h: tuple[float, float], z: float) -> tuple[float, float]:
    """The innovation z - h . state and the filter's variance of it, H P H'."""
    p11, p12, p22 = cov
    h1, h2 = h
    hph = h1 * (p11 * h1 + p12 * h2) + h2 * (p12 * h1 + p22 * h2)
    return z - (h1 * state[0] + h2 * state[1]), hph


class KalmanTrendFilter:
    """The local-linear-trend filter one bar at a time: ``update(close)`` returns
    (kalman_trend, kalman_slope, kalman_noise) for that bar (see the module docstring)."""

    columns = KALMAN_COLUMNS

    def __init__(self, level_ratio: float = 0.01, slope_ratio: float = 1e-4,
                 noise_span: int = 20, window: int | None = None):
        self.level_ratio = check_ratio("level_ratio", level_ratio)
        self.slope_ratio = check_ratio("slope_ratio", slope_ratio)
        self.noise_span = check_positive_int("noise_span", noise_span, 1)
        self.window = None if window is None else check_positive_int("window", window, 2)
        #: bars up to and including the first non-NaN output
        self.warmup_bars = self.window or 2
        self._recent: deque[float] = deque(maxlen=self.window or 1)
        self._alpha = ew_alpha(self.noise_span)
        self._state: tuple[float, float] | None = None
        self._cov = (0.0, 0.0, SLOPE_PRIOR_VAR)
        self._innovation_var: float | None = None
        self._noise_var = 0.0  # R of the previous bar (0 before the first innovation)

    def update(self, close: float) -> tuple[float, float, float]:
        if self.window is not None:
            return self._update_windowed(close)
        z = math.log(check_price(close, "KalmanTrendFilter"))
        if self._state is None:
            self._state = (z, 0.0)
            return (math.nan, math.nan, math.nan)
        level, slope = self._state
        p11, p12, p22 = self._cov
        q = self._noise_var
        # predict: level += slope; P = F P F' + Q (Q from the latest noise estimate)
        prior = (level + slope, slope)
        cov = (p11 + 2.0 * p12 + p22 + self.level_ratio * q, p12 + p22,
               p22 + self.slope_ratio * q)
        innovation, hph = innovation_of(prior, cov, (1.0, 0.0), z)
        self._innovation_var = ew_update(self._innovation_var, innovation * innovation,
                                         self._alpha)
        r = noise_variance(self._innovation_var, hph)
        self._state, self._cov, _, _ = joseph_update(prior, cov, (1.0, 0.0), z, r)
        self._noise_var = r
        return (math.exp(self._state[0]), self._state[1], math.sqrt(r))

    def _update_windowed(self, close: float) -> tuple[float, float, float]:
        self._recent.append(check_price(close, "KalmanTrendFilter"))
        if len(self._recent) < self.window:
            return (math.nan, math.nan, math.nan)
        fresh = KalmanTrendFilter(self.level_ratio, self.slope_ratio, self.noise_span)
        for price in self._recent:
            out = fresh.update(price)
        return out


def run_filter(stream, inputs: list[np.ndarray]) -> np.ndarray:
    """Step ``stream.update`` over aligned input arrays: one row of outputs per bar."""
    n = len(inputs[0])
    out = np.full((n, len(stream.columns)), np.nan)
    for i, row in enumerate(zip(*(a.tolist() for a in inputs), strict=True)):
        out[i] = stream.update(*row)
    return out


def kalman_trend(close: pd.Series, *, level_ratio: float = 0.01, slope_ratio: float = 1e-4,
                 noise_span: int = 20, window: int | None = None) -> pd.DataFrame:
    """Kalman trend, slope and noise of every bar (columns ``KALMAN_COLUMNS``), indexed like
    ``close``; row t uses closes <= t only (with ``window``: closes t - window + 1 .. t).
    Raises DataError on NaN / non-positive prices or fewer bars than the warm-up,
    ValueError on bad parameters."""
    stream = KalmanTrendFilter(level_ratio, slope_ratio, noise_span, window)
    values = check_prices(close, "kalman_trend", stream.warmup_bars)
    return pd.DataFrame(kalman_trend_values(values, stream), index=close.index,
                        columns=stream.columns)


def kalman_trend_values(values: np.ndarray, stream: KalmanTrendFilter) -> np.ndarray:
    """``kalman_trend``'s rows as an array (columns ``stream.columns``) of closes already
    checked (``check_prices``) by a fresh ``stream``: for callers that hold numpy
    columns, such as a model's stream computing one bar's features."""
    if stream.window is not None:
        return windowed_trend(values, stream)
    return run_filter(stream, [values])


#: below this many windows ``windowed_trend`` runs the windowed filter bar by bar
FEW_WINDOWS = 16


def windowed_trend(values: np.ndarray, stream: KalmanTrendFilter) -> np.ndarray:
    """Every bar's windowed filter at once: the ``window`` steps of a fresh filter run on
    all windows together, element by element. Each element sees exactly the float
    operations of ``KalmanTrendFilter.update`` in the same order (logs and exps through
    ``math``, as the stream takes them), so the rows are bit-identical to bar by bar, at
    ``window`` vectorised steps instead of ``window`` Python steps per bar.

    Fewer than ``FEW_WINDOWS`` windows (a stream's newest row) go bar by bar through a
    fresh windowed filter instead (``run_filter``): the same operations on floats, without
    some forty numpy calls per step on arrays of one element (3 ms a row for 80 steps,
    against 0.2 ms)."""
    W, n = stream.window, len(values)
    if n - W + 1 < FEW_WINDOWS:
        fresh = KalmanTrendFilter(stream.level_ratio, stream.slope_ratio, stream.noise_span, W)
        return run_filter(fresh, [values])
    out = np.full((n, len(stream.columns)), np.nan)
    logs = np.array([math.log(v) for v in values.tolist()])
    count = n - W + 1  # windows ending at bars W-1 .. n-1
    lr, sr, alpha = stream.level_ratio, stream.slope_ratio, stream._alpha
    level, slope = logs[:count].copy(), np.zeros(count)
    p11, p12, p22 = np.zeros(count), np.zeros(count), np.full(count, SLOPE_PRIOR_VAR)
    q = np.zeros(count)
    innovation_var = None
    h1, h2 = 1.0, 0.0
    for k in range(1, W):
        z = logs[k:k + count]
        prior0, prior1 = level + slope, slope
        c11, c12, c22 = p11 + 2.0 * p12 + p22 + lr * q, p12 + p22, p22 + sr * q
        hph = h1 * (c11 * h1 + c12 * h2) + h2 * (c12 * h1 + c22 * h2)
        innovation = z - (h1 * prior0 + h2 * prior1)
        squared = innovation * innovation
        innovation_var = (squared if innovation_var is None
                          else innovation_var + alpha * (squared - innovation_var))
        r = np.maximum(np.maximum(innovation_var - hph, MIN_NOISE_SHARE * innovation_var),
                       NOISE_FLOOR ** 2)
        # joseph_update, term for term
        ph1 = c11 * h1 + c12 * h2
        ph2 = c12 * h1 + c22 * h2
        hph_j = h1 * ph1 + h2 * ph2
        innovation_j = z - (h1 * prior0 + h2 * prior1)
        s = hph_j + r
        k1, k2 = ph1 / s, ph2 / s
        a11, a12, a21, a22 = 1.0 - k1 * h1, -k1 * h2, -k2 * h1, 1.0 - k2 * h2
        m11, m12 = a11 * c11 + a12 * c12, a11 * c12 + a12 * c22
        m21, m22 = a21 * c11 + a22 * c12, a21 * c12 + a22 * c22
        p11 = m11 * a11 + m12 * a12 + r * k1 * k1
        p12 = m11 * a21 + m12 * a22 + r * k1 * k2
        p22 = m21 * a21 + m22 * a22 + r * k2 * k2
        level, slope = prior0 + k1 * innovation_j, prior1 + k2 * innovation_j
        q = r
    out[W - 1:, 0] = [math.exp(x) for x in level.tolist()]
    out[W - 1:, 1] = slope
    out[W - 1:, 2] = [math.sqrt(x) for x in q.tolist()]
    return out
