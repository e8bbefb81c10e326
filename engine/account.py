"""One account on several symbols: the cerebro a paper run on IB and a portfolio backtest
both trade in, assembled in one place so the two cannot drift apart.

Every symbol is a data feed of one cerebro, named after the symbol; one broker holds the
cash, the positions and the spreads of all of them; the strategy (from
``strategies.registry``) sees every feed and sizes by that broker's account value.
"""

from __future__ import annotations

import backtrader as bt

from engine.cerebro import RunCerebro
from strategies.registry import StrategySpec


def one_account(feeds: dict, broker, spec: StrategySpec, config: object, signal_factory,
                trade_start, cerebro_cls: type[RunCerebro] = RunCerebro,
                **cerebro_options) -> bt.Cerebro:
    """A cerebro (of ``cerebro_cls``) with ``feeds`` (symbol -> data feed, in that order),
    ``broker`` and the strategy of ``spec`` (``config`` None = its defaults) trading from
    ``trade_start``."""
    cerebro = cerebro_cls(stdstats=False, **cerebro_options)
    for symbol, feed in feeds.items():
        cerebro.adddata(feed, name=symbol)
    cerebro.setbroker(broker)
    cerebro.addstrategy(spec.cls, config=spec.resolve_config(config),
                        signal_factory=signal_factory, trade_start=trade_start)
    return cerebro
