"""The feed's bulk ``preload`` builds the very buffers backtrader's bar-by-bar loop builds.

``MarketData.preload`` copies whole columns into the line buffers (the spine's speed,
issue 16); backtrader's own ``DataBase.preload`` calls ``load()`` once per bar. Both must
leave every line's buffer identical, byte for byte, NaN lines and bars with gaps included,
or every backtest result could move."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pytest

from feeds.btfeed import MarketData, make_feed


class _Reference(MarketData):
    """The same feed loading bar by bar through backtrader's preload loop."""

    def preload(self):
        return bt.feed.DataBase.preload(self)


class _Snapshot(bt.Strategy):
    """Takes the data's buffers as cerebro hands them over: preloaded, index at home."""

    def start(self):
        data = self.data
        self.snapshot = {name: getattr(data.lines, name).array.tobytes()
                         for name in data.getlinealiases()}
        self.at_start = (len(data), data.buflen())


def _preloaded(feed: MarketData) -> _Snapshot:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(feed)
    cerebro.addstrategy(_Snapshot)
    return cerebro.run()[0]


def _buffers(feed: MarketData) -> dict[str, bytes]:
    return _preloaded(feed).snapshot


@pytest.fixture(scope="module")
def window(spy):
    bars = spy.iloc[900:1200].copy()
    bars.loc[bars.index[5:9], "put_call_ratio"] = np.nan  # a gap inside a column
    return bars.drop(columns=["atm_iv"])  # a column the source lacks: an all-NaN line


def test_bulk_preload_equals_bar_by_bar_loop(window):
    fast = _buffers(make_feed(window, "SPY"))
    slow = _buffers(_Reference(dataname=window, name="SPY"))
    assert fast.keys() == slow.keys()
    assert {k for k in fast if fast[k] != slow[k]} == set()
    assert len(fast["close"]) == 8 * len(window)
    assert np.isnan(np.frombuffer(fast["atm_iv"])).all()


def test_home_after_preload_like_backtrader(window):
    assert _preloaded(make_feed(window, "SPY")).at_start == (0, len(window))


def test_fromdate_falls_back_to_backtraders_loop(window):
    """A from-date filter is backtrader's job: the bulk copy must not skip it."""
    start = window.index[10].to_pydatetime()
    feed = MarketData(dataname=window, name="SPY", fromdate=start)
    assert _preloaded(feed).at_start == (0, len(window) - 10)


def test_backtest_trades_on_the_same_ticks(window):
    """The broker fills at ``tick_open`` & co and every line advances bar by bar: a run on
    the feed trades as before and ends with every line at the last bar."""

    class Buy(bt.Strategy):
        def next(self):
            if len(self) == 3:
                self.buy(size=10)

        def stop(self):
            self.at_stop = (len(self.data), [(line.idx, len(line)) for line in self.data.lines])

    def value(feed):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(feed)
        cerebro.addstrategy(Buy)
        strategy = cerebro.run()[0]
        return strategy.broker.getvalue(), strategy.position.price, strategy.at_stop

    assert value(make_feed(window, "SPY")) == value(_Reference(dataname=window, name="SPY"))
