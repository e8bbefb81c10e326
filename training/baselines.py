"""Baselines a trained model is scored against (computed by the real indicators)."""

from __future__ import annotations

import backtrader as bt
import pandas as pd

from feeds.btfeed import make_feed
from indicators.rule_signal import RuleSignal


def rule_signal_series(bars):
    """The rule signal (0/1/2) of every bar of a bar frame, computed by the indicator
    itself in a bare backtrader run (used as a baseline in model evaluation)."""
    class _Record(bt.Strategy):
        def __init__(self):
            self.rule = RuleSignal(self.data)
            self.values = []

        def prenext(self):
            self.values.append(float("nan"))

        def next(self):
            self.values.append(self.rule.signal[0])

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(bars, "RULE"))
    cerebro.addstrategy(_Record)
    values = cerebro.run()[0].values
    return pd.Series(values, index=bars.index, name="rule_signal")
