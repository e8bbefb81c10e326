"""The simulated options broker: backtrader's BackBroker plus vertical credit spreads.

Shares trade exactly as in ``bt.brokers.BackBroker``. Spreads follow the protocol of
``brokers.spreads`` and the pricing rules of ``brokers.spread_pricing``:

* **No lookahead.** A request is validated and its legs chosen from the chain of the bar
  it is placed on; it fills on the next bar at that bar's quotes of the same two
  contracts. A limit that the next bar's fill credit does not reach expires the order
  (status Expired, ``info['reason']`` says why): a day order, never a silent wait. "The
  next bar" is the next bar of the order's own data: in an account of several symbols an
  opening or a close waits through a session its symbol has no bar for (that data still
  shows the bar the order was placed on, whose quotes it must not fill at).
* **Limits at the request bar's price** (``quote_limits=True``, off by default): every
  spread order without a limit of its own gets one at the request bar's fill price
  (credit to open, debit to close, rounded to the cent), the rule the IB broker follows
  (``brokers.ib_broker``): the order fills on the next bar at that bar's price only if
  the price reaches the limit, else it expires. Off, an order takes the next bar's
  price whatever it is (a market order on the combo), the backtests' default.
* **Cash and margin.** On an opening fill the credit goes into the account and the
  margin ``(width - credit) x 100 x contracts`` moves out of ``getcash()`` into
  ``reserved_margin()`` until the spread closes, so ``getcash()`` is always the free cash
  that new orders (spreads and shares) may use. A new spread needs margin + commission
  <= free cash (the credit it brings is not counted), else the order gets status Margin.
* **Value.** ``getvalue() = getcash() + reserved_margin() + share positions - sum of
  mark x 100 x contracts`` with ``mark = short mid - long mid`` of the current bar, so
  Returns, DrawDown, TimeReturn and PyFolio see option P&L bar by bar.
* **Costs.** ``commission_per_contract`` x contracts x 2 legs per opening or closing
  order (at least ``min_commission_per_order``); none at expiry.
* **Expiry.** A spread settles from the close of its expiry's last session: the expiry
  date itself, or the session before it when the exchange is closed that day (the Friday
  of a Saturday expiry, as monthly contracts were dated before 2015; the Thursday of one
  dated on Good Friday; ``feeds.calendar.last_session``). On the first bar dated on or
  after that session it is cash-settled at intrinsic value from the underlying's close of
  that session (an assigned short leg is treated as cash-settled: no shares are
  delivered); a data without a bar that session settles on its next bar from its last
  close before it, never from a close dated after the expiry. Expiry settles before any
  pending close of the same spread, which is then rejected.

Spread orders are backtrader orders (``SpreadOpenOrder``/``SpreadCloseOrder``) with their
fill in ``order.info`` and ``order.executed.price/comm/dt``; ``order.executed.size`` stays
0 so backtrader does not book them as share trades. Fund mode is not supported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import backtrader as bt
import pandas as pd

from brokers import spread_pricing as sp
from brokers.spread_book import SpreadBook
from brokers.spread_orders import SpreadCloseOrder, SpreadOpenOrder
from brokers.spreads import LegFill, SpreadPosition, SpreadRequest, spread_margin
from core.domain import CONTRACT_COMMISSION, MULTIPLIER
from feeds.calendar import last_session

_EPS = 1e-9


class OptionsBroker(bt.brokers.BackBroker):
    """BackBroker that also opens, marks, closes and settles vertical credit spreads.

    ``chains`` maps an underlying symbol to its ``feeds.chain.OptionChain``; ``fill`` is
    'natural' (cross the bid/ask) or 'mid' (mid prices, ``slippage`` per share against
    the trader); ``quote_limits`` gives every spread order a limit at the request bar's
    fill price (see the module docstring).
    """

    params = (
        ("chains", None),
        ("fill", "natural"),
        ("slippage", 0.0),
        ("commission_per_contract", CONTRACT_COMMISSION),
        ("min_commission_per_order", 0.0),
        ("quote_limits", False),
    )

    def init(self):
        super().init()
        if self.p.fill not in sp.FILL_RULES:
            raise ValueError(f"fill must be one of {', '.join(sp.FILL_RULES)}, "
                             f"got {self.p.fill!r}")
        self.chains: Mapping = dict(self.p.chains or {})
        self.book = SpreadBook()
        self._position_data: dict[int, object] = {}
        self._spread_orders: list = []
        # margin is cash set aside: a running balance moved with ``cash`` on every open and
        # close (the book's sum of open margins is the same amount up to rounding)
        self._reserved = 0.0
        # each spread's quotes from the day it is first priced through its expiry
        # (``sp.LifeQuotes``, read one day at a time), keyed by (chain, short leg's and long
        # leg's OCC symbols), dropped when the spread ends
        self._lives: dict[tuple, sp.LifeQuotes | None] = {}
        # this bar's date of each data, converted once per ``next`` (num2date is slow)
        self._bar_days: dict[int, dt.date] = {}
        self._bar_has: dict[tuple, bool] = {}

    # ------------------------------------------------------------------ protocol
    def open_credit_spread(self, strategy, data, request: SpreadRequest) -> SpreadOpenOrder:
        """Place ``request`` on this bar; it fills on the next one (see module doc)."""
        size = request.contracts if isinstance(request.contracts, int) else 0
        order = SpreadOpenOrder(owner=strategy, data=data, size=size)
        order.addinfo(request=request, action="open", position_id=None)
        self._submit(order)
        try:
            order.addinfo(**self._prepare_open(data, request))
        except sp.SpreadRejected as exc:
            self._refuse(order, exc)
            return order
        self._accept(order)
        return order

    def close_spread(self, strategy, position_id: int, tag: str = "close") -> SpreadCloseOrder:
        """Buy back open spread ``position_id`` on the next bar; ``tag`` is kept on it."""
        position = self.book.get(position_id)
        data = self._position_data.get(position_id, strategy.datas[0])
        contracts = position.contracts if position else 0
        order = SpreadCloseOrder(owner=strategy, data=data, size=contracts)
        order.addinfo(action="close", position_id=position_id, tag=tag,
                      placed=data.datetime.date(0))
        self._submit(order)
        if position is None or not position.is_open:
            state = "unknown" if position is None else "already closed"
            self._refuse(order, sp.SpreadRejected(f"spread {position_id!r} is {state}"))
            return order
        if any(o.info.get("position_id") == position_id and o.info["action"] == "close"
               for o in self._spread_orders):
            self._refuse(order, sp.SpreadRejected(f"spread {position_id} has a close pending"))
            return order
        if self.p.quote_limits:
            try:
                order.addinfo(limit=round(self._close_debit(position, data.datetime.date(0),
                                                            "request bar"), 2))
            except sp.SpreadRejected as exc:
                self._refuse(order, exc)
                return order
        self._accept(order)
        return order

    def open_spreads(self, underlying: str | None = None) -> list[SpreadPosition]:
        return self.book.open(underlying)

    def closed_spreads(self, underlying: str | None = None) -> list[SpreadPosition]:
        return self.book.closed(underlying)

    def get_spread(self, position_id: int) -> SpreadPosition | None:
        return self.book.get(position_id)

    def reserved_margin(self) -> float:
        return self._reserved

    def spread_liability(self) -> float:
        """Dollars it would cost to close every open spread at the last marks (mid)."""
        return self.book.liability()

    # ------------------------------------------------------------ order plumbing
    def commission(self, contracts: int) -> float:
        """Commission of one spread order: per contract, two legs, with the minimum."""
        return max(self.p.commission_per_contract * contracts * 2,
                   self.p.min_commission_per_order)

    def _submit(self, order) -> None:
        order.submit(self)
        self.orders.append(order)
        self.notify(order)

    def _accept(self, order) -> None:
        order.accept(self)
        self._spread_orders.append(order)
        self.notify(order)

    def _refuse(self, order, exc: sp.SpreadRejected) -> None:
        order.addinfo(reason=exc.reason)
        if exc.margin:
            order.margin()
        else:
            order.reject(self)
        self.notify(order)

    def cancel(self, order, bracket=False):
        if order in self._spread_orders:
            self._spread_orders.remove(order)
            order.addinfo(reason="cancelled by the strategy")
            order.cancel()
            self.notify(order)
            return True
        return super().cancel(order, bracket=bracket)

    def get_orders_open(self, safe=False):
        spread_orders = [o.clone() if safe else o for o in self._spread_orders]
        return list(super().get_orders_open(safe=safe)) + spread_orders

    # ------------------------------------------------------------------ opening
    def _chain_for(self, underlying: str, day: dt.date, when: str):
        chain = self.chains.get(underlying)
        if chain is None:
            have = ", ".join(sorted(self.chains)) or "none"
            raise sp.SpreadRejected(f"no option chain for underlying {underlying!r} "
                                    f"(chains: {have})")
        if not self._has_day(chain, day):
            raise sp.SpreadRejected(f"no option chain for {underlying} on {day:%Y-%m-%d} "
                                    f"({when})")
        return chain

    def _check_credit(self, credit: float, width: float, day: dt.date,
                      legs: str = "") -> None:
        """Refuse an opening credit (on the request bar and again on the fill bar) that is
        not above 0, or not below the ``width``: a vertical pays at most its width, so such
        quotes are an error of the data, and the spread would book a risk-free profit with
        no margin (``spread_margin`` is 0 there; the strategy labels refuse it too)."""
        if credit <= _EPS:
            raise sp.SpreadRejected(f"non-positive credit {credit:.2f} at {self._prices()} "
                                    f"on {day:%Y-%m-%d}{legs}")
        if credit >= width - _EPS:
            raise sp.SpreadRejected(f"credit {credit:.2f} at {self.p.fill} prices on "
                                    f"{day:%Y-%m-%d} is not below the width {width:g}: no "
                                    "spread sells for what it can pay at most (a quote error)")

    def _prices(self) -> str:
        """The fill rule a credit was priced by, in a refusal: a slippage that takes the
        whole mid credit is named, since no chain quoted that credit."""
        if self.p.slippage:
            return f"{self.p.fill} prices less a slippage of {self.p.slippage:.2f} a share"
        return f"{self.p.fill} prices"

    def _prepare_open(self, data, request: SpreadRequest) -> dict:
        """Validate ``request`` against this bar's chain; the legs and limit it fixes."""
        problems = request.problems()
        if problems:
            raise sp.SpreadRejected("; ".join(problems))
        day = data.datetime.date(0)
        chain = self._chain_for(request.underlying, day, "request bar")
        short, long = sp.resolve_on_chain(chain, day, request)
        sq, lq = self._spread_quotes(chain, day, short, long)
        credit = sp.open_credit(sq, lq, self.p.fill, self.p.slippage)
        self._check_credit(credit, request.width, day, f" ({short.symbol} / {long.symbol})")
        limit = request.limit_credit
        if request.mid_allowance is not None:
            limit = sp.mid_credit(sq, lq) - request.mid_allowance
        elif limit is None and self.p.quote_limits:
            limit = round(credit, 2)
        need = (spread_margin(request.width, credit, request.contracts)
                + self.commission(request.contracts))
        committed = sum(o.info["estimated_need"] for o in self._spread_orders
                        if o.info["action"] == "open")
        free = self.cash - committed
        if need > free + _EPS:
            raise sp.SpreadRejected(
                f"insufficient buying power: margin + commission {need:.2f} > free cash "
                f"{free:.2f}", margin=True)
        return {"short": short, "long": long, "limit": limit, "placed": day,
                "quoted_credit": credit, "estimated_need": need}

    def _fill_open(self, order, day: dt.date) -> None:
        info = order.info
        request: SpreadRequest = info["request"]
        chain = self._chain_for(request.underlying, day, "fill bar")
        short, long = info["short"], info["long"]
        if last_session(short.expiry) <= day:  # settled on this bar, before any fill
            raise sp.SpreadRejected(f"{short.symbol} expired before the fill on {day}")
        sq, lq = self._spread_quotes(chain, day, short, long)
        credit = sp.open_credit(sq, lq, self.p.fill, self.p.slippage)
        self._check_credit(credit, request.width, day)
        if info["limit"] is not None and credit < info["limit"] - _EPS:
            info["reason"] = (f"limit credit {info['limit']:.2f} not reached: "
                              f"{self.p.fill} credit {credit:.2f} on {day:%Y-%m-%d}")
            order.status = order.Expired
            order.executed.dt = order.data.datetime[0]
            return
        n = request.contracts
        margin = spread_margin(request.width, credit, n)
        comm = self.commission(n)
        if margin + comm > self.cash + _EPS:
            raise sp.SpreadRejected(f"insufficient buying power at fill: margin + commission "
                                    f"{margin + comm:.2f} > free cash {self.cash:.2f}",
                                    margin=True)
        self.cash += credit * MULTIPLIER * n - comm - margin
        self._reserved += margin
        position = SpreadPosition(
            id=self.book.next_id(), underlying=request.underlying, kind=request.kind, short=short,
            long=long, contracts=n, entry_date=day, entry_credit=credit, commission=comm,
            margin=margin, mark=sp.mark(sq, lq), dte=(short.expiry - day).days)
        _set_leg_marks(position, sq, lq)
        _book_legs(position, day, sp.leg_prices(sq, lq, self.p.fill, self.p.slippage, True,
                                                position.width),
                   opening=True, reason="open")
        self.book.add(position)
        self._position_data[position.id] = order.data
        info.update(position_id=position.id, credit=credit, commission=comm, margin=margin)
        self._complete(order, price=credit, comm=comm)

    def _complete(self, order, price: float, comm: float) -> None:
        order.executed.dt = order.data.datetime[0]
        order.executed.price = price
        order.executed.comm = comm
        order.completed()

    # ------------------------------------------------------------------ closing
    def _fill_close(self, order, day: dt.date) -> None:
        position = self.book.get(order.info["position_id"])
        if not position.is_open:
            raise sp.SpreadRejected(f"spread {position.id} was settled at expiry on "
                                    f"{position.exit_date} before the close could fill")
        chain = self._chain_for(position.underlying, day, "fill bar")
        sq, lq = self._spread_quotes(chain, day, position.short, position.long)
        debit = sp.close_debit(sq, lq, self.p.fill, self.p.slippage, position.width)
        limit = order.info.get("limit")
        if limit is not None and debit > limit + _EPS:
            order.info["reason"] = (f"limit debit {limit:.2f} not reached: {self.p.fill} "
                                    f"debit {debit:.2f} on {day:%Y-%m-%d}")
            order.status = order.Expired
            order.executed.dt = order.data.datetime[0]
            return
        comm = self.commission(position.contracts)
        _book_legs(position, day, sp.leg_prices(sq, lq, self.p.fill, self.p.slippage, False,
                                                position.width),
                   opening=False, reason="close")
        self._finish(position, day, debit, comm, "close", order.info["tag"])
        order.info.update(debit=debit, commission=comm, realized_pnl=position.realized_pnl)
        self._complete(order, price=debit, comm=comm)

    def _close_debit(self, position: SpreadPosition, day: dt.date, when: str) -> float:
        """Debit per share to buy ``position`` back on ``day`` by the fill rule."""
        chain = self._chain_for(position.underlying, day, when)
        sq, lq = self._spread_quotes(chain, day, position.short, position.long)
        return sp.close_debit(sq, lq, self.p.fill, self.p.slippage, position.width)

    def _spread_quotes(self, chain, day: dt.date, short, long) -> tuple[sp.Quote, sp.Quote]:
        """One spread's quotes on ``day``: from its life table (``sp.LifeQuotes``, built
        the first time the spread is priced), else one chain call."""
        quotes = self._life(chain, day, short, long)
        return quotes if quotes is not None else sp.spread_quotes(chain, day, short, long)

    def _life(self, chain, day: dt.date, short, long) -> tuple[sp.Quote, sp.Quote] | None:
        key = (id(chain), short.symbol, long.symbol)  # OCC symbols name the legs
        if key not in self._lives:
            self._lives[key] = sp.life_quotes(chain, day, short, long)
        life = self._lives[key]
        return life.get(day) if life is not None else None

    def _has_day(self, chain, day: dt.date) -> bool:
        """``chain.has_date(day)``, asked once per chain and day within a bar (a pandas
        index lookup, asked by the quotes, fills, marks and expiries of every bar)."""
        key = (id(chain), day)
        has = self._bar_has.get(key)
        if has is None:
            has = self._bar_has[key] = chain.has_date(day)
        return has

    def _bar_day(self, data) -> dt.date:
        """``data.datetime.date(0)`` of this bar, converted once per ``next``."""
        day = self._bar_days.get(id(data))
        if day is None:
            day = self._bar_days[id(data)] = data.datetime.date(0)
        return day

    def _finish(self, position: SpreadPosition, day, debit: float, comm: float,
                reason: str, tag: str) -> None:
        """Pay ``debit`` per share (+ ``comm``), release the margin, book realized P&L."""
        self.cash += position.margin - debit * MULTIPLIER * position.contracts - comm
        self._reserved -= position.margin
        self.book.close(position, day, debit, comm, reason, tag)
        position.dte = max((position.expiry - day).days, 0)
        # its quote table is done with (an order for the same legs builds a new one)
        self._lives.pop((id(self.chains.get(position.underlying)), position.short.symbol,
                         position.long.symbol), None)

    def _settle_expired(self) -> None:
        for position in self.book.open():
            data = self._position_data[position.id]
            day = self._bar_day(data)
            # the last session on or before the expiry: the expiry itself, or the Friday of
            # a Saturday expiry, the Thursday of an expiry dated on Good Friday
            settles = last_session(position.expiry)
            if day < settles:
                continue
            chain = self.chains[position.underlying]
            spot = self._settlement_spot(chain, data, settles)
            value = sp.settlement(spot, position.short, position.long)
            _book_legs(position, day, sp.leg_settlements(spot, position.short, position.long),
                       opening=False, reason="expiry")
            self._finish(position, day, value, 0.0, "expiry", "expiry")
            position.extra["settlement_spot"] = spot
            position.extra["settlement_session"] = settles

    def _settlement_spot(self, chain, data, settles: dt.date) -> float:
        """The underlying's close a spread expiring with last session ``settles`` settles
        from: the chain's close that session, else the feed's; a feed without a bar that
        session (a gap in the data) gives its last close before it, never a close dated
        after the expiry."""
        if self._has_day(chain, settles):
            return float(chain.bars.loc[pd.Timestamp(settles), "close"])
        for ago in range(0, -len(data), -1):  # this bar first, then back
            if data.datetime.date(ago) <= settles:
                return float(data.close[ago])
        return float(data.close[0])  # no bar that early kept (a bounded buffer)

    # ------------------------------------------------------------------ each bar
    def _process_spread_orders(self) -> None:
        still = []
        for order in self._spread_orders:
            day = self._bar_day(order.data)
            if day <= order.info["placed"]:
                # never on the bar it was placed on: in an account of several symbols a
                # data without a bar this session still shows the bar the order came from
                still.append(order)
                continue
            try:
                if order.info["action"] == "open":
                    self._fill_open(order, day)
                else:
                    self._fill_close(order, day)
            except sp.SpreadRejected as exc:
                self._refuse(order, exc)
                continue
            self.notify(order)
        self._spread_orders = still

    def _mark_open(self) -> None:
        """Mark every open spread at this bar's mid prices: from the spreads' quote tables
        (``_spread_quotes``), else one chain call per underlying and day for all legs."""
        groups: dict[tuple[str, dt.date], list[SpreadPosition]] = {}
        for position in self.book.open():
            day = self._bar_day(self._position_data[position.id])
            groups.setdefault((position.underlying, day), []).append(position)
        for (underlying, day), positions in groups.items():
            chain = self.chains[underlying]
            if self._has_day(chain, day):  # a day without quotes keeps the last mark
                quotes = [self._life(chain, day, p.short, p.long) for p in positions]
                if not all(quotes):
                    quotes = sp.spreads_quotes(chain, day, positions)
                for position, (sq, lq) in zip(positions, quotes, strict=True):
                    position.mark = sp.mark(sq, lq)
                    _set_leg_marks(position, sq, lq)
                    position.dte = (position.expiry - day).days
            for position in positions:
                self.book.revalue(position)

    def next(self):
        """Settle expiries, fill spread orders, mark spreads, then BackBroker's bar."""
        self._bar_days, self._bar_has = {}, {}
        self._settle_expired()
        self._process_spread_orders()
        self._mark_open()
        super().next()  # shares; ends with _get_value, which adds the spreads

    def _get_value(self, datas=None, lever=False):
        value = super()._get_value(datas=datas, lever=lever)
        if datas:  # one data's value: share positions only
            return value
        net = self._reserved - self.book.liability()
        self._value += net
        self._valuelever += net
        self._fundval = self._value / self._fundshares
        return self._value if not lever else self._valuelever


def _set_leg_marks(position: SpreadPosition, short: sp.Quote, long: sp.Quote) -> None:
    position.leg_marks = {position.short.symbol: short.mid, position.long.symbol: long.mid}


def _book_legs(position: SpreadPosition, day: dt.date, prices: tuple[float, float],
               opening: bool, reason: str) -> None:
    """Record the two leg transactions of a fill: opening sells the short leg and buys the
    long one; closing and expiry do the reverse."""
    sign = 1 if opening else -1
    for leg, price in zip((position.short, position.long), prices, strict=True):
        quantity = sign * leg.ratio * position.contracts
        position.leg_fills.append(LegFill(day, leg.symbol, quantity, float(price), reason))
