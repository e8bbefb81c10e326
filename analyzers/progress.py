"""A tqdm progress bar over the bars of a backtest (on stderr, so summaries stay clean)."""

from __future__ import annotations

import backtrader as bt
from tqdm import tqdm


class BarProgress(bt.Analyzer):
    params = (("total", None), ("label", "backtest"), ("disable", False))

    def start(self):
        self.bar = tqdm(total=self.p.total, desc=self.p.label, unit="bar", leave=False,
                        disable=self.p.disable, mininterval=0.5)

    def next(self):
        self.bar.update(1)

    def stop(self):
        self.bar.close()
