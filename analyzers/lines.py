"""Recording of every line a user may want to inspect, bar by bar (``--export-lines``)."""

from __future__ import annotations

import backtrader as bt
import pandas as pd


class LineRecorder(bt.Analyzer):
    """One row per bar and symbol: the bar's close and extra lines, then every line of
    every indicator the strategy created on that symbol (named ``<Indicator>.<line>``)."""

    params = (("data_lines", ("close",)),)

    def start(self):
        self.rows: list[dict] = []
        self._by_data: dict = {}
        for indicator in self.strategy.getindicators():
            self._by_data.setdefault(indicator.data, []).append(indicator)

    def next(self):
        for data in self.strategy.datas:
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

    def get_analysis(self):
        return pd.DataFrame(self.rows)
