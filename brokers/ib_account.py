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
        #: IB's TotalCashValue in USD (None before one came)
        self._cash_base: float | None = None
        self._cash_adjust = 0.0
        #: an account based in another currency: IB's TotalCashValue in it (amount,
        #: currency; IB gives it in no other), and IB's ExchangeRate of USD (base units
        #: per USD), which turns it into dollars
        self._base_cash: tuple[float, str] | None = None
        self._usd_rate: float | None = None

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
        ``update`` was that figure. The broker counts in USD (its fills are USD): IB's
        USD row when it gives one; for an account based in another currency, whose
        TotalCashValue IB gives only in that currency (or as BASE), that figure at IB's
        own ExchangeRate of USD (``cash_note``), or no cash at all without one
        (``cash_problem``: opening orders are refused). A BASE row is the base currency's
        own figure again, not a currency: read from its currency's row, as it may come
        first (a USD account read as one known only in 'BASE' until its USD row came)."""
        if not self._ours(update.account):
            return False
        if update.tag == "ExchangeRate" and update.currency == "USD":
            rate = _number(update.value)
            self._usd_rate = rate if rate is not None and rate > 0 else None
            return False
        if update.tag != "TotalCashValue" or (value := _number(update.value)) is None:
            return False
        if update.currency == "USD":
            self._cash_base = value
        elif update.currency and update.currency != "BASE":  # BASE: its own row's alias
            self._base_cash = (value, update.currency)
            if self._cash_base is not None:
                return False  # IB's own USD figure stands
        else:
            return False
        self._cash_adjust = 0.0
        return True

    def _dollars(self) -> float | None:
        """IB's last cash figure in USD (None: none came, or it cannot be converted)."""
        if self._cash_base is not None:
            return self._cash_base
        if self._base_cash is not None and self._usd_rate is not None:
            return self._base_cash[0] / self._usd_rate
        return None

    def cash_note(self) -> str | None:
        """How the cash of an account based in another currency than USD is read (None
        for a USD figure, or before IB reported the cash)."""
        if self._cash_base is not None or self._base_cash is None:
            return None
        amount, currency = self._base_cash
        if self._usd_rate is None:
            return self.cash_problem()
        return (f"the account's base currency is {currency}: its cash is IB's "
                f"TotalCashValue {amount:,.2f} {currency} at IB's exchange rate "
                f"{self._usd_rate:g} {currency} per USD, {amount / self._usd_rate:,.2f} USD "
                f"(the rate as IB last reported it)")

    def cash_problem(self) -> str | None:
        """Why the cash in USD is unknown (an account based in another currency whose
        USD exchange rate IB did not report); None when it is known or not reported
        yet."""
        if self._cash_base is not None or self._base_cash is None or \
                self._usd_rate is not None:
            return None
        currency = self._base_cash[1]
        return (f"IB reports the account's cash only in {currency} (TotalCashValue, its "
                f"base currency) and no USD exchange rate: the cash in USD is unknown, so "
                f"no opening order is sent (closing orders still go)")

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
        """IB's TotalCashValue (in USD) plus fills booked since it was reported (spread
        credits in)."""
        return (self._dollars() or 0.0) + self._cash_adjust

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


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None
