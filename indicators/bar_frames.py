"""Reading a backtrader data feed's lines as the bar frames ``models/`` expects."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd

from models.strategy_model import INPUT_COLUMNS


def data_columns(data) -> list[str]:
    """The model input columns this feed has as lines."""
    aliases = set(data.lines.getlinealiases())
    return [c for c in INPUT_COLUMNS if c in aliases]


def bars_until(data, end: int) -> pd.DataFrame:
    """Bars 0..end-1 of a preloaded feed (``once`` mode) as a DataFrame by session date."""
    index = pd.DatetimeIndex([bt.num2date(x) for x in data.datetime.array[:end]]).normalize()
    columns = {c: np.asarray(getattr(data.lines, c).array[:end], dtype=float)
               for c in data_columns(data)}
    return pd.DataFrame(columns, index=index)


def current_bar(data) -> tuple[pd.Timestamp, dict]:
    """The feed's bar at [0] (``next`` mode): its date and column values."""
    day = pd.Timestamp(data.datetime.date(0))
    return day, {c: float(getattr(data.lines, c)[0]) for c in data_columns(data)}
