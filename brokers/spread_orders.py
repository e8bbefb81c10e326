"""The backtrader order types of the spread protocol, shared by the simulated and IB brokers,
so a strategy's ``notify_order`` sees the same classes whichever broker runs it."""

from __future__ import annotations

import backtrader as bt


class _QuickCopy:
    """``copy.copy`` of an order, as the standard library makes it (a new instance of the
    class without calling ``__init__``, the same attribute dictionary, shallow), without its
    generic path: a broker notifies with a copy of the order each time its status moves
    (``order.clone``), three times for each spread order."""

    def __copy__(self):
        duplicate = type(self).__new__(type(self))
        duplicate.__dict__.update(self.__dict__)
        return duplicate


class SpreadOpenOrder(_QuickCopy, bt.order.SellOrder):
    """Selling a credit spread to open; ``info['request']`` holds the SpreadRequest."""


class SpreadCloseOrder(_QuickCopy, bt.order.BuyOrder):
    """Buying a credit spread back; ``info['position_id']`` says which."""
