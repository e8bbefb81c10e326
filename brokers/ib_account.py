"""The IB account as IB last reported it, next to the feeds the IB broker trades.

IB is the authority on cash and positions: ``IBAccount`` keeps its TotalCashValue, its
positions per conId and their latest portfolio prices as the store's snapshots report
them, plus the cash effect of the fills booked since IB last reported cash (IB's own
figure arrives later and replaces it). Beside them: the data feeds by symbol and the
stock position backtrader sees for each (``bt.Position``), which fills move at once and
a reconciliation puts back in line with IB.
"""

from __future__ import annotations

import collections
import datetime as dt

import backtrader as bt

from brokers.bar_times import exchange_date, now_local
from brokers.ib_events import AccountUpdate, PositionUpdate


class IBAccount:
    """Cash, positions and marks of one IB account (``name``; '' = the only one)."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        #: data feeds the broker trades or was asked about, by symbol
        self.datas: dict[str, object] = {}
        #: backtrader's stock position per feed
        self.positions: collections.defaultdict = collections.defaultdict(bt.Position)
        #: IB's positions by conId (zero positions dropped)
        self.held: dict[int, PositionUpdate] = {}
        #: IB's latest portfolio price per conId
        self.marks: dict[int, float] = {}
        self._cash_base: float | None = None
        self._cash_adjust = 0.0

    # ------------------------------------------------------------------ feeds
    def watch(self, data) -> None:
        """Remember feed ``data`` under its name (the symbol fills are matched by). A feed
        seen for the first time starts from IB's stock position in its symbol: shares an
        earlier process bought are held, not bought again."""
        if data._name in self.datas:
            return
        self.datas[data._name] = data
        held = self.stock(data._name)
        position = self.positions[data]
        if held is not None and not position.size:
            position.set(held.quantity, held.avg_cost)

    def today(self, underlying: str) -> dt.date:
        """The New York date of the underlying's latest bar (whatever the display zone;
        New York's today when there is none)."""
        data = self.datas.get(underlying)
        return exchange_date(data) if data is not None and len(data) else \
            now_local().date()

    # ------------------------------------------------------------------ IB's reports
    def _ours(self, account: str) -> bool:
        return not (self.name and account and account != self.name)

    def apply_value(self, update: AccountUpdate) -> bool:
        """IB's TotalCashValue replaces the cash and the fills booked since; True when
        ``update`` was that figure."""
        if not self._ours(update.account):
            return False
        if update.tag == "TotalCashValue" and update.currency in ("USD", "BASE"):
            self._cash_base, self._cash_adjust = float(update.value), 0.0
            return True
        return False

    def apply_position(self, update: PositionUpdate) -> None:
        if not self._ours(update.account):
            return
        if update.market_price is not None:
            self.marks[update.con_id] = update.market_price
        if abs(update.quantity) < 1e-9:
            self.held.pop(update.con_id, None)
        else:
            self.held[update.con_id] = update

    def stock(self, symbol: str) -> PositionUpdate | None:
        """IB's stock position in ``symbol`` (None when it holds none)."""
        return next((p for p in self.held.values()
                     if p.sec_type == "STK" and p.symbol == symbol), None)

    # ------------------------------------------------------------------ money
    def book_cash(self, amount: float) -> None:
        """Cash an execution moved (negative when paid), until IB's next TotalCashValue."""
        self._cash_adjust += amount

    def cash_total(self) -> float:
        """IB's TotalCashValue plus fills booked since it was reported (spread credits in)."""
        return (self._cash_base or 0.0) + self._cash_adjust

    def value(self) -> float:
        """Cash plus every IB position at its latest price (the feed's close for symbols
        we trade, IB's portfolio price otherwise, the average cost when IB gave none)."""
        value = self.cash_total()
        for p in self.held.values():
            value += p.quantity * self._price_of(p) * (p.multiplier if p.sec_type != "STK"
                                                       else 1.0)
        return value

    def _price_of(self, p: PositionUpdate) -> float:
        data = self.datas.get(p.symbol) if p.sec_type == "STK" else None
        if data is not None and len(data):
            return float(data.close[0])
        if p.con_id in self.marks:
            return self.marks[p.con_id]
        return p.avg_cost / (p.multiplier if p.sec_type != "STK" else 1.0)
