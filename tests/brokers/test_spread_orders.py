"""Spread orders are copied (``order.clone``, three notifications an order) by their own
``__copy__``: the copy the standard library's generic path makes, attribute for attribute."""

from __future__ import annotations

import copy

import backtrader as bt
import pandas as pd

from brokers.spread_orders import SpreadCloseOrder, SpreadOpenOrder


def _orders_made_on_a_bar() -> list:
    bars = pd.DataFrame({name: [100.0, 101.0] for name in ("open", "high", "low", "close")}
                        | {"volume": [1e6, 1e6]}, index=pd.date_range("2024-03-08", periods=2))
    made = []

    class MakeOrders(bt.Strategy):
        def next(self):
            for kind in (SpreadOpenOrder, SpreadCloseOrder):
                order = kind(owner=self, data=self.data, size=2)
                order.addinfo(action="open", position_id=7)
                made.append(order)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=bars))
    cerebro.addstrategy(MakeOrders)
    cerebro.run()
    return made


def test_a_spread_orders_copy_is_the_generic_copy():
    for order in _orders_made_on_a_bar():
        quick = copy.copy(order)
        generic = copy._reconstruct(order, None, *order.__reduce_ex__(4))
        assert type(quick) is type(generic) is type(order)
        assert vars(quick) == vars(generic) == vars(order)
        assert all(getattr(quick, k) is getattr(order, k) for k in vars(order))  # shallow
        clone = order.clone()
        assert clone.executed is not order.executed and clone.info is order.info
        assert (clone.ref, clone.size, clone.isbuy(), clone.created.dt) == (
            order.ref, order.size, order.isbuy(), order.created.dt)
