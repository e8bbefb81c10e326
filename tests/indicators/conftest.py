"""Shared by the indicator tests: one backtrader run that records indicator lines."""

from __future__ import annotations

from collections.abc import Callable

import backtrader as bt
import pandas as pd
import pytest

from feeds.btfeed import make_feed


@pytest.fixture(scope="session")
def record_lines() -> Callable[..., pd.DataFrame]:
    """``record_lines(watch, bars, **engine)``: run ``bars`` as SPY under the cerebro
    settings ``engine``, with ``watch(strategy)`` building the indicators and returning
    ``{column: line}``; a frame by date of every line's value at every bar, warm-up bars
    included."""

    def run(watch: Callable[[bt.Strategy], dict], bars: pd.DataFrame, **engine) -> pd.DataFrame:
        class Record(bt.Strategy):
            def __init__(self):
                self.watched = watch(self)
                self.rows = []

            def prenext(self):
                self.next()

            def next(self):
                self.rows.append({"date": self.data.datetime.date(0),
                                  **{name: line[0] for name, line in self.watched.items()}})

        cerebro = bt.Cerebro(stdstats=False, **engine)
        cerebro.adddata(make_feed(bars, "SPY"))
        cerebro.addstrategy(Record)
        return pd.DataFrame(cerebro.run()[0].rows).set_index("date")

    return run
