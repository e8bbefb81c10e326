"""Causal features of daily bars for the direction model (seed 003's feature engineering).

Like ``models.features`` (whose price, volume and rolling helpers this module reuses), every
value at bar t is computed from the bars t - LOOKBACK + 1 .. t only, window by window, so it
is bit-identical whether the series starts years earlier or LOOKBACK bars earlier: that is
what lets the model score a whole series at once and one bar at a time with the same
numbers. The first LOOKBACK - 1 rows are NaN (warm-up).

Groups (one is used when the bars have its input columns with data; the model records the
groups and feature names it was trained on):

* price (OHLC): the returns, volatility, SMA 20/50, trend, RSI 14, MACD and range features of
  ``models.features``, plus close vs EMA 12/26 and EMA 12 vs 26, Stochastic %K 14 and %D 3,
  Bollinger %B and band width (20 bars, 2 sigma), and candlestick shape and pattern flags
  (signed body, upper/lower shadow as shares of the bar's range; doji, hammer, shooting
  star, bullish and bearish engulfing as 0/1);
* volume (volume): volume vs its 20- and 30-bar means, on-balance-volume share, and price
  impact (Amihud illiquidity: the 20-bar mean of |return| per dollar traded, as log10 of
  basis points per $1M);
* flow (put_call_ratio, option_volume_ratio, unusual_score): put/call ratio and its 10-bar
  mean, option volume vs its trailing mean, unusual-activity score and its 5-bar maximum;
* volume_oi (call_volume, put_volume, open_interest): option volume / open interest, and its
  10-bar mean;
* premium (call_premium, put_premium): total premium vs its 20-bar mean, the put share of
  the premium and its 10-bar mean;
* dark_pool (dark_pool_ratio, volume): dark-pool share of volume, its 10-bar mean and 20-bar
  z-score, dark-pool volume vs its 20-bar mean, and dark-pool price impact (20-bar mean of
  |return| per unit of relative dark-pool volume);
* filters (close): the HFT filters of ``models.kalman`` and ``models.regression_slope``,
  computed window by window like everything here: the Kalman trend's slope and noise over
  the last 60 bars, the close's gap to the trend in units of that noise, and the 20-bar
  regression slope of the log close (per bar) and its r2;
* iv (atm_iv): the 30-day at-the-money implied volatility, implied minus realized volatility
  (the 20-bar annualized standard deviation of log returns) and their ratio, the implied
  volatility's 5-bar log change and its 60-bar z-score (is the market pricing more or less
  risk than usual);
* iv_skew (call_iv, put_iv): put minus call implied volatility (the wing IVs of the source's
  surface) and its 10-bar mean;
* term structure: no source carries a second expiry's implied volatility, so there is no
  term-structure group yet (a source that adds one should add its group here);
* block (block_trade_ratio), opt-in only: the block-trade share of dark-pool volume and its
  10-bar mean. Only Unusual Whales bars carry it, for their last few months, and the
  backtrader feed has no such line, so it is used only when ``feature_groups`` names it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.domain import TRADING_DAYS
from core.errors import DataError
from models.features import GROUPS as BASE_GROUPS
from models.features import (
    _windows,
    feature_columns,
    feature_frame,
    has_column,
    lagged,
    rolling_mean,
    rolling_nanmean,
    rolling_std,
    truncated_ema,
)

CANDLE_FEATURES = ("candle_body", "upper_shadow", "lower_shadow", "doji", "hammer",
                   "shooting_star", "bullish_engulfing", "bearish_engulfing")
GROUPS: dict[str, tuple[str, ...]] = {
    "price": (*BASE_GROUPS["price"], "close_ema12", "close_ema26", "ema12_ema26", "stoch_k",
              "stoch_d", "bb_percent_b", "bb_width", *CANDLE_FEATURES),
    "volume": (*BASE_GROUPS["volume"], "price_impact"),
    "flow": ("put_call_ratio", "put_call_ratio_10", "option_volume_ratio", "unusual_score",
             "unusual_score_max5"),
    "volume_oi": ("volume_oi_ratio", "volume_oi_ratio_10"),
    "premium": ("premium_ratio", "put_premium_share", "put_premium_share_10"),
    "dark_pool": ("dark_pool_ratio", "dark_pool_ratio_10", "dark_pool_z20",
                  "dark_pool_volume_ratio", "dark_pool_impact"),
    "filters": ("kalman_slope", "kalman_noise", "kalman_gap", "regression_slope_20",
                "regression_r2_20"),
    "iv": ("atm_iv", "iv_minus_rv", "iv_rv_ratio", "iv_change_5", "iv_z60"),
    "iv_skew": ("iv_skew", "iv_skew_10"),
    "block": ("block_trade_ratio", "block_trade_ratio_10"),
}
GROUP_INPUTS: dict[str, tuple[str, ...]] = {
    "price": ("open", "high", "low", "close"),
    "volume": ("volume",),
    "flow": ("put_call_ratio", "option_volume_ratio", "unusual_score"),
    "volume_oi": ("call_volume", "put_volume", "open_interest"),
    "premium": ("call_premium", "put_premium"),
    "dark_pool": ("dark_pool_ratio", "volume"),
    "filters": ("close",),
    "iv": ("atm_iv", "close"),
    "iv_skew": ("call_iv", "put_iv"),
    "block": ("block_trade_ratio",),
}
#: groups used when the bars have them (``block`` only when asked for by name); a group whose
#: columns the bars lack (or hold only NaN in) is left out and the model records which it used
DEFAULT_GROUPS = ("price", "volume", "flow", "volume_oi", "premium", "dark_pool", "filters",
                  "iv", "iv_skew")
#: bars of the windowed Kalman filter (at most LOOKBACK) and of the regression slope
KALMAN_WINDOW, SLOPE_WINDOW = 60, 20


def available_groups(bars: pd.DataFrame, wanted=None) -> tuple[str, ...]:
    """The groups of ``wanted`` (default ``DEFAULT_GROUPS``) whose inputs the bars have with
    at least one value; a group named in ``wanted`` that the bars lack is a DataError."""
    explicit = wanted is not None
    wanted = tuple(wanted) if explicit else DEFAULT_GROUPS
    unknown = [g for g in wanted if g not in GROUPS]
    if unknown:
        raise DataError(f"unknown feature groups {', '.join(unknown)}; known: "
                        f"{', '.join(GROUPS)}")
    out = []
    for group in GROUPS:
        if group not in wanted and group != "price":
            continue
        have = all(has_column(bars, c) for c in GROUP_INPUTS[group])
        if have:
            out.append(group)
        elif explicit or group == "price":
            lacking = [c for c in GROUP_INPUTS[group] if not has_column(bars, c)]
            raise DataError(f"feature group {group!r} needs the bar columns "
                            f"{', '.join(lacking)}, which the data lacks")
    return tuple(out)


def feature_names(groups) -> tuple[str, ...]:
    return tuple(name for group in GROUPS if group in groups for name in GROUPS[group])


def input_columns(groups) -> tuple[str, ...]:
    """The bar columns the groups read, each once, in a fixed order."""
    out: list[str] = []
    for group in GROUPS:
        if group in groups:
            out += [c for c in GROUP_INPUTS[group] if c not in out]
    return tuple(out)


def _ratio(num: np.ndarray, den: np.ndarray, fill: float) -> np.ndarray:
    """num / den where den > 0, ``fill`` where den is 0 (NaN stays NaN)."""
    out = np.full(np.broadcast(num, den).shape, fill)
    ok = den > 0
    np.divide(num, den, out=out, where=ok)
    return np.where(np.isnan(num) | np.isnan(den), np.nan, out)


def direction_features(bars: pd.DataFrame, groups=None, from_row: int = 0) -> pd.DataFrame:
    """Feature frame on the bars' index (module docstring); ``groups`` defaults to
    ``available_groups(bars)``. Raises DataError on missing columns or bad closes.

    ``from_row``: rows before it may be left NaN where that saves work (the windowed Kalman
    filter, which reruns its window for every row: a stream needs only its newest row, and
    that row's value is the same whatever rows before it are skipped)."""
    groups = tuple(groups) if groups is not None else available_groups(bars)
    missing = [c for c in input_columns(groups) if c not in bars]
    if missing:
        raise DataError(f"bars lack the columns {', '.join(missing)} that the feature set needs")
    col = {c: bars[c].to_numpy(dtype=float) for c in input_columns(groups)}
    return feature_frame(direction_columns(col, bars.index, groups, from_row), bars.index,
                         feature_names(groups))


def direction_columns(col: dict[str, np.ndarray], dates, groups,
                      from_row: int = 0) -> dict[str, np.ndarray]:
    """``direction_features``' numbers as one array per feature name (warm-up rows not yet
    NaN: ``feature_frame`` blanks them) from the bar columns ``col`` (float arrays of
    ``input_columns(groups)`` on ``dates``, which name a bad close). A model's stream
    computes its newest bar's row from numpy columns through this: building pandas frames
    of 98 bars was most of a live decision."""
    f = feature_columns(col, dates, [g for g in ("price", "volume") if g in groups])
    close = col["close"]
    ret = np.concatenate([[np.nan], np.diff(np.log(close))])
    _price(f, col)
    if "volume" in groups:
        dollars = close * col["volume"]
        # a zero-volume bar (a vendor's gap: real NASDAQ data has two) is left out of the
        # mean instead of making the next 20 bars unusable
        impact = rolling_nanmean(_ratio(np.abs(ret), dollars, np.nan), 20)
        f["price_impact"] = np.log10(impact * 1e10 + 1e-6)  # bp per $1M, floored
    if "flow" in groups:
        f["put_call_ratio"] = col["put_call_ratio"]
        f["put_call_ratio_10"] = rolling_mean(col["put_call_ratio"], 10)
        f["option_volume_ratio"] = col["option_volume_ratio"]
        f["unusual_score"] = col["unusual_score"]
        f["unusual_score_max5"] = _windows(col["unusual_score"], 5).max(axis=1)
    if "volume_oi" in groups:
        ratio = _ratio(col["call_volume"] + col["put_volume"], col["open_interest"], 0.0)
        f["volume_oi_ratio"] = ratio
        f["volume_oi_ratio_10"] = rolling_mean(ratio, 10)
    if "premium" in groups:
        total = col["call_premium"] + col["put_premium"]
        f["premium_ratio"] = _ratio(total, rolling_mean(total, 20), 1.0)
        share = _ratio(col["put_premium"], total, 0.5)
        f["put_premium_share"] = share
        f["put_premium_share_10"] = rolling_mean(share, 10)
    if "dark_pool" in groups:
        dp = col["dark_pool_ratio"]
        f["dark_pool_ratio"] = dp
        f["dark_pool_ratio_10"] = rolling_mean(dp, 10)
        f["dark_pool_z20"] = _ratio(dp - rolling_mean(dp, 20), rolling_std(dp, 20), 0.0)
        dp_volume = dp * col["volume"]
        relative = _ratio(dp_volume, rolling_mean(dp_volume, 20), 1.0)
        f["dark_pool_volume_ratio"] = relative
        f["dark_pool_impact"] = rolling_mean(_ratio(np.abs(ret), relative, 0.0), 20)
    if "filters" in groups:
        _filters(f, close, from_row)
    if "iv" in groups:
        _implied_volatility(f, col["atm_iv"], ret)
    if "iv_skew" in groups:
        skew = col["put_iv"] - col["call_iv"]
        f["iv_skew"] = skew
        f["iv_skew_10"] = rolling_mean(skew, 10)
    if "block" in groups:
        f["block_trade_ratio"] = col["block_trade_ratio"]
        f["block_trade_ratio_10"] = rolling_mean(col["block_trade_ratio"], 10)
    return f


def _price(f: dict, col: dict) -> None:
    """EMA ratios, Stochastic, Bollinger and candlestick features (bars t and t-1 only for
    the candles)."""
    o, h, lo, c = col["open"], col["high"], col["low"], col["close"]
    ema12, ema26 = truncated_ema(c, 12, 24), truncated_ema(c, 26, 52)
    f["close_ema12"] = c / ema12 - 1.0
    f["close_ema26"] = c / ema26 - 1.0
    f["ema12_ema26"] = ema12 / ema26 - 1.0
    low14, high14 = _windows(lo, 14).min(axis=1), _windows(h, 14).max(axis=1)
    f["stoch_k"] = 100.0 * _ratio(c - low14, high14 - low14, 0.5)
    f["stoch_d"] = rolling_mean(f["stoch_k"], 3)
    windows = _windows(c, 20)
    mid, sd = windows.mean(axis=1), windows.std(axis=1, ddof=0)
    f["bb_percent_b"] = _ratio(c - (mid - 2.0 * sd), 4.0 * sd, 0.5)
    f["bb_width"] = 4.0 * sd / mid
    f.update(candlestick_features(o, h, lo, c))


def _implied_volatility(f: dict, iv: np.ndarray, ret: np.ndarray) -> None:
    """Implied volatility, its premium over realized volatility, its change and z-score."""
    realized = rolling_std(ret, 20) * np.sqrt(TRADING_DAYS)
    f["atm_iv"] = iv
    f["iv_minus_rv"] = iv - realized
    f["iv_rv_ratio"] = _ratio(iv, realized, 1.0)
    log_iv = np.log(np.where(iv > 0, iv, np.nan))
    f["iv_change_5"] = log_iv - lagged(log_iv, 5)
    f["iv_z60"] = _ratio(iv - rolling_mean(iv, 60), rolling_std(iv, 60), 0.0)


def _filters(f: dict, close: np.ndarray, from_row: int = 0) -> None:
    """Windowed Kalman trend and regression slope of the (checked) closes, NaN while the
    series is shorter than the windows. Each row of both reads its own window only (the
    Kalman values: a fresh filter over it; the slope: exact sums), so rows before
    ``from_row`` are skipped exactly."""
    from models.kalman import KalmanTrendFilter, kalman_trend_values
    from models.regression_slope import regression_slope_values

    nan = np.full(len(close), np.nan)
    newest = min(from_row, len(close) - 1)
    if len(close) >= KALMAN_WINDOW:
        first = max(newest, KALMAN_WINDOW - 1) - (KALMAN_WINDOW - 1)
        kalman = kalman_trend_values(close[first:], KalmanTrendFilter(window=KALMAN_WINDOW))
        trend, slope, noise = (np.concatenate([nan[:first], kalman[:, i]]) for i in range(3))
        f["kalman_slope"] = slope
        f["kalman_noise"] = noise
        f["kalman_gap"] = _ratio(np.log(close / trend), noise, 0.0)
    else:
        f["kalman_slope"] = f["kalman_noise"] = f["kalman_gap"] = nan
    if len(close) >= SLOPE_WINDOW:
        first = max(newest, SLOPE_WINDOW - 1) - (SLOPE_WINDOW - 1)
        slope = regression_slope_values(close[first:], SLOPE_WINDOW)
        f["regression_slope_20"] = np.concatenate([nan[:first], slope[:, 0]])
        f["regression_r2_20"] = np.concatenate([nan[:first], slope[:, 1]])
    else:
        f["regression_slope_20"] = f["regression_r2_20"] = nan


def candlestick_features(o, h, lo, c) -> dict[str, np.ndarray]:
    """Candle shape (shares of the bar's high-low range) and textbook pattern flags:
    doji (body <= 10 % of range), hammer (lower shadow >= 2 bodies, upper <= 10 % of range),
    shooting star (the mirror image), bullish engulfing (a down bar, then an up bar whose body
    covers it) and bearish engulfing (the mirror image)."""
    o, h, lo, c = (np.asarray(x, dtype=float) for x in (o, h, lo, c))
    span = h - lo
    body = c - o
    upper = h - np.maximum(o, c)
    lower = np.minimum(o, c) - lo
    size = np.abs(body)
    prev_o = np.concatenate([[np.nan], o[:-1]])
    prev_c = np.concatenate([[np.nan], c[:-1]])
    flag = lambda cond: cond.astype(float)  # noqa: E731
    return {
        "candle_body": _ratio(body, span, 0.0),
        "upper_shadow": _ratio(upper, span, 0.0),
        "lower_shadow": _ratio(lower, span, 0.0),
        "doji": flag(size <= 0.1 * span),
        "hammer": flag((lower >= 2.0 * size) & (upper <= 0.1 * span) & (span > 0)),
        "shooting_star": flag((upper >= 2.0 * size) & (lower <= 0.1 * span) & (span > 0)),
        "bullish_engulfing": flag((prev_c < prev_o) & (c > o) & (o <= prev_c) & (c >= prev_o)),
        "bearish_engulfing": flag((prev_c > prev_o) & (c < o) & (o >= prev_c) & (c <= prev_o)),
    }
