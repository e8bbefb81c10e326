"""Translating backtrader's order vocabulary into IB's, with no broker state: the
``orderRef`` every order carries, backtrader's ``buy``/``sell`` arguments as an order, a
stock order's IB counterpart, and the limit credit of a spread opening.

Kept apart from ``brokers.ib_broker`` so the mapping (one place that knows IB's order types)
can be read and tested without a store, a journal or a connection."""

from __future__ import annotations

import uuid
from typing import NamedTuple

import backtrader as bt
from ib_async import Contract, LimitOrder, MarketOrder, Order, StopOrder

from brokers import spread_pricing as sp
from brokers.spreads import SpreadRequest


class Legs(NamedTuple):
    """The two option contracts of a spread order (what ``_send_combo`` needs)."""

    short_contract: Contract
    long_contract: Contract


def order_ref(owner, intent: str, symbol: str) -> str:
    """``btml/<strategy>/<intent>/<symbol>/<id>``: how the journal and reconciliation find an
    order at IB again, across reconnects and processes."""
    return f"btml/{type(owner).__name__}/{intent}/{symbol}/{uuid.uuid4().hex[:10]}"


def stock_order(cls, owner, data, size, price=None, plimit=None, exectype=None, valid=None,
                tradeid=0, oco=None, trailamount=None, trailpercent=None, parent=None,
                transmit=True, **info) -> tuple[bt.Order, dict]:
    """backtrader's ``buy``/``sell`` arguments as an order of ``cls`` (``oco`` is not
    supported on IB and ignored) and the keywords left for ``order.info``."""
    order = cls(owner=owner, data=data, size=size, price=price, pricelimit=plimit,
                exectype=exectype, valid=valid, tradeid=tradeid, trailamount=trailamount,
                trailpercent=trailpercent, parent=parent, transmit=transmit)
    return order, info


#: backtrader's exectype of each IB order type ``ib_stock_order`` sends
EXECTYPES = {"MKT": bt.Order.Market, "LMT": bt.Order.Limit, "STP": bt.Order.Stop,
             "STP LMT": bt.Order.StopLimit, "MOC": bt.Order.Close}


def journal_stock_order(row: dict, data) -> bt.Order:
    """A backtrader order standing for the journal's stock order ``row`` (sent by an earlier
    process, still working at IB): its side, quantity, type and price on feed ``data``,
    with no owner (backtrader then notifies the run's strategy)."""
    cls = bt.order.BuyOrder if row["action"] == "BUY" else bt.order.SellOrder
    return cls(owner=None, data=data, size=row["quantity"], price=row["limit_price"],
               exectype=EXECTYPES.get(row["order_type"], bt.Order.Market))


def ib_stock_order(order, action: str, ref: str, account: str) -> Order | None:
    """IB's order for a backtrader stock order (Market, Limit, Stop, StopLimit, Close = MOC;
    a DAY order to ``account``), or None for an exectype IB is not sent."""
    size = abs(order.size)
    kind = order.exectype
    if kind == bt.Order.Market:
        ib = MarketOrder(action, size)
    elif kind == bt.Order.Limit:
        ib = LimitOrder(action, size, order.price)
    elif kind == bt.Order.Stop:
        ib = StopOrder(action, size, order.price)
    elif kind == bt.Order.StopLimit:
        ib = Order(action=action, totalQuantity=size, orderType="STP LMT",
                   lmtPrice=order.pricelimit, auxPrice=order.price)
    elif kind == bt.Order.Close:
        ib = Order(action=action, totalQuantity=size, orderType="MOC")
    else:
        return None
    ib.orderRef, ib.account, ib.tif = ref, account, "DAY"
    return ib


def open_limit(request: SpreadRequest, resolved) -> float:
    """The limit credit of a spread opening: the request's own, mid minus its allowance, or
    the natural credit from IB's quotes, in cents; refuses a credit that is not positive."""
    if request.limit_credit is not None:
        limit = request.limit_credit
    elif request.mid_allowance is not None:
        limit = resolved.mid_credit - request.mid_allowance
    else:
        limit = resolved.natural_credit
    limit = round(limit, 2)
    if limit <= 0:
        raise sp.SpreadRejected(f"non-positive credit {limit:.2f} from IB quotes "
                                f"({resolved.short.symbol} / {resolved.long.symbol})")
    return limit
