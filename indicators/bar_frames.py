"""Reading a backtrader data feed's lines as the bar frames ``models/`` expects."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd


def data_columns(data, columns) -> list[str]:
    """The ``columns`` this feed has as lines."""
    aliases = set(data.lines.getlinealiases())
    return [c for c in columns if c in aliases]


#: ``datetime.date(1970, 1, 1).toordinal()``: day numbers to numpy dates
UNIX_EPOCH_ORDINAL = 719163


def bars_until(data, end: int, columns) -> pd.DataFrame:
    """Bars 0..end-1 of a preloaded feed (``once`` mode) as a DataFrame by session date."""
    numbers = np.asarray(data.datetime.array[:end], dtype=float)
    if data.datetime._tz is None and np.array_equal(numbers, np.floor(numbers)):
        # daily bars: whole day numbers (proleptic ordinals), what num2date gives, at once
        index = pd.DatetimeIndex((numbers.astype(np.int64) - UNIX_EPOCH_ORDINAL).astype(
            "datetime64[D]").astype("datetime64[ns]"))
    else:
        index = pd.DatetimeIndex([bt.num2date(x) for x in numbers]).normalize()
    values = {c: np.asarray(getattr(data.lines, c).array[:end], dtype=float)
              for c in data_columns(data, columns)}
    return pd.DataFrame(values, index=index)


def session_date(data, ago: int = 0):
    """The session date of ``data``'s bar ``ago``: a live IB feed's New York date
    (``IBData.exchange_date``; its ``date(0)`` is in the display zone, a day later in Tokyo
    for a daily bar), else ``date(ago)``."""
    exchange = getattr(data, "exchange_date", None)
    return exchange(ago) if exchange is not None else data.datetime.date(ago)


def current_bar(data, columns) -> tuple[pd.Timestamp, dict]:
    """The feed's bar at [0] (``next`` mode): its session date and column values."""
    day = pd.Timestamp(session_date(data))
    return day, {c: float(getattr(data.lines, c)[0]) for c in data_columns(data, columns)}
