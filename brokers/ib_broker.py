"""backtrader broker on Interactive Brokers: shares and the spread protocol, journaled.

The same strategies that run on ``OptionsBroker`` in backtests run here unchanged:

* **Orders.** ``buy``/``sell`` become IB stock orders (Market, Limit, Stop, StopLimit,
  Close = MOC), ``open_credit_spread``/``close_spread`` one BAG combo order each (see
  ``brokers.ib_spreads``). Every order carries an ``orderRef``
  (``btml/<strategy>/<intent>/<symbol>/<id>``) and is written to the journal before it is
  sent. IB's states map to backtrader's: PreSubmitted/Submitted -> Accepted, fills ->
  Partial/Completed (booked once their commission report is in), Cancelled -> Canceled,
  error 201 -> Rejected with IB's reason (Margin when the reason is about margin or
  equity), Inactive -> Rejected.
* **Money.** ``getcash()`` is IB's TotalCashValue, plus the cash effect of fills booked
  since IB last reported it, minus the margin of open spreads (free cash, as in the
  simulated broker); ``getvalue()`` adds every IB position at its latest price (the feed's
  close for symbols we trade, IB's portfolio price otherwise), so open spreads are marked.
* **Safety.** Nothing is sent unless the account is a paper account (``DU...``) or
  ``allow_live``; a daily loss limit and a maximum of open spreads refuse new opening orders
  (closing orders still go); orders placed on historical backfill bars are refused.
* **Spread fill rule** (the simulated broker's with ``quote_limits=True``): a spread order
  is a limit at the request bar's natural price (credit short bid - long ask to open,
  debit short ask - long bid to close, from IB's quotes, rounded to the cent) and is good
  for ``spread_order_bars`` bars (1): if IB has not filled it when the next bar arrives,
  the broker cancels it and, once IB confirms, reports it Expired with the reason, as the
  simulated broker does with a limit the next bar's price does not reach.
* **Reconciliation.** After every (re)connect the store's ``Sync`` is compared with the
  journal: executions are booked by execId (fills that happened while disconnected arrive
  only here), orders IB still has are re-attached by orderRef/permId, orders IB never
  acknowledged are marked lost and **never resent**, and IB's positions are diffed against
  the journal's baseline + booked fills (``reconcile_reports``).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import queue
import time
import uuid
from collections.abc import Callable

import backtrader as bt
from ib_async import LimitOrder, MarketOrder, Order, StopOrder

from brokers import spread_pricing as sp
from brokers.bar_times import now_local
from brokers.ib_events import ErrorUpdate
from brokers.ib_ledger import IBLedger
from brokers.ib_spreads import SpreadResolver, combo, occ
from brokers.ib_store import IBError, IBStore
from brokers.journal import TERMINAL, Journal
from brokers.spread_orders import SpreadCloseOrder, SpreadOpenOrder
from brokers.spreads import SpreadPosition, SpreadRequest, spread_margin

log = logging.getLogger("btml.ib")


class LiveAccountRefused(IBError):
    """The managed account is not a paper account and live trading was not allowed."""


class IBBroker(bt.broker.BrokerBase):
    """Broker on an ``IBStore``; see the module docstring for the rules. The event side
    (booking fills, order states, cash and positions, spreads, reconciliation) is its
    ``ledger`` (``brokers.ib_ledger.IBLedger``), which the store's snapshots are applied to."""

    params = (
        ("store", None),
        ("journal", None),
        ("account", ""),
        ("allow_live", False),
        ("max_daily_loss", None),
        ("max_open_spreads", None),
        ("cancel_on_exit", False),
        ("trade_backfill", False),
        ("option_exchange", "SMART"),
        ("spread_candidates", 6),
        ("commission_per_contract", 0.65),
        ("spread_order_bars", 1),
        ("on_event", None),
    )

    def __init__(self):
        super().__init__()
        if self.p.store is None:
            raise ValueError("IBBroker needs store=IBStore(...)")
        self.store: IBStore = self.p.store
        self.journal: Journal = self.p.journal or Journal(":memory:")
        self.resolver = SpreadResolver(self.store, self.p.option_exchange,
                                       self.p.spread_candidates)
        self.ledger = IBLedger(self.journal, self, self.p.account)
        self.notifs: collections.deque = collections.deque()
        #: backtrader's stock positions per feed (``Strategy.positions`` reads them here)
        self.positions = self.ledger.account.positions
        self._queue: queue.Queue = queue.Queue()
        self._backfilling: Callable[[], bool] = lambda: False
        self._listening = False
        #: orders handed to IB by this process (tests wait for the fake to see them all)
        self.sent = 0

    # ------------------------------------------------------------------ the ledger's state
    @property
    def account(self) -> str:
        """The account orders go to ('' until ``check_account`` picked it)."""
        return self.ledger.account.name

    @property
    def link_state(self) -> str:
        return self.ledger.link_state

    @property
    def errors(self) -> list[ErrorUpdate]:
        return self.ledger.errors

    @property
    def reconcile_reports(self) -> list[dict]:
        return self.ledger.reconcile_reports

    def position_diffs(self) -> list[dict]:
        """IB's position per conId against the journal's baseline + booked fills."""
        return self.ledger.position_diffs()

    # ------------------------------------------------------------------ life cycle
    def start(self):
        super().start()
        if not self._listening:
            self.store.add_listener(self._queue.put)
            self._listening = True
        if not self.store.connected.is_set():
            self.store.start()
        else:
            self.ledger.link_state = "connected"
            if self.store.last_sync is not None:
                self._queue.put(self.store.last_sync)
        self._drain()
        self.check_account()
        self.startingcash = self.cash_total()

    def stop(self):
        self._drain()
        if self.p.cancel_on_exit:
            for ref, order in list(self.ledger.orders.items()):
                if order.alive():
                    self.store.cancel(order_ref=ref)

    def check_account(self) -> str:
        """The account orders go to; refuses a live (non-DU) account unless allowed."""
        accounts = self.store.accounts
        account = self.p.account or (accounts[0] if len(accounts) == 1 else "")
        if not account:
            raise IBError(f"several managed accounts ({', '.join(accounts)}): pass --account")
        if account not in accounts:
            raise IBError(f"account {account} is not among the managed accounts "
                          f"{', '.join(accounts)}")
        if not account.startswith("DU") and not self.p.allow_live:
            raise LiveAccountRefused(
                f"account {account} is not a paper account (paper accounts start with DU): "
                f"refusing to trade it without --live")
        self.ledger.account.name = account
        return account

    def set_backfill_check(self, check: Callable[[], bool]) -> None:
        """``check()`` is True while any feed still delivers historical backfill bars."""
        self._backfilling = check

    def event(self, text: str) -> None:
        """Log ``text`` and hand it to ``on_event`` (the paper command prints it)."""
        log.info(text)
        if self.p.on_event is not None:
            self.p.on_event(text)

    # ------------------------------------------------------------------ backtrader API
    def getcash(self) -> float:
        return self.cash_total() - self.reserved_margin()

    def cash_total(self) -> float:
        """IB's TotalCashValue plus fills booked since it was reported (spread credits in)."""
        return self.ledger.account.cash_total()

    def getvalue(self, datas=None) -> float:
        if datas:
            return sum(self.getposition(d).size * float(d.close[0]) for d in datas)
        return self.ledger.account.value()

    def getposition(self, data, clone=True):
        self.ledger.account.watch(data)
        position = self.positions[data]
        return position.clone() if clone else position

    def get_notification(self):
        try:
            return self.notifs.popleft()
        except IndexError:
            return None

    def notify(self, order) -> None:
        self.notifs.append(order.clone())

    def _drain(self) -> None:
        while True:
            try:
                update = self._queue.get_nowait()
            except queue.Empty:
                return
            self.ledger.apply(update)

    def next(self):
        self._drain()
        waiting = self.ledger.awaiting_commission()
        if waiting:
            for update in self.store.fill_commissions(waiting).values():
                self.ledger.apply(update)
        self.ledger.spreads.link_assignments()
        self._expire_spread_orders()
        self.ledger.spreads.mark()
        self._track_exchange_day()

    def _track_exchange_day(self) -> None:
        """When a bar of a new exchange date arrives, the value last seen on the date
        before starts the new date's loss count (``max_daily_loss``)."""
        day = self._exchange_today()
        last = getattr(self, "_last_day", None)
        if last is not None and day != last[0] and not self._backfilling():
            self.journal.day_start_value(day, last[1])
        self._last_day = (day, self.getvalue())

    def _expire_spread_orders(self) -> None:
        """Spread orders still working ``spread_order_bars`` bars after their request bar
        are cancelled at IB; IB's confirmation (awaited here, at most ``request_timeout``
        seconds) makes them Expired on this very bar, as in the simulated broker. A fill
        that beats the cancel is booked instead: IB is the authority."""
        bars = self.p.spread_order_bars
        if bars is None:
            return
        for ref, order in list(self.ledger.orders.items()):
            info = order.info
            if not order.alive() or info.get("expiring") or \
                    info.get("action") not in ("open", "close") or "placed_len" not in info:
                continue
            if len(order.data) - info["placed_len"] < bars:
                continue
            what = "credit" if info["action"] == "open" else "debit"
            info["expiring"] = True
            info["expire_reason"] = (f"limit {what} {info['limit']:.2f} not filled by IB "
                                     f"within {bars} bar(s) after the request bar: "
                                     f"cancelled")
            self.event(f"expiring {ref}: {info['expire_reason']}")
            try:
                sent = self.store.cancel(order_ref=ref)
            except (IBError, TimeoutError) as exc:
                self.event(f"could not cancel {ref}: {exc}")
                continue
            if sent:
                self._await(lambda r=ref: self.journal.order(r)["status"] in TERMINAL,
                            self.store.settings.request_timeout)

    def _await(self, done: Callable[[], bool], timeout: float) -> bool:
        """Apply the store's snapshots as they come until ``done()`` (at most ``timeout``
        seconds; waits on the queue, never sleeps)."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                update = self._queue.get(timeout=left)
            except queue.Empty:
                return done()
            self.ledger.apply(update)
            self._drain()
        return True

    def buy(self, owner, data, size, *args, **kwargs):
        """A stock buy; backtrader's arguments (``price``, ``exectype``, ...), the other
        keywords go to ``order.info``."""
        return self._submit_stock(*_stock_order(bt.order.BuyOrder, owner, data, size,
                                                *args, **kwargs))

    def sell(self, owner, data, size, *args, **kwargs):
        """A stock sell; arguments as in ``buy``."""
        return self._submit_stock(*_stock_order(bt.order.SellOrder, owner, data, size,
                                                *args, **kwargs))

    def cancel(self, order):
        ref = order.info.get("order_ref")
        if ref and order.alive():
            return self.store.cancel(order_ref=ref)
        return False

    def get_orders_open(self, safe=False):
        return [o.clone() if safe else o for o in self.ledger.orders.values() if o.alive()]

    # ------------------------------------------------------------------ safety
    def _refusal(self, opening: bool) -> str | None:
        """Why no order may be sent now (None when it may)."""
        if not self.p.allow_live and not self.account.startswith("DU"):
            return f"account {self.account!r} is not a paper account"
        if self._backfilling() and not self.p.trade_backfill:
            return "placed on a historical backfill bar (the feed is not live yet)"
        if not self.store.connected.is_set():
            return "not connected to TWS/Gateway"
        if opening and self.p.max_daily_loss is not None:
            today = self._exchange_today()
            start = self.journal.day_start_value(today, self.getvalue())
            loss = start - self.getvalue()
            if loss >= self.p.max_daily_loss:
                return (f"daily max loss reached: down {loss:,.2f} since {start:,.2f} at the "
                        f"start of {today} (limit {self.p.max_daily_loss:,.2f})")
        return None

    def _exchange_today(self) -> dt.date:
        """The session date of the latest bar the broker has seen (the exchange's date,
        also in an accelerated replay), New York's date before any bar."""
        days = [d.datetime.date(0) for d in self.ledger.account.datas.values() if len(d)]
        return max(days) if days else now_local().date()

    def _order_ref(self, owner, intent: str, symbol: str) -> str:
        return f"btml/{type(owner).__name__}/{intent}/{symbol}/{uuid.uuid4().hex[:10]}"

    def _refuse(self, order, reason: str, margin: bool = False) -> None:
        order.addinfo(reason=reason)
        order.margin() if margin else order.reject(self)
        self.notify(order)
        self.event(f"refused {order.info.get('order_ref', '')}: {reason}")

    # ------------------------------------------------------------------ stock orders
    def _submit_stock(self, order, extra: dict):
        order.addcomminfo(self.getcommissioninfo(order.data))
        order.addinfo(**extra)
        data = order.data
        self.ledger.account.watch(data)
        action = "BUY" if order.isbuy() else "SELL"
        ref = self._order_ref(order.owner, action.lower(), data._name)
        order.addinfo(order_ref=ref)
        order.submit(self)
        self.notify(order)
        position = self.positions[data].size
        reducing = position and (position > 0) != order.isbuy() and abs(order.size) <= abs(
            position)
        reason = self._refusal(opening=not reducing)
        ib_order = None if reason else self._ib_order(order, action, ref)
        if ib_order is None and reason is None:
            reason = f"exectype {order.getordername()} is not supported on IB"
        self.journal.record_intent(ref, type(order.owner).__name__, action.lower(), data._name,
                                   {"size": abs(order.size), "exectype": order.getordername(),
                                    "price": order.price, "bar": str(data.datetime.datetime(0))})
        self.journal.record_order(ref, "stock", action, abs(order.size),
                                  ib_order.orderType if ib_order else "", order.price,
                                  status="refused" if reason else "sending", reason=reason)
        if reason:
            self._refuse(order, reason)
            return order
        try:
            contract = self.resolver.underlying(data._name)
            self.ledger.track(ref, order)
            order_id = self.store.place(contract, ib_order)
        except (IBError, TimeoutError, ConnectionError) as exc:
            self.ledger.forget(ref)
            self.journal.update_order(ref, status="rejected", reason=str(exc))
            self._refuse(order, f"not sent: {exc}")
            return order
        self.sent += 1
        self.journal.order_sent(ref, order_id, self.store.settings.client_id)
        self.event(f"sent {action} {abs(order.size):g} {data._name} ({ib_order.orderType}) "
                    f"orderId {order_id} ref {ref}")
        return order

    def _ib_order(self, order, action: str, ref: str) -> Order | None:
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
        ib.orderRef, ib.account, ib.tif = ref, self.account, "DAY"
        return ib

    # ------------------------------------------------------------------ spread protocol
    def open_credit_spread(self, strategy, data, request: SpreadRequest) -> SpreadOpenOrder:
        """Resolve the legs from IB (as backtests do from the chain) and send one BAG."""
        self.ledger.account.watch(data)
        size = request.contracts if isinstance(request.contracts, int) else 0
        order = SpreadOpenOrder(owner=strategy, data=data, size=size)
        ref = self._order_ref(strategy, f"open_{request.kind}", request.underlying)
        order.addinfo(request=request, action="open", position_id=None, order_ref=ref)
        order.submit(self)
        self.notify(order)
        self.journal.record_intent(ref, type(strategy).__name__, f"open_{request.kind}",
                                   request.underlying, {"request": vars(request),
                                                        "bar": str(data.datetime.datetime(0))})
        problems = request.problems()
        reason = "; ".join(problems) if problems else self._refusal(opening=True)
        if reason is None and self.p.max_open_spreads is not None:
            pending = sum(1 for o in self.ledger.orders.values()
                          if o.alive() and o.info.get("action") == "open")
            if len(self.open_spreads()) + pending >= self.p.max_open_spreads:
                reason = (f"max open spreads reached ({len(self.open_spreads())} open, "
                          f"{pending} pending, limit {self.p.max_open_spreads})")
        margin = False
        if reason is None:
            try:
                resolved = self.resolver.resolve(data, request)
                limit = self._open_limit(request, resolved)
                need = (spread_margin(request.width, limit, request.contracts)
                        + 2 * self.p.commission_per_contract * request.contracts)
                if need > self.getcash() + 1e-9:
                    margin = True
                    reason = (f"insufficient buying power: margin + commission {need:.2f} > "
                              f"free cash {self.getcash():.2f}")
            except sp.SpreadRejected as exc:
                reason = exc.reason
            except (IBError, TimeoutError) as exc:
                reason = f"IB could not resolve the legs: {exc}"
        if reason:
            self.journal.record_order(ref, "spread_open", "SELL", size, "LMT", None,
                                      status="margin" if margin else "refused", reason=reason)
            self._refuse(order, reason, margin=margin)
            return order
        order.addinfo(short=resolved.short, long=resolved.long, limit=limit,
                      placed=data.datetime.date(0), quoted_credit=resolved.natural_credit,
                      con_ids=(resolved.short_contract.conId, resolved.long_contract.conId))
        # what a later process needs to rebuild the spread from a fill of this order
        self.journal.add_detail(ref, short=dataclasses.asdict(resolved.short),
                                long=dataclasses.asdict(resolved.long))
        self._send_combo(order, ref, "spread_open", "SELL", request.contracts, limit, resolved)
        return order

    def _open_limit(self, request: SpreadRequest, resolved) -> float:
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

    def close_spread(self, strategy, position_id: int, tag: str = "close") -> SpreadCloseOrder:
        """Buy the spread back with one BAG at the natural debit from IB's quotes."""
        position = self.ledger.book.get(position_id)
        data = self.ledger.account.datas.get(position.underlying) if position else None
        data = data or strategy.datas[0]
        order = SpreadCloseOrder(owner=strategy, data=data,
                                 size=position.contracts if position else 0)
        ref = self._order_ref(strategy, "close_spread", position.underlying if position else "?")
        order.addinfo(action="close", position_id=position_id, tag=tag, order_ref=ref)
        order.submit(self)
        self.notify(order)
        self.journal.record_intent(ref, type(strategy).__name__, "close_spread",
                                   position.underlying if position else "?",
                                   {"position_id": position_id, "tag": tag})
        reason = None
        if position is None or not position.is_open:
            reason = f"spread {position_id!r} is " + ("unknown" if position is None
                                                      else "already closed")
        elif any(o.alive() and o.info.get("action") == "close"
                 and o.info.get("position_id") == position_id
                 for o in self.ledger.orders.values()):
            reason = f"spread {position_id} has a close pending"
        else:
            reason = self._refusal(opening=False)
        if reason is None:
            try:
                short_c, long_c = self.resolver.options(
                    position.underlying, f"{position.expiry:%Y%m%d}",
                    [position.short.strike, position.long.strike], position.short.right)
                sq, lq = self.resolver.quotes([short_c, long_c])
                debit = round(sq["ask"] - lq["bid"], 2)
            except sp.SpreadRejected as exc:
                reason = exc.reason
            except (IBError, TimeoutError) as exc:
                reason = f"IB could not quote the legs: {exc}"
        if reason:
            self.journal.record_order(ref, "spread_close", "BUY", order.size, "LMT", None,
                                      status="refused", reason=reason)
            self._refuse(order, reason)
            return order
        order.addinfo(limit=debit, con_ids=(short_c.conId, long_c.conId))
        order.addinfo(contracts=position.contracts)
        self._send_combo(order, ref, "spread_close", "BUY", position.contracts, debit,
                         _Legs(short_c, long_c))
        return order

    def _send_combo(self, order, ref: str, kind: str, action: str, contracts: int,
                    limit: float, legs) -> None:
        self.journal.record_order(ref, kind, action, contracts, "LMT", limit)
        self.journal.add_detail(ref, con_ids=[legs.short_contract.conId,
                                              legs.long_contract.conId])
        bag = combo(order.data._name if kind == "spread_open" else legs.short_contract.symbol,
                    legs.short_contract, legs.long_contract, self.p.option_exchange)
        order.addinfo(placed_len=len(order.data))
        ib = LimitOrder(action, contracts, limit, orderRef=ref, account=self.account, tif="DAY")
        self.ledger.track(ref, order, (legs.short_contract.conId, legs.long_contract.conId))
        try:
            order_id = self.store.place(bag, ib)
        except (IBError, TimeoutError, ConnectionError) as exc:
            self.ledger.forget(ref)
            self.journal.update_order(ref, status="rejected", reason=str(exc))
            self._refuse(order, f"not sent: {exc}")
            return
        self.sent += 1
        self.journal.order_sent(ref, order_id, self.store.settings.client_id)
        self.event(f"sent {action} {contracts} {bag.symbol} combo "
                    f"{occ(legs.short_contract)}/{occ(legs.long_contract)} limit {limit:.2f} "
                    f"orderId {order_id} ref {ref}")

    def open_spreads(self, underlying: str | None = None) -> list[SpreadPosition]:
        return self.ledger.book.open(underlying)

    def closed_spreads(self, underlying: str | None = None) -> list[SpreadPosition]:
        return self.ledger.book.closed(underlying)

    def get_spread(self, position_id: int) -> SpreadPosition | None:
        return self.ledger.book.get(position_id)

    def reserved_margin(self) -> float:
        return self.ledger.book.reserved_margin()


def _stock_order(cls, owner, data, size, price=None, plimit=None, exectype=None, valid=None,
                 tradeid=0, oco=None, trailamount=None, trailpercent=None, parent=None,
                 transmit=True, **info) -> tuple[bt.Order, dict]:
    """backtrader's ``buy``/``sell`` arguments as an order of ``cls`` (``oco`` is not
    supported on IB and ignored) and the keywords left for ``order.info``."""
    order = cls(owner=owner, data=data, size=size, price=price, pricelimit=plimit,
                exectype=exectype, valid=valid, tradeid=tradeid, trailamount=trailamount,
                trailpercent=trailpercent, parent=parent, transmit=transmit)
    return order, info


class _Legs:
    def __init__(self, short_contract, long_contract):
        self.short_contract, self.long_contract = short_contract, long_contract
