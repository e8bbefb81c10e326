"""The equity strategy follows the direction/confidence lines with next-bar fills."""

from __future__ import annotations

import backtrader as bt
import pytest

from feeds.btfeed import make_feed
from strategies import EquityConfig, EquityStrategy


class Scripted(bt.Indicator):
    """direction/confidence read from a script keyed by bar number (0-based)."""

    lines = ("direction", "confidence")
    params = (("script", {}),)

    def next(self):
        direction, confidence = self.p.script.get(len(self) - 1, (0.0, 0.0))
        self.l.direction[0] = direction
        self.l.confidence[0] = confidence


class Fills(bt.Analyzer):
    def start(self):
        self.fills = []

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills.append((len(self.strategy) - 1, order.executed.size,
                               order.executed.price))


def run(bars, script, config=None, cash=100_000.0):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(bars, "SPY"))
    cerebro.broker.setcash(cash)
    factory = lambda data: Scripted(data, script=script)  # noqa: E731
    cerebro.addstrategy(EquityStrategy, config=config or EquityConfig(), signal_factory=factory)
    cerebro.addanalyzer(Fills, _name="fills")
    strategy = cerebro.run()[0]
    return strategy.analyzers.fills.fills, strategy


@pytest.fixture(scope="module")
def bars(sample_market):
    return sample_market.bars("SPY", "2021-03-01", "2021-05-28")


def test_buy_fills_at_next_open_and_sell_goes_flat(bars):
    fills, strategy = run(bars, {5: (1.0, 0.9), 20: (-1.0, 0.8)})
    assert [f[0] for f in fills] == [6, 21]  # one bar after each signal
    (_, bought, buy_price), (_, sold, sell_price) = fills
    assert buy_price == pytest.approx(bars["open"].iloc[6])
    assert sell_price == pytest.approx(bars["open"].iloc[21])
    assert bought > 0 and sold == -bought
    # sized at 95 % of the portfolio from the signal bar's close
    assert bought == int(0.95 * 100_000 / bars["close"].iloc[5])
    assert strategy.position.size == 0


def test_neutral_keeps_the_position_and_low_confidence_does_not_enter(bars):
    fills, strategy = run(bars, {3: (1.0, 0.1), 8: (1.0, 0.5), 9: (0.0, 0.0)},
                          EquityConfig(min_confidence=0.3))
    assert [f[0] for f in fills] == [9]
    assert strategy.position.size > 0


def test_short_only_when_allowed(bars):
    script = {4: (-1.0, 0.9)}
    fills, _ = run(bars, script)
    assert fills == []
    fills, strategy = run(bars, script, EquityConfig(allow_short=True))
    assert len(fills) == 1 and fills[0][1] < 0
    assert strategy.position.size < 0


def test_scale_by_confidence_sizes_the_position(bars):
    fills, _ = run(bars, {5: (1.0, 0.5)}, EquityConfig(scale_by_confidence=True))
    assert fills[0][1] == int(0.95 * 0.5 * 100_000 / bars["close"].iloc[5])


@pytest.mark.parametrize("confidence, share", [(0.004, "0.38%"), (0.5, "47.5%"), (1.0, "95%")])
def test_an_entry_sized_to_nothing_says_the_share_it_was_sized_to(bars, confidence, share):
    """The skipped entry's line states the share of the account the position was sized to
    as it was: 95 % x a confidence of 0.004 is 0.38 %, which a whole-percent format
    printed as '0% of the account (0.76)', a share that could buy nothing at any price."""
    config = EquityConfig(scale_by_confidence=True, min_confidence=0.0)
    fills, strategy = run(bars, {5: (1.0, confidence)}, config, cash=200.0)
    assert fills == []
    assert strategy.skipped[0].startswith(f"SPY: {share} of the account (")
