"""``PyFolioItems`` (the report's ``pyfolio`` analyzer, issue 16) gives the very returns
and transactions backtrader's ``PyFolio.get_pf_items()`` gives, on a run that trades and
on one that does not; its transactions are stamped at the instant of the fill (the open of
the session) where backtrader's read midnight UTC."""

from __future__ import annotations

import pickle

import backtrader as bt
import pandas as pd
import pytest

from analyzers.pyfolio_items import PyFolioItems
from feeds.btfeed import make_feed


class InAndOut(bt.Strategy):
    params = (("every", 7),)

    def next(self):
        if self.p.every and len(self) % self.p.every == 0:
            self.order_target_percent(target=0.0 if self.position else 0.9)


def _both(bars: pd.DataFrame, every: int, shared: bool = False):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(bars, "SPY"))
    cerebro.broker.setcommission(commission=0.0005)
    cerebro.addstrategy(InAndOut, every=every)
    cerebro.addanalyzer(bt.analyzers.PyFolio, _name="reference")
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe", timeframe=bt.TimeFrame.Days,
                        annualize=True, riskfreerate=0.0)
    cerebro.addanalyzer(PyFolioItems, _name="items", returns_from="sharpe" if shared else None)
    an = cerebro.run()[0].analyzers
    returns, _, transactions, _ = an.reference.get_pf_items()
    return (returns, transactions), an.items.returns_and_transactions()


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("every", [7, 0])
def test_same_items_as_backtraders_pyfolio(sample_market, every, shared):
    """Also with the returns taken from SharpeRatio's TimeReturn (``returns_from``)."""
    (returns, transactions), (ours, our_transactions) = _both(
        sample_market.bars("SPY").iloc[1000:1400], every, shared)
    assert (len(transactions) > 50) == bool(every)
    pd.testing.assert_series_equal(ours, returns, check_exact=True)
    assert pickle.dumps(ours) == pickle.dumps(returns)
    # the same fills, each at its instant: the open of its session (09:30 New York, 14:30
    # or 13:30 UTC across the DST changes the window spans), not backtrader's midnight UTC
    local = our_transactions.index.tz_convert("America/New_York")
    assert set(local.strftime("%H:%M")) <= {"09:30"}
    assert set(our_transactions.index.strftime("%H:%M")) == ({"14:30", "13:30"} if every
                                                             else set())
    pd.testing.assert_index_equal(local.tz_localize(None).normalize(),
                                  transactions.index.tz_localize(None), exact=False)
    pd.testing.assert_frame_equal(our_transactions.reset_index(drop=True),
                                  transactions.reset_index(drop=True), check_exact=True)


def test_returns_from_refuses_a_different_timeframe(sample_market):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(sample_market.bars("SPY").iloc[1000:1100], "SPY"))
    cerebro.addstrategy(InAndOut)
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe", timeframe=bt.TimeFrame.Weeks)
    cerebro.addanalyzer(PyFolioItems, _name="items", returns_from="sharpe")
    with pytest.raises(ValueError, match="returns_from='sharpe': its TimeReturn measures"):
        cerebro.run()


def test_returns_from_refuses_a_missing_analyzer(sample_market):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(sample_market.bars("SPY").iloc[1000:1100], "SPY"))
    cerebro.addstrategy(InAndOut)
    cerebro.addanalyzer(PyFolioItems, _name="items", returns_from="sharpe")
    with pytest.raises(ValueError, match="no analyzer 'sharpe'"):
        cerebro.run()
