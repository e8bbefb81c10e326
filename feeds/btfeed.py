"""The backtrader data feed: OHLCV plus every extra column as a line.

Indicators read ``data.put_call_ratio[0]`` like ``data.close[0]``; a column a source does
not have shows as NaN. ``true_regime`` is deliberately not a line: strategies must not see
the simulated market's hidden state.

backtrader's ``PandasData`` reads each cell with ``DataFrame.iloc`` (about 20 pandas
look-ups per bar with our columns, half of a backtest's time); this feed reads the
frame's columns as numpy arrays once and copies plain floats per bar instead.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd

from feeds.base import EXTRA_COLUMNS, OHLCV


class MarketData(bt.feed.DataBase):
    """Daily bars from a DataFrame indexed by date, with the ``EXTRA_COLUMNS`` lines."""

    lines = EXTRA_COLUMNS

    def start(self):
        super().start()
        frame: pd.DataFrame = self.p.dataname
        index = pd.DatetimeIndex(frame.index)
        if index.tz is not None:
            index = index.tz_convert(None)
        self._datenums = [bt.date2num(ts) for ts in index.to_pydatetime()]
        self._columns = [
            (getattr(self.lines, name), frame[name].to_numpy(dtype=float))
            for name in (*OHLCV, *EXTRA_COLUMNS) if name in frame.columns
        ]
        self._row = -1

    def _load(self):
        self._row += 1
        if self._row >= len(self._datenums):
            return False
        row = self._row
        self.lines.datetime[0] = self._datenums[row]
        self.lines.openinterest[0] = 0.0
        for line, values in self._columns:
            line[0] = values[row]
        return True


def make_feed(bars: pd.DataFrame, name: str) -> MarketData:
    """A feed over ``bars`` (indexed by date) for backtrader, named after the symbol."""
    missing = [c for c in OHLCV if c not in bars.columns]
    if missing:
        raise ValueError(f"{name}: bars lack column(s) {', '.join(missing)}")
    if bars.empty or not np.isfinite(bars["close"].to_numpy(dtype=float)).all():
        raise ValueError(f"{name}: bars are empty or hold non-finite closes")
    return MarketData(dataname=bars, name=name)
