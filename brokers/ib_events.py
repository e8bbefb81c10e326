"""Plain, immutable snapshots of what IB reports, handed from the store's loop thread to
the backtrader side.

ib_async mutates its Trade/Fill objects from its own loop and replaces them on every
reconnect, so nothing of it crosses threads: the store converts each event into one of these
frozen records (``order_update``, ``fill_update``, ``position_update``) and the broker and
feeds consume them from queues.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class OrderUpdate:
    """An order's state at one moment; ``error_code``/``message`` from its last log entry."""

    order_id: int
    perm_id: int
    client_id: int
    order_ref: str
    status: str
    filled: float
    remaining: float
    avg_fill_price: float
    error_code: int | None = None
    message: str = ""


@dataclass(frozen=True)
class FillUpdate:
    """One execution (a leg's, a stock's, or a combo's own) with its commission once known."""

    exec_id: str
    order_id: int
    perm_id: int
    order_ref: str
    time: dt.datetime
    con_id: int
    symbol: str
    sec_type: str
    expiry: str
    strike: float
    right: str
    multiplier: float
    side: str
    shares: float
    price: float
    commission: float | None = None
    realized_pnl: float | None = None


@dataclass(frozen=True)
class CommissionUpdate:
    exec_id: str
    commission: float
    realized_pnl: float


@dataclass(frozen=True)
class PositionUpdate:
    account: str
    con_id: int
    symbol: str
    sec_type: str
    expiry: str
    strike: float
    right: str
    multiplier: float
    quantity: float
    avg_cost: float
    market_price: float | None = None


@dataclass(frozen=True)
class AccountUpdate:
    account: str
    tag: str
    value: str
    currency: str


@dataclass(frozen=True)
class ErrorUpdate:
    req_id: int
    code: int
    message: str


@dataclass(frozen=True)
class LinkUpdate:
    """Connection state: 'connected', 'disconnected', or a 1100/1101/1102 notice."""

    state: str
    code: int | None = None


@dataclass(frozen=True)
class Sync:
    """Everything IB says after a (re)connect, for reconciliation."""

    reconnect: bool
    accounts: tuple[str, ...]
    orders: tuple[OrderUpdate, ...]
    open_order_refs: frozenset[str]
    fills: tuple[FillUpdate, ...]
    positions: tuple[PositionUpdate, ...]
    account_values: tuple[AccountUpdate, ...]
    #: orders the store had placed when the snapshot was taken (``IBStore.placed``): an
    #: order placed after it is missing from it without being lost
    placed: int = 0


def order_update(trade) -> OrderUpdate:
    s, o = trade.orderStatus, trade.order
    code, message = None, ""
    if trade.log and trade.log[-1].errorCode:
        code, message = trade.log[-1].errorCode, trade.log[-1].message
    total = o.totalQuantity
    remaining = s.remaining if s.status else total
    return OrderUpdate(o.orderId, o.permId or s.permId, o.clientId, o.orderRef or "",
                       s.status, s.filled, remaining, s.avgFillPrice, code, message)


def fill_update(fill) -> FillUpdate:
    c, e, r = fill.contract, fill.execution, fill.commissionReport
    known = bool(r.execId)
    return FillUpdate(e.execId, e.orderId, e.permId, e.orderRef or "", e.time, c.conId,
                      c.symbol, c.secType, c.lastTradeDateOrContractMonth, float(c.strike or 0),
                      c.right, float(c.multiplier or 1), e.side, float(e.shares),
                      float(e.price), r.commission if known else None,
                      r.realizedPNL if known else None)


def position_update(account: str, contract, quantity: float, avg_cost: float,
                    market_price: float | None = None) -> PositionUpdate:
    return PositionUpdate(account, contract.conId, contract.symbol, contract.secType,
                          contract.lastTradeDateOrContractMonth, float(contract.strike or 0),
                          contract.right, float(contract.multiplier or 1), float(quantity),
                          float(avg_cost), market_price)
