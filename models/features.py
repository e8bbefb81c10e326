"""Causal features of daily bars for the regime and strategy models.

Every feature at bar t is a function of the bars t - LOOKBACK + 1 .. t only, computed over
each trailing window on its own (``numpy.lib.stride_tricks.sliding_window_view``), never by
a running sum or an exponential recursion over the whole history. So the value at t is the
same, bit for bit, whether the series starts ten years earlier or LOOKBACK bars earlier:
that is what lets an indicator compute the whole series at once (backtrader ``once``) or
the newest bar from a short tail (``next``) and get identical numbers. Exponential averages
(MACD) use weights truncated to a finite window for the same reason.

Groups (a group is used when the bars have its columns with data):

* price: log returns over 1/5/10/20 bars, realized volatility over 10/20 bars, volatility
  ratio 10/60, close relative to SMA 20 and 50, SMA 20 vs 50, 20-bar trend slope in units
  of volatility, RSI 14 (simple averages), MACD histogram / close, high-low range;
* volume: volume relative to its 20-bar mean, 10-bar vs 30-bar mean volume, 20-bar on-balance-volume share (the signed
  volume of the window over its total volume);
* options: ATM/call/put implied volatility, IV skew, ATM IV minus realized volatility,
  put/call ratio (and its 10-bar mean), option volume ratio, 5-bar open-interest change;
* flow: unusual-activity score, dark-pool share (and its 10-bar mean);
* calendar: CPI and consumer-confidence release days, sessions since the last CPI release
  (capped at 30).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from core.domain import TRADING_DAYS
from core.errors import DataError

#: bars a feature looks back at most (the first LOOKBACK - 1 rows are NaN)
LOOKBACK = 80

GROUPS: dict[str, tuple[str, ...]] = {
    "price": ("ret_1", "ret_5", "ret_10", "ret_20", "vol_10", "vol_20", "vol_ratio", "close_sma20",
              "close_sma50", "sma20_sma50", "trend_slope", "rsi_14", "macd_hist", "range_10"),
    "volume": ("volume_ratio", "volume_ratio_10", "obv_share"),
    "options": ("atm_iv", "call_iv", "put_iv", "iv_skew", "iv_minus_rv", "put_call_ratio",
                "put_call_ratio_10", "option_volume_ratio", "oi_change_5"),
    "flow": ("unusual_score", "dark_pool_ratio", "dark_pool_ratio_10"),
    "calendar": ("cpi_release", "consumer_confidence_release", "days_since_cpi"),
}
#: the bar columns each optional group needs
GROUP_INPUTS: dict[str, tuple[str, ...]] = {
    "price": ("open", "high", "low", "close"),
    "volume": ("volume",),
    "options": ("atm_iv", "call_iv", "put_iv", "put_call_ratio", "option_volume_ratio",
                "open_interest"),
    "flow": ("unusual_score", "dark_pool_ratio"),
    "calendar": ("cpi_release", "consumer_confidence_release"),
}
#: every bar column a feature group may read (OHLCV and, when present, the extra feed lines)
INPUT_COLUMNS = ("open", "high", "low", "close", "volume", "atm_iv", "call_iv", "put_iv",
                 "put_call_ratio", "option_volume_ratio", "open_interest", "unusual_score",
                 "dark_pool_ratio", "cpi_release", "consumer_confidence_release")
#: what the regime classifier reads, in order of preference: the ones the bars have (at
#: least the return and volatility, which every source has)
HMM_FEATURES = ("ret_10", "vol_10", "volume_ratio_10", "put_call_ratio_10",
                "dark_pool_ratio_10", "atm_iv")


def _windows(values: np.ndarray, n: int) -> np.ndarray:
    """(T, n) trailing windows, rows before the first full window filled with NaN."""
    out = np.full((len(values), n), np.nan)
    if len(values) >= n:
        out[n - 1:] = sliding_window_view(values, n)
    return out


def lagged(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` ``n`` rows back, NaN for the first ``n`` rows (all of them in a series
    shorter than that, which is all warm-up)."""
    out = np.full(len(values), np.nan)
    out[n:] = values[:-n] if len(values) > n else values[:0]
    return out


def rolling_mean(values: np.ndarray, n: int) -> np.ndarray:
    return _windows(values, n).mean(axis=1)


def rolling_nanmean(values: np.ndarray, n: int) -> np.ndarray:
    """The mean of the finite values of each window (NaN when none is): for inputs where a
    bar may be missing, e.g. a day the data vendor reports with zero volume."""
    with np.errstate(invalid="ignore", divide="ignore"):
        windows = _windows(values, n)
        finite = np.isfinite(windows)
        return np.where(finite, windows, 0.0).sum(axis=1) / finite.sum(axis=1)


def rolling_std(values: np.ndarray, n: int) -> np.ndarray:
    return _windows(values, n).std(axis=1, ddof=1)


def rolling_sum(values: np.ndarray, n: int) -> np.ndarray:
    return _windows(values, n).sum(axis=1)


def truncated_ema(values: np.ndarray, span: int, window: int) -> np.ndarray:
    """EMA with weights ``(1 - a)**k`` for the last ``window`` bars, normalized."""
    alpha = 2.0 / (span + 1.0)
    weights = (1.0 - alpha) ** np.arange(window - 1, -1, -1)
    return _weighted(_windows(values, window), weights / weights.sum())


def _slope(values: np.ndarray, n: int) -> np.ndarray:
    x = np.arange(n) - (n - 1) / 2.0
    return _weighted(_windows(values, n), x / (x * x).sum())


def _weighted(windows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise weighted sums without BLAS, whose blocking can change the last bit of a
    row with the number of rows (and the values must not depend on the series length)."""
    return (windows * weights[None, :]).sum(axis=1)


def has_column(bars: pd.DataFrame, column: str) -> bool:
    """Whether the bars carry ``column`` with at least one value: a volume of zeros on
    every bar (FX files, old index exports) carries none (the volume features would divide
    by its zero mean)."""
    if column not in bars or not bars[column].notna().any():
        return False
    return column != "volume" or bool((bars[column].fillna(0) != 0).any())


def available_groups(bars: pd.DataFrame) -> tuple[str, ...]:
    """Groups whose input columns the bars have, with at least one value each."""
    out = []
    for group, columns in GROUP_INPUTS.items():
        if all(has_column(bars, c) for c in columns):
            out.append(group)
    if "price" not in out:
        raise DataError("features need open, high, low and close columns")
    return tuple(out)


def feature_names(groups) -> tuple[str, ...]:
    return tuple(name for group in GROUPS if group in groups for name in GROUPS[group])


def build_features(bars: pd.DataFrame, groups=None) -> pd.DataFrame:
    """Feature frame on the bars' index (see the module docstring). ``groups`` defaults to
    every group the bars have; the first LOOKBACK - 1 rows are NaN (warm-up)."""
    groups = tuple(groups) if groups is not None else available_groups(bars)
    _require_inputs(bars, groups)
    col = {c: bars[c].to_numpy(dtype=float)
           for c in ("close", *(c for g in groups for c in GROUP_INPUTS[g]))}
    return feature_frame(feature_columns(col, bars.index, groups), bars.index,
                         feature_names(groups))


def feature_columns(col: dict[str, np.ndarray], dates, groups) -> dict[str, np.ndarray]:
    """``build_features``' numbers as one array per feature name (warm-up rows not yet
    NaN: ``feature_frame`` blanks them) from the bar columns ``col`` (float arrays on
    ``dates``, which name a bad close): a model's stream computes its newest bar's features
    from numpy columns through this, without a pandas frame per bar."""
    close = col["close"]
    if np.any(~np.isfinite(close)) or np.any(close <= 0):
        bad = dates[int(np.flatnonzero(~np.isfinite(close) | (close <= 0))[0])]
        raise DataError(f"close is NaN or not positive on {bad:%Y-%m-%d}")
    log_close = np.log(close)
    ret = np.concatenate([[np.nan], np.diff(log_close)])
    f: dict[str, np.ndarray] = {}
    if "price" in groups:
        _price_features(f, col, close, log_close, ret)
    if "volume" in groups:
        volume = col["volume"]
        f["volume_ratio"] = volume / rolling_mean(volume, 20)
        f["volume_ratio_10"] = rolling_mean(volume, 10) / rolling_mean(volume, 30)
        f["obv_share"] = rolling_sum(np.sign(np.nan_to_num(ret)) * volume, 20) / rolling_sum(
            volume, 20)
    if "options" in groups:
        f["atm_iv"], f["call_iv"], f["put_iv"] = col["atm_iv"], col["call_iv"], col["put_iv"]
        f["iv_skew"] = col["put_iv"] - col["call_iv"]
        f["iv_minus_rv"] = col["atm_iv"] - rolling_std(ret, 20) * np.sqrt(TRADING_DAYS)
        f["put_call_ratio"] = col["put_call_ratio"]
        f["put_call_ratio_10"] = rolling_mean(col["put_call_ratio"], 10)
        f["option_volume_ratio"] = col["option_volume_ratio"]
        oi = col["open_interest"]
        f["oi_change_5"] = oi / lagged(oi, 5) - 1.0
    if "flow" in groups:
        f["unusual_score"] = col["unusual_score"]
        f["dark_pool_ratio"] = col["dark_pool_ratio"]
        f["dark_pool_ratio_10"] = rolling_mean(f["dark_pool_ratio"], 10)
    if "calendar" in groups:
        cpi = np.nan_to_num(col["cpi_release"])
        f["cpi_release"] = cpi
        f["consumer_confidence_release"] = np.nan_to_num(col["consumer_confidence_release"])
        f["days_since_cpi"] = _days_since(cpi, cap=30) / 30.0
    return f


def feature_frame(f: dict, index: pd.Index, names) -> pd.DataFrame:
    """The columns ``names`` of ``f`` as a frame on ``index``, the first LOOKBACK - 1 rows
    NaN (one warm-up length for every feature). Built column by column in order, not by
    selecting from a wider frame: a stream builds one per bar, and pandas' selection and
    row assignment were most of its cost."""
    columns = {}
    for name in names:
        column = np.array(f[name], dtype=float)  # a copy: never writes into the bars
        column[: LOOKBACK - 1] = np.nan
        columns[name] = column
    return pd.DataFrame(columns, index=index)


def _price_features(f, col, close, log_close, ret) -> None:
    high, low = col["high"], col["low"]
    f["ret_1"] = ret
    f["ret_5"] = log_close - lagged(log_close, 5)
    f["ret_10"] = log_close - lagged(log_close, 10)
    f["ret_20"] = log_close - lagged(log_close, 20)
    annual = np.sqrt(TRADING_DAYS)
    f["vol_10"] = rolling_std(ret, 10) * annual
    f["vol_20"] = rolling_std(ret, 20) * annual
    f["vol_ratio"] = f["vol_10"] / (rolling_std(ret, 60) * annual)
    sma20, sma50 = rolling_mean(close, 20), rolling_mean(close, 50)
    f["close_sma20"] = close / sma20 - 1.0
    f["close_sma50"] = close / sma50 - 1.0
    f["sma20_sma50"] = sma20 / sma50 - 1.0
    f["trend_slope"] = _slope(log_close, 20) / (rolling_std(ret, 20) + 1e-12)
    gains = rolling_mean(np.maximum(np.nan_to_num(ret), 0.0), 14)
    losses = rolling_mean(np.maximum(-np.nan_to_num(ret), 0.0), 14)
    f["rsi_14"] = 100.0 * gains / (gains + losses + 1e-12)
    macd = truncated_ema(close, 12, 24) - truncated_ema(close, 26, 52)
    signal = np.full(len(close), np.nan)
    valid = np.flatnonzero(np.isfinite(macd))
    if len(valid):
        signal[valid[0]:] = truncated_ema(macd[valid[0]:], 9, 18)
    f["macd_hist"] = (macd - signal) / close
    f["range_10"] = rolling_mean((high - low) / close, 10)


def _days_since(events: np.ndarray, cap: int) -> np.ndarray:
    """Sessions since the last event within the last ``cap`` sessions (``cap`` if none)."""
    window = _windows(events, cap + 1)[:, ::-1]  # column k = k sessions ago
    hit = window > 0
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), cap).astype(float)
    first[np.isnan(window).any(axis=1)] = np.nan
    return first


def newest_features(col: dict[str, np.ndarray], dates, groups) -> dict[str, float]:
    """``build_features(window.frame(), groups)``'s last row, name -> value, computed from
    a window's numpy columns ``col`` on ``dates`` (``BarWindow.arrays`` and ``dates``,
    through ``feature_columns``): the same numbers and the same refusal of missing columns,
    without the pandas frames a stream would otherwise build per bar."""
    _require_inputs(col, groups)
    f = feature_columns(col, dates, groups)
    return {name: float(f[name][-1]) for name in feature_names(groups)}


def lacks(columns, column: str) -> bool:
    """Whether bars (a frame, or a window's numpy columns) lack ``column``: a frame lacks
    one it holds without a value, as a backtest feed's line of a column the source does not
    have reads NaN on every bar (so the refusal names every such column, not the first NaN
    as a gap on one date)."""
    if column not in columns:
        return True
    return isinstance(columns, pd.DataFrame) and not columns[column].notna().any()


def _require_inputs(columns, groups) -> None:
    """Refuse bars (a frame, or a window's numpy columns) lacking a column ``groups`` read."""
    missing = [c for g in groups for c in GROUP_INPUTS[g] if lacks(columns, c)]
    if missing:
        raise DataError(f"bars lack the columns {', '.join(missing)} that the feature set needs")


def check_finite_row(values, names, date, what: str = "features") -> None:
    """``check_finite`` of one row (``values`` named ``names``, on ``date``): the same
    DataError naming the first column that is NaN or infinite."""
    bad = ~np.isfinite(np.asarray(values, dtype=float))
    if bad.any():
        raise DataError(f"{what}: {list(names)[int(np.argmax(bad))]} is NaN or infinite on "
                        f"{date:%Y-%m-%d} (missing input data there?)")


def check_finite(frame: pd.DataFrame, what: str = "features") -> None:
    """Raise a DataError naming the first column and date with NaN or infinite values."""
    values = frame.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{what}: {frame.columns[col]} is NaN or infinite on "
                        f"{frame.index[row]:%Y-%m-%d} (missing input data there?)")


def groups_for(names) -> tuple[str, ...]:
    """The feature groups that produce ``names`` (always including price)."""
    wanted = {g for g, cols in GROUPS.items() if any(n in cols for n in names)} | {"price"}
    return tuple(g for g in GROUPS if g in wanted)


class BarWindow:
    """The last ``size`` bars fed one at a time (a dict or Series of bar columns each), as
    the frame a model's stream computes the newest bar's features from: features at t read
    bars t - LOOKBACK + 1 .. t only, so this tail gives the batch's numbers."""

    def __init__(self, columns: tuple[str, ...], size: int = LOOKBACK):
        self.columns = tuple(columns)
        self.bars: deque = deque(maxlen=size)
        self.dates: deque = deque(maxlen=size)
        # the same bars as tuples in ``columns`` order (NaN where a bar lacks one), for
        # ``arrays``
        self.values: deque = deque(maxlen=size)

    def append(self, date, bar) -> bool:
        """Add one bar; whether the window is full."""
        self.dates.append(pd.Timestamp(date))
        row = {c: float(bar[c]) for c in self.columns if c in bar}
        self.bars.append(row)
        self.values.append(tuple(row.get(c, np.nan) for c in self.columns))
        return len(self.bars) == self.bars.maxlen

    def arrays(self) -> dict[str, np.ndarray]:
        """The columns of ``frame()`` (those some bar of the window has) as float arrays,
        NaN where a bar lacks one: the same numbers without a pandas frame, for streams
        that compute their newest bar's features from numpy columns (``newest_features``,
        ``models.direction_features.direction_columns``)."""
        block = np.array(self.values, dtype=float).reshape(len(self.values), -1).T.copy()
        present = set().union(*self.bars)  # the columns of ``frame()``
        return {c: values for c, values in zip(self.columns, block, strict=True)
                if c in present}

    def state(self) -> tuple:
        """The window's bars, to put back with ``restore`` (a stream's ``peek``)."""
        return tuple(deque(q, q.maxlen) for q in (self.bars, self.dates, self.values))

    def restore(self, state: tuple) -> None:
        self.bars, self.dates, self.values = state

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.bars), index=pd.DatetimeIndex(list(self.dates)))
