"""backtrader broker on Interactive Brokers: shares and the spread protocol, journaled.

The same strategies that run on ``OptionsBroker`` in backtests run here unchanged:

* **Orders.** ``buy``/``sell`` become IB stock orders (Market, Limit, Stop, StopLimit,
  Close = MOC), ``open_credit_spread``/``close_spread`` one BAG combo order each (see
  ``brokers.ib_spreads``). Every order carries an ``orderRef``
  (``btml/<strategy>/<intent>/<symbol>/<id>``) and is written to the journal before it is
  sent. IB's states map to backtrader's: PreSubmitted/Submitted -> Accepted, fills ->
  Partial/Completed (booked once their commission report is in), Cancelled -> Canceled,
  error 201 (or another error ending an order IB never accepted) -> Rejected with IB's
  reason (Margin when the reason is about margin or equity), Inactive -> Rejected.
* **Money.** ``getcash()`` is IB's TotalCashValue, plus the cash effect of executions
  seen since IB last reported it (the price on arrival, the commission with its report
  unless IB's cash reported since), minus the margin of open spreads (free cash, as in the
  simulated broker); ``getvalue()`` adds every IB position at its latest price (the feed's
  close for symbols we trade, IB's portfolio price otherwise), so open spreads are marked.
* **Safety.** Nothing is sent unless the account is a paper account (``DU...``) or
  ``allow_live``, and TWS/Gateway manages it now (after a reconnect to another login
  nothing is sent); a daily loss limit and a maximum of open spreads refuse new opening orders
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
  the journal's baseline + booked fills (``reconcile_reports``). While connected, an
  order with no answer for the request timeout is looked up at TWS
  (``IBStore.orders_known``): lost, never resent, when TWS does not list it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as dt
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

import backtrader as bt

from brokers.bar_times import exchange_date, now_local
from brokers.ib_events import ErrorUpdate
from brokers.ib_ledger import IBLedger
from brokers.ib_orders import ib_stock_order, order_ref, stock_order
from brokers.ib_spread_desk import IBSpreadOrders
from brokers.ib_spreads import SpreadResolver
from brokers.ib_store import IBError, IBStore
from brokers.journal import Journal
from core.domain import CONTRACT_COMMISSION

log = logging.getLogger("btml.ib")


class LiveAccountRefused(IBError):
    """The managed account is not a paper account and live trading was not allowed."""


@dataclass(frozen=True)
class ExitCancels:
    """What ``cancel_on_exit`` achieved, by orderRef, as IB confirmed it: the operator must
    know which orders may still work at IB after the process is gone, so a cancel is
    counted only once IB said Cancelled, never because it was asked for."""

    cancelled: tuple[str, ...] = ()
    #: filled before the cancel reached IB
    filled: tuple[str, ...] = ()
    #: no longer open at IB when the cancel was to go out (done meanwhile, or inactive)
    not_open: tuple[str, ...] = ()
    #: not confirmed cancelled: may still be working at IB
    working: tuple[str, ...] = ()
    #: whether the store was connected (False: no cancel could be sent at all)
    connected: bool = True
    #: seconds waited for IB's confirmations
    timeout: float = 0.0

    @property
    def orders(self) -> int:
        """How many orders were open to cancel."""
        return len(self.cancelled) + len(self.filled) + len(self.not_open) + len(self.working)


class IBBroker(IBSpreadOrders, bt.broker.BrokerBase):
    """Broker on an ``IBStore``; see the module docstring for the rules. The event side
    (booking fills, order states, cash and positions, spreads, reconciliation) is its
    ``ledger`` (``brokers.ib_ledger.IBLedger``), which the store's snapshots are applied to;
    the spread protocol is ``brokers.ib_spread_desk.IBSpreadOrders`` and IB's order types
    ``brokers.ib_orders``."""

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
        ("commission_per_contract", CONTRACT_COMMISSION),
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
        #: with ``cancel_on_exit``: what ``stop`` cancelled (None before it ran)
        self.exit_cancels: ExitCancels | None = None
        #: whether ``await_replies`` ran (the paper cerebro calls it before the strategy
        #: stops; ``stop`` then does not wait a second time)
        self._replies_awaited = False
        #: orders sent and not acknowledged yet: ``time.monotonic()`` when sent (or last
        #: asked about), by orderRef
        self._sent_at: dict[str, float] = {}
        #: the question to TWS about the orders not acknowledged in time (``orders_known``)
        self._order_check: tuple[list[str], concurrent.futures.Future] | None = None

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
        self.check_account()  # before any fill of the account is reconciled or journalled
        self._drain()
        self.startingcash = self.cash_total()

    def stop(self):
        self._drain()
        if not self._replies_awaited:
            self.await_replies()
        if self.p.cancel_on_exit and self.exit_cancels is None:
            self.exit_cancels = self.cancel_open_orders()

    def cancel_open_orders(self) -> ExitCancels:
        """Cancel every order of ours still open and wait (at most the store's
        ``cancel_wait``: ``--cancel-timeout``, else the request timeout) for IB to confirm;
        IB's answers are booked (journal: canceled). An order IB did not confirm, or every
        open one while disconnected, is reported as possibly still working."""
        refs = [ref for ref, order in self.ledger.orders.items() if order.alive()]
        timeout = self.store.settings.cancel_wait
        if not refs:
            return ExitCancels(timeout=timeout)
        statuses = self.store.cancel_and_confirm(refs, timeout)
        self._drain()
        if statuses is None:
            return ExitCancels(working=tuple(refs), connected=False, timeout=timeout)
        kinds = {"Cancelled": "cancelled", "ApiCancelled": "cancelled", "Filled": "filled",
                 "NotOpen": "not_open", "Inactive": "not_open"}
        sorted_refs: dict[str, list[str]] = collections.defaultdict(list)
        for ref in refs:  # anything else (PendingCancel, Submitted, ...) may still work
            sorted_refs[kinds.get(statuses[ref], "working")].append(ref)
        return ExitCancels(**{k: tuple(v) for k, v in sorted_refs.items()}, timeout=timeout)

    def await_replies(self, timeout: float | None = None) -> bool:
        """Before the run ends, apply IB's replies until every order this process sent has
        been answered (acknowledged, filled or ended) and every fill booked with its
        commission: an order rejected on the last bar would otherwise stay 'submitted' in
        the journal and the next run would call it lost. Waits on the store's queue (at
        most ``timeout`` seconds, the request timeout by default), never sleeps; says how
        many orders are still unanswered when it gives up. False when replies are missing
        (or IB is not connected: none can come)."""
        def answered() -> bool:
            return not self.ledger.awaiting_commission() and not any(
                o.status == o.Submitted for o in self.ledger.orders.values())

        self._replies_awaited = True
        if answered():
            return True
        if not self.store.connected.is_set():
            return False
        self._pull_commissions()
        timeout = self.store.settings.request_timeout if timeout is None else timeout
        if self._await(answered, timeout):
            return True
        unanswered = sum(o.status == o.Submitted for o in self.ledger.orders.values())
        self.event(f"IB has not answered {unanswered} order(s) within {timeout:g} s; the "
                   f"next run reconciles them")
        return False

    def working_at_ib(self) -> list[str]:
        """orderRefs of the journal's orders (this run's or an earlier one's) that IB still
        works, as the connection last heard: what stays working after the run ends."""
        return sorted(ref for ref in self.store.open_order_refs()
                      if self.journal.order(ref) is not None)

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

    def watch(self, datas) -> None:
        """The feeds this run trades, known before ``start`` reconciles with IB: IB's stock
        positions and the fills of earlier processes then land on them, so a restarted
        run holds (and its strategy sees) what IB holds instead of buying it again; and
        the exchange date (daily loss days) comes from the bars from the first one on, not
        from the machine's clock."""
        for data in datas:
            self.ledger.account.watch(data)

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
        answered = self._order_check is not None and self._order_check[1].done()
        self._drain()  # TWS's answer's order states before it is read
        if answered:
            self._settle_order_check()
        self._ask_about_unanswered()
        self.ledger.adopt_orders()
        self._pull_commissions()
        self.ledger.spreads.link_assignments()
        self._expire_spread_orders()
        self.ledger.spreads.mark()
        self._track_exchange_day()

    def _ask_about_unanswered(self) -> None:
        """Ask TWS which orders it knows when one this process sent has had no answer
        for the request timeout: otherwise a strategy waiting for it (the equity strategy
        sends nothing while an order is pending) would wait until a reconnect or the end.
        One question at a time, and none while disconnected (the reconnect's sync
        answers then)."""
        if self._order_check is not None or not self._sent_at or \
                not self.store.connected.is_set():
            return
        waited, now = self.store.settings.request_timeout, time.monotonic()
        due = []
        for ref, sent in list(self._sent_at.items()):
            row = self.journal.order(ref)
            if row is None or row["status"] != "submitted":
                del self._sent_at[ref]  # answered or ended: nothing to ask
            elif now - sent >= waited:
                due.append(ref)
        if due:
            self._order_check = (due, self.store.orders_known())

    def _settle_order_check(self) -> None:
        """TWS's answer about the orders not acknowledged in time: those it does not list
        are lost (``IBLedger.settle_unanswered``); without an answer, ask again after
        another request timeout."""
        due, future = self._order_check
        self._order_check = None
        waited = self.store.settings.request_timeout
        try:
            placed, known = future.result()
        except (TimeoutError, ConnectionError, concurrent.futures.CancelledError) as exc:
            self.event(f"warning: TWS did not say which orders it knows ({exc or 'no answer'} "
                       f"within {waited:g} s); {len(due)} order(s) still unacknowledged, "
                       "asking again")
            for ref in due:
                self._sent_at[ref] = time.monotonic()
            return
        self.ledger.settle_unanswered(due, placed, known, waited)
        for ref in due:
            self._sent_at.pop(ref, None)  # listed ones had their states in the answer

    def _pull_commissions(self) -> None:
        """Book the fills waiting for a commission that ib_async has but announced with no
        event (executions replayed by reqExecutions after a reconnect)."""
        waiting = self.ledger.awaiting_commission()
        if waiting:
            for update in self.store.fill_commissions(waiting).values():
                self.ledger.apply(update)

    def _track_exchange_day(self) -> None:
        """When a bar of a new exchange date arrives, the value last seen on the date
        before starts the new date's loss count (``max_daily_loss``)."""
        day = self._exchange_today()
        last = getattr(self, "_last_day", None)
        if last is not None and day != last[0] and not self._backfilling():
            self.journal.day_start_value(day, last[1])
        self._last_day = (day, self.getvalue())

    def buy(self, owner, data, size, *args, **kwargs):
        """A stock buy; backtrader's arguments (``price``, ``exectype``, ...), the other
        keywords go to ``order.info``."""
        return self._submit_stock(*stock_order(bt.order.BuyOrder, owner, data, size,
                                                *args, **kwargs))

    def sell(self, owner, data, size, *args, **kwargs):
        """A stock sell; arguments as in ``buy``."""
        return self._submit_stock(*stock_order(bt.order.SellOrder, owner, data, size,
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
        if self.account not in self.store.accounts:  # another login since the start
            return (f"account {self.account} is not among the accounts TWS/Gateway manages "
                    f"now ({', '.join(self.store.accounts) or 'none'}): it was logged into "
                    f"another account since the run started")
        if self._backfilling() and not self.p.trade_backfill:
            return "placed on a historical backfill bar (the feed is not live yet)"
        if not self.store.connected.is_set():
            return "not connected to TWS/Gateway"
        if opening and (problem := self.ledger.account.cash_problem()) is not None:
            return problem
        if opening and self.p.max_daily_loss is not None:
            today = self._exchange_today()
            start = self.journal.day_start_value(today, self.getvalue())
            loss = start - self.getvalue()
            if loss >= self.p.max_daily_loss:
                return (f"daily max loss reached: down {loss:,.2f} since {start:,.2f} at the "
                        f"start of {today} (limit {self.p.max_daily_loss:,.2f})")
        return None

    def _exchange_today(self) -> dt.date:
        """The session date of the latest bar the broker has seen (the exchange's New York
        date, also in an accelerated replay and whatever the display zone), New York's date
        before any bar."""
        days = [exchange_date(d) for d in self.ledger.account.datas.values() if len(d)]
        return max(days) if days else now_local().date()

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
        ref = order_ref(order.owner, action.lower(), data._name)
        order.addinfo(order_ref=ref)
        order.submit(self)
        self.notify(order)
        position = self.positions[data].size
        reducing = position and (position > 0) != order.isbuy() and abs(order.size) <= abs(
            position)
        reason = self._refusal(opening=not reducing)
        ib_order = None if reason else ib_stock_order(order, action, ref, self.account)
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
        except (IBError, TimeoutError, ConnectionError) as exc:
            self.journal.update_order(ref, status="rejected", reason=str(exc))
            self._refuse(order, f"not sent: {exc}")
            return order
        order_id = self._place(order, ref, contract, ib_order)
        if order_id is None:
            return order
        self.event(f"sent {action} {abs(order.size):g} {data._name} ({ib_order.orderType}) "
                    f"orderId {order_id} ref {ref}")
        return order

    def _place(self, order, ref: str, contract, ib_order,
               con_ids: tuple[int, int] | None = None) -> int | None:
        """Track ``order`` under ``ref`` and send it; IB's orderId, or None when it could not
        be sent (the order is then Rejected with the reason and journaled as such)."""
        self.ledger.track(ref, order, con_ids)
        try:
            order_id, number = self.store.place(contract, ib_order)
        except (IBError, TimeoutError, ConnectionError) as exc:
            self.ledger.forget(ref)
            self.journal.update_order(ref, status="rejected", reason=str(exc))
            self._refuse(order, f"not sent: {exc}")
            return None
        self.ledger.placed(ref, number)
        self._sent_at[ref] = time.monotonic()
        self.sent += 1
        self.journal.order_sent(ref, order_id, self.store.settings.client_id)
        return order_id
