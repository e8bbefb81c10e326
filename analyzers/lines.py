"""Recording of every line a user may want to inspect, bar by bar (``--export-lines``).

In a preloaded run-once backtest (backtrader's default) every line's buffer holds the
whole run and each bar's value is final before the first ``next``, so reading ``line[0]``
of two dozen lines on every bar repeats what the buffers already hold. The recorder then
notes only which bar of each data it saw (one ``len`` per data and bar) and reads the rows
from the buffers once, when asked: the same rows (``tests/analyzers/test_lines.py`` holds
them equal) for a fraction of the per-bar cost. Other runs (live feeds, ``exactbars``)
read the values bar by bar as they come.
"""

from __future__ import annotations

from array import array

import backtrader as bt
import pandas as pd

from analyzers.bar_date import number_date


class LineRecorder(bt.Analyzer):
    """One row per bar and symbol: the bar's close and extra lines, then every line of
    every indicator the strategy created on that symbol (named ``<Indicator>.<line>``)."""

    params = (("data_lines", ("close",)),)

    def start(self):
        self.rows: list[dict] = []
        self._by_data: dict = {}
        for indicator in self.strategy.getindicators():
            self._by_data.setdefault(indicator.data, []).append(indicator)
        self._datas = list(self.strategy.datas)
        #: per bar, the length of each data (0: no bar yet); rows come from it at the end
        self._seen: list[list[int]] = []
        cerebro = self.strategy.env
        self._from_buffers = (getattr(cerebro, "_dorunonce", False)
                              and getattr(cerebro, "_dopreload", False)
                              and all(isinstance(line.array, array)
                                      for line in self._recorded_lines()))

    def _recorded_lines(self):
        for data in self._datas:
            yield data.lines.datetime
            for name in self.p.data_lines:
                yield getattr(data.lines, name)
            for indicator in self._by_data.get(data, ()):
                yield from indicator.lines

    def next(self):
        if self._from_buffers:
            self._seen.append([len(data) for data in self._datas])
            return
        for data in self._datas:
            if len(data) == 0:
                continue
            row = {"date": data.datetime.date(0), "symbol": data._name}
            for name in self.p.data_lines:
                row[name] = getattr(data.lines, name)[0]
            for indicator in self._by_data.get(data, ()):
                label = type(indicator).__name__
                for alias in indicator.lines.getlinealiases():
                    row[f"{label}.{alias}"] = getattr(indicator.lines, alias)[0]
            self.rows.append(row)

    def stop(self):
        if not self._from_buffers:
            return
        columns = {data: self._buffer_columns(data) for data in self._datas}
        dates: dict = {}
        rows = []
        for seen in self._seen:
            for data, length in zip(self._datas, seen, strict=True):
                if not length:
                    continue
                i = length - 1  # an indicator advances with its data: its bar i is the data's
                key = (data, i)
                if key not in dates:
                    dt = data.lines.datetime
                    dates[key] = number_date(dt.array[i], dt._tz)
                row = {"date": dates[key], "symbol": data._name}
                for name, values in columns[data]:
                    row[name] = values[i]
                rows.append(row)
        self.rows = rows

    def _buffer_columns(self, data) -> list[tuple[str, array]]:
        """(column, buffer) of each recorded line of ``data``, in the rows' column order."""
        columns = [(name, getattr(data.lines, name).array) for name in self.p.data_lines]
        for indicator in self._by_data.get(data, ()):
            label = type(indicator).__name__
            columns.extend((f"{label}.{alias}", getattr(indicator.lines, alias).array)
                           for alias in indicator.lines.getlinealiases())
        return columns

    def get_analysis(self):
        return pd.DataFrame(self.rows)
