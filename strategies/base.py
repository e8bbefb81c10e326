"""What every strategy of ours shares: one signal indicator per symbol and a warm-up."""

from __future__ import annotations

import backtrader as bt

from indicators.rule_signal import RuleSignal


class SignalStrategy(bt.Strategy):
    """Builds ``self.signals[data]`` from ``signal_factory`` for every data feed.

    ``trade_start`` (a date): bars before it only warm the indicators up; subclasses ask
    ``warming_up()`` at the top of ``next`` and trade nothing while it is true.
    """

    params = (
        ("signal_factory", RuleSignal),
        ("trade_start", None),
    )

    def __init__(self):
        self.signals = {data: self.p.signal_factory(data) for data in self.datas}

    def warming_up(self) -> bool:
        return self.p.trade_start is not None and self.datetime.date(0) < self.p.trade_start
