"""Triple-barrier labels for next-period direction (Lopez de Prado, *Advances in Financial
Machine Learning*, 3), with the ``label_end`` that purging needs (``models.folds``).

For bar t, with ``sigma_t`` the standard deviation of the daily log returns of the
``volatility_window`` bars up to t (trailing, so known at t's close), the barriers are

    upper = log(close_t) + profit_take * sigma_t * sqrt(horizon)
    lower = log(close_t) - stop_loss   * sigma_t * sqrt(horizon)

and the label is BUY (2) if the closes t+1 .. t+horizon reach the upper barrier first, SELL
(0) if they reach the lower one first, NEUTRAL (1) if neither is reached by the time barrier
t + horizon. Barriers are checked on closes (a high and a low of one bar cannot say which
was touched first). ``label_end`` is the bar where the label became known: the first touch,
or t + horizon. A label is NaN (unknown) when the data ends before either; it never reads a
bar after ``label_end``.

Training on bars before a validation block must drop every sample whose label window
``[t, label_end]`` reaches into the block (purge), and the samples close to it (embargo):
``models.folds.purge_and_embargo`` does both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.features import rolling_std

SELL, NEUTRAL, BUY = 0, 1, 2


def trailing_volatility(close: pd.Series, window: int) -> np.ndarray:
    """Standard deviation of the last ``window`` daily log returns up to each bar (NaN
    before the first full window)."""
    log_close = np.log(np.asarray(close, dtype=float))
    ret = np.concatenate([[np.nan], np.diff(log_close)])
    return rolling_std(ret, window)


def triple_barrier_labels(close: pd.Series, horizon: int = 10, profit_take: float = 1.0,
                          stop_loss: float = 1.0, volatility_window: int = 20,
                          volatility: pd.Series | np.ndarray | None = None) -> pd.DataFrame:
    """Labels for every bar of ``close`` (module docstring). ``volatility`` overrides the
    trailing daily volatility (same index).

    Columns: ``label`` (0 SELL, 1 NEUTRAL, 2 BUY, NaN unknown), ``touch`` (+1 upper, -1
    lower, 0 time barrier), ``ret`` (log return from t to ``label_end``), ``upper`` and
    ``lower`` (the barriers as log returns from t), ``label_end`` (NaT when unknown) and
    ``end_row`` (its row number, -1 when unknown).
    """
    if horizon < 1:
        raise ValueError("horizon must be at least 1 bar")
    index = pd.DatetimeIndex(close.index)
    log_close = np.log(close.to_numpy(dtype=float))
    n = len(log_close)
    sigma = (trailing_volatility(close, volatility_window) if volatility is None
             else np.asarray(volatility, dtype=float))
    scale = sigma * np.sqrt(horizon)
    upper, lower = profit_take * scale, -stop_loss * scale
    # path[t, k-1] = log return from t to t + k (NaN past the data)
    padded = np.concatenate([log_close, np.full(horizon, np.nan)])
    path = np.lib.stride_tricks.sliding_window_view(padded[1:], horizon)[:n] - log_close[:, None]
    with np.errstate(invalid="ignore"):
        up_hit = path >= upper[:, None]
        down_hit = path <= lower[:, None]
    k = np.arange(1, horizon + 1)
    first_up = np.where(up_hit.any(axis=1), k[up_hit.argmax(axis=1)], horizon + 1)
    first_down = np.where(down_hit.any(axis=1), k[down_hit.argmax(axis=1)], horizon + 1)
    touched = np.minimum(first_up, first_down) <= horizon
    steps = np.where(touched, np.minimum(first_up, first_down), horizon)
    rows = np.arange(n)
    end_row = rows + steps
    valid = (scale > 0) & np.isfinite(scale) & (end_row <= n - 1)
    touch = np.where(first_up < first_down, 1, np.where(first_down < first_up, -1, 0))
    label = np.where(touch > 0, BUY, np.where(touch < 0, SELL, NEUTRAL)).astype(float)
    label[~valid] = np.nan
    end_row = np.where(valid, end_row, -1)
    ret = np.full(n, np.nan)
    ret[valid] = log_close[end_row[valid]] - log_close[valid]
    label_end = pd.DatetimeIndex(np.where(valid, index[np.clip(end_row, 0, n - 1)], pd.NaT))
    return pd.DataFrame({"label": label, "touch": np.where(valid, touch, 0), "ret": ret,
                         "upper": upper, "lower": lower, "label_end": label_end,
                         "end_row": end_row}, index=index)
