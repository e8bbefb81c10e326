"""The backtrader data feed: OHLCV plus every extra column as a line.

Indicators read ``data.put_call_ratio[0]`` like ``data.close[0]``; a column a source does
not have shows as NaN. ``true_regime`` is deliberately not a line: strategies must not see
the simulated market's hidden state.

backtrader's ``PandasData`` reads each cell with ``DataFrame.iloc`` (about 20 pandas
look-ups per bar with our columns, half of a backtest's time); this feed reads the
frame's columns as numpy arrays once and copies plain floats per bar instead; when
cerebro preloads (backtests), ``preload`` copies each whole column into its line's buffer
at once instead of growing two dozen buffers bar by bar, and then advances them without
backtrader's per-line property calls. Ticks (``tick_close``, ... the
broker's fill prices) are kept for the OHLCV lines only: nothing reads an extra line's tick,
and filling two dozen of them on every bar was a tenth of a backtest's time.
"""

from __future__ import annotations

from array import array

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

    def preload(self):
        """All bars at once: the buffers ``load()`` would build bar by bar, byte for byte
        (``tests/feeds/test_btfeed_preload.py`` holds them equal). backtrader's own loop
        remains for what it handles and this does not: filters, a ``tzinput``, from/to
        dates, bounded (``exactbars``) buffers."""
        plain = (not self._filters and not self._ffilters and not self._tzinput
                 and self.p.fromdate is None and self.p.todate is None
                 and all(isinstance(line.array, array) and len(line.array) == 0
                         for line in self.lines))
        if not plain:
            return super().preload()
        count = len(self._datenums)
        filled = {id(self.lines.datetime): np.asarray(self._datenums, dtype=float),
                  id(self.lines.openinterest): np.zeros(count)}
        filled.update((id(line), values) for line, values in self._columns)
        nan = np.full(count, np.nan)
        for line in self.lines:
            line.array.frombytes(np.ascontiguousarray(filled.get(id(line), nan),
                                                      dtype=float).tobytes())
            line.lencount = count
            line.idx = count - 1
        self._row = count
        self._last()
        self.home()
        self.lines.advance = self._advance_unbounded

    def _advance_unbounded(self, size: int = 1) -> None:
        """``Lines.advance`` for the preloaded (unbounded) buffers: what
        ``LineBuffer.advance`` does to each line (index and length up by ``size``),
        without two property calls per line and bar for two dozen lines."""
        for line in self.lines.lines:
            line._idx += size
            line.lencount += size

    def _tick_nullify(self):
        self.tick_close = self.tick_low = self.tick_high = self.tick_open = None
        self.tick_volume = self.tick_openinterest = self.tick_last = None

    def _tick_fill(self, force=False):
        if force or self.tick_close is None:
            lines = self.lines
            self.tick_close = close = lines.close[0]
            self.tick_low, self.tick_high = lines.low[0], lines.high[0]
            self.tick_open, self.tick_volume = lines.open[0], lines.volume[0]
            self.tick_openinterest = lines.openinterest[0]
            self.tick_last = close

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
