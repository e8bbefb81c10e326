"""The backtrader order types of the spread protocol, shared by the simulated and IB brokers,
so a strategy's ``notify_order`` sees the same classes whichever broker runs it."""

from __future__ import annotations

import backtrader as bt


class SpreadOpenOrder(bt.order.SellOrder):
    """Selling a credit spread to open; ``info['request']`` holds the SpreadRequest."""


class SpreadCloseOrder(bt.order.BuyOrder):
    """Buying a credit spread back; ``info['position_id']`` says which."""
