"""trades.csv: a trade still open at the end is marked at the last close."""

from __future__ import annotations

import backtrader as bt
import pandas as pd
import pytest

from analyzers.trades import TradeList
from feeds.btfeed import make_feed


class BuyOnceAndHold(bt.Strategy):
    def next(self):
        if len(self) == 3:
            self.buy(size=10)


def test_an_open_trade_shows_its_unrealized_pnl_and_bars_held(sample_market):
    """The row of a position held to the end read P&L 0 and 0 bars held (backtrader fills
    them only on a close) while the run's whole return came from it."""
    bars = sample_market.bars("SPY", "2024-01-02", "2024-03-28")
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(bars, "SPY"))
    cerebro.broker.setcash(100_000)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.addstrategy(BuyOnceAndHold)
    cerebro.addanalyzer(TradeList, _name="trades")
    run = cerebro.run()[0]
    rows = run.analyzers.trades.get_analysis()
    assert list(rows["status"]) == ["open"]
    row = rows.iloc[0]
    entry = bars["open"].iloc[3]  # ordered on the third bar, filled at the fourth's open
    last = bars["close"].iloc[-1]
    assert row["entry_price"] == pytest.approx(entry)
    assert row["pnl"] == pytest.approx(10 * (last - entry))
    assert row["commission"] == pytest.approx(0.001 * 10 * entry)
    assert row["pnl_net"] == pytest.approx(row["pnl"] - row["commission"])
    assert row["bars_held"] == len(bars) - 4
    gain = cerebro.broker.getvalue() - 100_000
    assert row["pnl_net"] == pytest.approx(gain)  # the whole return, as the account has it
    assert pd.isna(row["exit_date"]) and pd.isna(row["exit_price"])
