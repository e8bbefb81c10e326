"""``RunDrawDown`` gives exactly what backtrader's ``DrawDown`` gives on the same runs: every
entry of the analysis, types included, for a trading run, a run that never trades and a
run that ends in a drawdown."""

from __future__ import annotations

import backtrader as bt
import pytest

from analyzers.drawdown import RunDrawDown


class Cross(bt.Strategy):
    params = (("fast", 10), ("slow", 30), ("trade", True), ("hold_to_end", False))

    def __init__(self):
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast),
                                      bt.ind.SMA(period=self.p.slow))

    def next(self):
        if not self.p.trade:
            return
        if self.p.hold_to_end:
            if not self.position:
                self.order_target_percent(target=0.95)
        elif self.cross[0] > 0 and not self.position:
            self.order_target_percent(target=0.95)
        elif self.cross[0] < 0 and self.position:
            self.close()


def analyses(bars, **params) -> tuple[dict, dict]:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=bars[["open", "high", "low", "close",
                                                       "volume"]], openinterest=None))
    cerebro.addstrategy(Cross, **params)
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="theirs")
    cerebro.addanalyzer(RunDrawDown, _name="ours")
    strategy = cerebro.run()[0]
    return (strategy.analyzers.theirs.get_analysis(), strategy.analyzers.ours.get_analysis())


def flat(analysis) -> dict:
    return {"len": analysis.len, "drawdown": analysis.drawdown,
            "moneydown": analysis.moneydown, "max.len": analysis.max.len,
            "max.drawdown": analysis.max.drawdown, "max.moneydown": analysis.max.moneydown}


@pytest.mark.parametrize("params", [{}, {"trade": False}, {"hold_to_end": True}],
                         ids=["crossover", "never trades", "holds into a drawdown"])
def test_the_analysis_is_backtraders_bit_for_bit(sample_market, params):
    bars = sample_market.bars("SPY", "2019-01-01", "2022-12-30")
    theirs, ours = analyses(bars, **params)
    theirs, ours = flat(theirs), flat(ours)
    assert ours == theirs
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in theirs.items()}
    if params.get("trade", True):
        assert theirs["max.drawdown"] > 0 and theirs["max.len"] > 0
    if params.get("hold_to_end"):
        assert theirs["len"] > 0  # 2022 ends below its peak
