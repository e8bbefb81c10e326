"""What IB says happened, booked once: the event side of ``IBBroker``.

``IBLedger`` consumes the store's snapshots (``brokers.ib_events``; the broker drains them
from a queue on the backtrader thread, never on the store's loop): order states mapped to
backtrader's, executions booked exactly once by execId when their commission is known
(stock fills here, combo leg fills into spreads by ``brokers.ib_spread_ledger``), account
values and positions into ``brokers.ib_account.IBAccount``, and the reconciliation after
every (re)connect.

It owns that state; the broker that holds it (``brokers.ib_broker.IBBroker``) sends the
orders, hands each one to ``track`` and calls back only through ``LedgerBroker``:
``notify`` an order's new state, log an ``event``, ``getcommissioninfo`` of a feed.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import math
import re
from typing import Any, Protocol

from brokers.ib_account import IBAccount
from brokers.ib_events import (
    AccountUpdate,
    CommissionUpdate,
    ErrorUpdate,
    FillUpdate,
    LinkUpdate,
    OrderUpdate,
    PositionUpdate,
    Sync,
)
from brokers.ib_orders import journal_stock_order
from brokers.ib_spread_ledger import IBSpreadLedger, opening_from_detail
from brokers.journal import COMBO, SUPERSEDED, TERMINAL, Journal, exec_version
from brokers.spread_book import SpreadBook
from brokers.spread_orders import SpreadCloseOrder, SpreadOpenOrder

OPEN_STATES = frozenset({"PreSubmitted", "Submitted", "ApiPending"})
CANCELLED_STATES = frozenset({"Cancelled", "ApiCancelled"})
#: IB could not cancel the order (10147 not found, 10148 cannot be cancelled: it filled
#: or ended meanwhile); ib_async ends the trade as Cancelled on them all the same, but the
#: order's own reports (its executions, IB's Cancelled) say how it ended. A 10148 naming a
#: state the order still works in (Submitted, PendingCancel, ...) keeps it in that state
#: (``brokers.ib_store``): it goes on working
CANCEL_REFUSED = frozenset({10147, 10148})
MARGIN_WORDS = ("margin", "equity with loan", "buying power", "insufficient")


class LedgerBroker(Protocol):
    """What the ledger calls on the broker that holds it (also passed to backtrader's
    ``order.accept``/``reject``, which record the broker on the order)."""

    def notify(self, order: Any) -> None:
        """Queue a copy of ``order`` for the strategy's ``notify_order``."""

    def event(self, text: str) -> None:
        """Log one line of what happened."""

    def getcommissioninfo(self, data: Any) -> Any:
        """backtrader's commission scheme of ``data``."""


class IBLedger:
    """The IB broker's books: orders it sent, cash and positions, spreads, reconciliation.

    ``account``: cash, positions, marks and feeds (``IBAccount``); ``book``: the spreads
    (``SpreadBook``, reloaded from the journal); ``orders``: the backtrader orders this
    process sent or took over from an earlier one (``adopt_orders``), by orderRef;
    ``link_state``, ``errors``, ``reconcile_reports``: what the connection said.
    """

    def __init__(self, journal: Journal, broker: LedgerBroker, account: str = "") -> None:
        self.journal = journal
        self.broker = broker
        self.account = IBAccount(account)
        self.book = SpreadBook(journal.spreads())
        self.spreads = IBSpreadLedger(journal, self.book, self.account, broker.event)
        self.orders: dict[str, Any] = {}
        self.link_state = "disconnected"
        self.errors: list[ErrorUpdate] = []
        self.reconcile_reports: list[dict] = []
        self._waiting_commission: dict[str, FillUpdate] = {}
        #: executions whose price was paid into cash when they arrived, their commission
        #: still to come; and those IB's cash has reported since (it holds their
        #: commission too: IB charges it with the execution, and reports it after)
        self._paid: set[str] = set()
        self._cash_reported: set[str] = set()
        #: IB's end (cancelled, rejected, inactive) of orders some of whose executions
        #: still wait for their commission report, by orderRef: applied once those are
        #: booked, so the strategy hears Partial before Canceled (IB reports commissions
        #: after the order status) and a late fill never reopens an order already ended
        self._ending: dict[str, OrderUpdate] = {}
        #: orderRefs of earlier processes' orders IB still works, not yet taken over
        self._adoptable: list[str] = []
        #: each order's number among those the store placed (``IBStore.placed``)
        self._placed: dict[str, int] = {}
        #: corrections waiting for their commission, by execId: the journal row of the
        #: booked execution each replaces once it is booked (until then the earlier one
        #: still counts for positions and orders; the cash holds the corrected price)
        self._replaces: dict[str, dict] = {}
        #: the cash note (``IBAccount.cash_note``) last said, by its first words
        self._cash_said: str | None = None

    # ------------------------------------------------------------------ the broker's calls
    def track(self, ref: str, order, con_ids: tuple[int, int] | None = None) -> None:
        """``order`` is about to be sent with orderRef ``ref`` (a combo: with the conIds
        of its short and long legs); IB's reports about it will move it."""
        self.orders[ref] = order
        if con_ids is not None:
            self.spreads.track(ref, *con_ids)

    def placed(self, ref: str, number: int) -> None:
        """``ref`` went out as the store's ``number``-th order: a ``Sync`` taken before
        it (one that counted fewer orders) cannot list it, and it is not lost for that."""
        self._placed[ref] = number

    def forget(self, ref: str) -> None:
        """``ref`` could not be sent: nothing IB says will be about it."""
        self.orders.pop(ref, None)
        self.spreads.forget(ref)

    def awaiting_commission(self) -> set[str]:
        """execIds booked only once IB reports their commission."""
        return set(self._waiting_commission)

    def apply(self, update) -> None:
        """Book one snapshot from the store (unknown kinds are ignored)."""
        handler = _HANDLERS.get(type(update))
        if handler is not None:
            handler(self, update)

    def adopt_orders(self) -> None:
        """Orders an earlier process sent that IB still works become orders of this run
        (``info['adopted']``), Accepted: the strategy is notified of them, they are open in
        ``get_orders_open``, the spread cap counts them and the spread fill rule expires
        them. A restart thus neither sends the same order twice nor leaves one working
        unseen. backtrader dates an order by its feed's bar, so this waits for the first
        bar of the symbol's feed (the broker calls it from ``next``)."""
        for ref in list(self._adoptable):
            row = self.journal.order(ref)
            data = self.account.datas.get(row["symbol"]) if row else None
            if row is None or row["status"] in TERMINAL or data is None:
                self._adoptable.remove(ref)
                if data is None and row is not None and row["status"] not in TERMINAL:
                    self.broker.event(f"not taken over {ref}: this run has no feed of "
                                      f"{row['symbol']}; it still works at IB")
                continue
            if not len(data):
                continue
            self._adoptable.remove(ref)
            try:
                order = self._adopted_order(row, data)
            except (KeyError, TypeError, ValueError) as exc:
                self.broker.event(f"not taken over {ref}: its journal entry is incomplete "
                                  f"({exc!r}); it still works at IB")
                continue
            order.submit(self.broker)
            order.accept(self.broker)
            # no ``track``: a combo's earlier leg fills are rebuilt from the journal
            self.orders[ref] = order
            self.broker.notify(order)
            self.broker.event(f"taken over {ref}: {row['action']} {row['quantity']:g} "
                              f"{row['symbol']} ({row['kind']}), sent by an earlier process "
                              f"and still working at IB")

    def _adopted_order(self, row: dict, data):
        """The backtrader order standing for journal order ``row`` on feed ``data``, with
        the ``info`` the broker's own orders of its kind carry."""
        detail = json.loads(row["detail"] or "{}")
        quantity = row["quantity"]
        if row["kind"] == "stock":
            order = journal_stock_order(row, data)
            order.addcomminfo(self.broker.getcommissioninfo(data))
        elif row["kind"] == "spread_open":
            request, short, long, con_ids = opening_from_detail(detail)
            order = SpreadOpenOrder(owner=None, data=data, size=int(quantity))
            order.addinfo(request=request, action="open", position_id=None, short=short,
                          long=long, con_ids=tuple(con_ids))
        else:
            order = SpreadCloseOrder(owner=None, data=data, size=int(quantity))
            order.addinfo(action="close", position_id=detail["position_id"],
                          tag=detail.get("tag", "close"), contracts=int(quantity),
                          con_ids=tuple(int(c) for c in detail.get("con_ids") or ()))
        if row["kind"] != "stock":
            order.addinfo(limit=row["limit_price"], placed_at=_request_bar(detail))
        order.addinfo(order_ref=row["order_ref"], adopted=True,
                      filled_before=row["filled"] or 0)
        return order

    def position_diffs(self) -> list[dict]:
        """IB's position per conId against the journal's baseline + booked fills."""
        expected = self.journal.expected_quantities()
        actual = {c: p.quantity for c, p in self.account.held.items()}
        out = []
        for con_id in sorted(set(expected) | set(actual)):
            want, have = expected.get(con_id, 0.0), actual.get(con_id, 0.0)
            if not math.isclose(want, have, abs_tol=1e-9):
                out.append({"con_id": con_id, "journal": want, "ib": have})
        return out

    # ------------------------------------------------------------------ connection
    def _on_link(self, update: LinkUpdate) -> None:
        self.link_state = update.state
        self.broker.event(f"IB connection {update.state}")

    def _on_error(self, update: ErrorUpdate) -> None:
        self.errors.append(update)

    def _on_account(self, update: AccountUpdate) -> None:
        if self.account.apply_value(update):
            self._cash_reported |= self._paid
        note = self.account.cash_note()
        if note is not None and note.split(":")[0] != self._cash_said:
            self._cash_said = note.split(":")[0]  # once per kind, not per rate move
            self.broker.event(f"warning: {note}")

    def _on_position(self, update: PositionUpdate) -> None:
        self.account.apply_position(update)

    # ------------------------------------------------------------------ order states
    def _on_order(self, update: OrderUpdate) -> None:
        ref = update.order_ref
        row = self.journal.order(ref) if ref else None
        if row is None:
            return  # not ours (manual TWS order, another program)
        self.journal.update_order(ref, perm_id=update.perm_id)
        order = self.orders.get(ref)
        status = update.status
        if update.error_code in CANCEL_REFUSED and status not in CANCELLED_STATES and \
                row["status"] not in TERMINAL:  # refused, still working at IB
            self.broker.event(f"IB did not cancel {ref}: {_reason(update.message)} (it is "
                              f"still {status} at IB: a later cancel, its executions or "
                              f"IB's own end of it will say how it ends)")
            if order is not None and order.info.get("expiring"):
                order.addinfo(cancel_refused=True)  # the one-bar rule cancels it again
        if status in OPEN_STATES and row["status"] in ("sending", "submitted"):
            self.journal.update_order(ref, status="accepted")
            if order is not None and order.status == order.Submitted:
                order.accept(self.broker)
                self.broker.notify(order)
        elif status in CANCELLED_STATES or status == "Inactive":
            if update.error_code in CANCEL_REFUSED and row["status"] not in (
                    "sending", "submitted") and row["status"] not in TERMINAL:
                self.broker.event(f"IB did not cancel {ref}: {_reason(update.message)} (its "
                                  f"executions or IB's own end of it will say how it ended)")
                return
            if self._commission_pending(ref) or self._fills_to_come(row, update):
                self._ending[ref] = update
                return
            self._ending.pop(ref, None)
            self._finish_unfilled(ref, row, order, update)

    def ending(self, ref: str) -> bool:
        """Whether IB ended order ``ref`` and the end waits for a fill's commission."""
        return ref in self._ending

    def _commission_pending(self, ref: str) -> bool:
        """Whether an execution of order ``ref`` waits for its commission report."""
        return any(f.order_ref == ref for f in self._waiting_commission.values())

    @staticmethod
    def _fills_to_come(row: dict, update: OrderUpdate) -> bool:
        """Whether IB's status ``update`` counts more filled than the executions of the
        order booked so far (the end of an order can overtake the report of its last
        execution)."""
        return update.filled > (row["filled"] or 0.0) + 1e-9

    def _end_if_due(self, ref: str) -> None:
        """Apply IB's end of order ``ref`` kept back by ``_on_order`` once none of its
        executions waits for a commission, and every execution IB's end counted is
        booked."""
        if ref in self._ending and not self._commission_pending(ref):
            row = self.journal.order(ref)
            if self._fills_to_come(row, self._ending[ref]) and row["status"] not in TERMINAL:
                return
            update = self._ending.pop(ref)
            self._finish_unfilled(ref, row, self.orders.get(ref), update)

    def _finish_unfilled(self, ref: str, row: dict, order, update: OrderUpdate) -> None:
        if row["status"] in TERMINAL:
            return
        message = update.message or ""
        info = order.info if order is not None else {}
        margin = False
        # IB refusing an order it never accepted is a rejection, whatever the code (201,
        # or e.g. 110 for a price off the tick); 202 (or 10147 to a spread order's
        # expiry) answers our cancel
        refused = update.error_code not in (None, 202) and not info.get("expiring") and \
            row["status"] in ("sending", "submitted")
        if update.error_code == 201 or update.status == "Inactive" or refused:
            reason = _reason(message) or f"IB rejected the order ({update.status})"
            margin = any(w in reason.lower() for w in MARGIN_WORDS)
            state = "margin" if margin else "rejected"
        elif info.get("expiring"):
            reason, state = info["expire_reason"], "expired"
        elif (expired := self._expired_spread(row, info)) is not None:
            # TWS cancels what still works on an expired contract; the simulated broker
            # settles the spread first and rejects the close: the same outcome here
            reason = (f"spread {expired.id} expired on {expired.expiry} before the close "
                      f"could fill (IB: {_reason(message) or update.status})")
            state = "rejected"
        else:
            reason = "cancelled" + (f": {_reason(message)}" if _reason(message) else "")
            state = "canceled"
        self.journal.update_order(ref, status=state, reason=reason)
        self.broker.event(f"{state} {ref}: {reason}")
        if row["kind"] == "spread_close" and (row["filled"] or 0) > 0:
            # the contracts bought back before the cancel are closed, the rest stay open
            self.spreads.close_position(ref, self.journal.order(ref), order,
                                        self.spreads.combo(ref, row), done=False)
        if order is None or not order.alive():
            return
        order.addinfo(reason=reason)
        if state == "canceled":
            order.cancel()
        elif state == "expired":  # bt's expire() ignores market-type orders: set it
            order.status = order.Expired
            order.executed.dt = order.data.datetime[0]
        elif margin:
            order.margin()
        else:
            order.reject(self.broker)
        self.broker.notify(order)

    def _expired_spread(self, row: dict, info: dict):
        """The spread a closing order ``row`` was buying back, when it has expired: its
        expiry is reached by the underlying's latest bar, or IB holds none of its legs any
        more (TWS may cancel before that bar arrives). None otherwise."""
        if row["kind"] != "spread_close":
            return None
        position_id = info.get("position_id")
        if position_id is None:
            position_id = json.loads(row["detail"] or "{}").get("position_id")
        position = self.book.get(position_id) if position_id is not None else None
        if position is None:
            return None
        con_ids = [int(c) for c in position.extra.get("con_ids") or ()]
        gone = bool(con_ids) and not any(c in self.account.held for c in con_ids)
        if self.account.today(position.underlying) >= position.expiry or gone:
            return position
        return None

    # ------------------------------------------------------------------ executions
    def _on_fill(self, fill: FillUpdate) -> None:
        if not fill.order_ref and fill.perm_id:  # e.g. a combo's leg: the order's permId
            ref = self.journal.order_ref_of(fill.perm_id)
            fill = dataclasses.replace(fill, order_ref=ref) if ref else fill
        if not fill.order_ref or self.journal.order(fill.order_ref) is None:
            return
        if fill.sec_type == "BAG":  # the combo's own execution: its legs carry the money
            self.journal.add_fill(fill, booked=COMBO)
            return
        if self._outdated(fill):
            return
        if not self.journal.add_fill(fill):
            known = self.journal.fill(fill.exec_id)
            if known["booked"] or fill.exec_id in self._waiting_commission:
                return
        old = self._corrected(fill)
        if fill.commission is None:
            # the price is paid now: IB's cash, when it reports next, has paid it too (a
            # correction's price in place of the execution it corrects)
            self._waiting_commission[fill.exec_id] = fill
            self._paid.add(fill.exec_id)
            self.account.book_cash(-_trade_value(fill) + (_row_value(old) if old else 0.0))
        else:
            self.journal.set_commission(fill.exec_id, fill.commission, fill.realized_pnl)
            self._book(fill, fill.commission)

    # ------------------------------------------------------------------ corrections
    def _outdated(self, fill: FillUpdate) -> bool:
        """Whether ``fill`` is an earlier version of an execution the journal holds a
        correction of (IB's execIds: ``journal.exec_version``), e.g. a restart's
        ``reqExecutions`` listing both: recorded as replaced, never booked."""
        own = exec_version(fill.exec_id)
        if own is None:
            return False
        newer = [r for r in self.journal.versions(fill.exec_id)
                 if exec_version(r["exec_id"])[1] > own[1] and r["booked"] != COMBO]
        if not newer:
            return False
        if self.journal.add_fill(fill, booked=SUPERSEDED):
            self.journal.log("correction", {"exec_id": fill.exec_id,
                                            "replaced_by": newer[-1]["exec_id"]})
            self.broker.event(f"not booked {fill.exec_id}: IB corrected it already "
                              f"({newer[-1]['exec_id']}) ref {fill.order_ref}")
        return True

    def _corrected(self, fill: FillUpdate) -> dict | None:
        """The journal row of the booked execution that correction ``fill`` replaces once
        booked (``_replaces``); None when it corrects nothing booked. An earlier version
        not booked yet (its commission still to come) is dropped at once: its price comes
        back to the cash, its commission is never booked."""
        own = exec_version(fill.exec_id)
        if own is None:
            return None
        old = None
        for row in self.journal.versions(fill.exec_id):
            if exec_version(row["exec_id"])[1] >= own[1] or row["booked"] not in (0, 1):
                continue
            if row["booked"] == 1:
                old = row
                continue
            self._waiting_commission.pop(row["exec_id"], None)
            if row["exec_id"] in self._paid:
                self._paid.discard(row["exec_id"])
                self.account.book_cash(_row_value(row))
            self._cash_reported.discard(row["exec_id"])
            self.journal.supersede(row["exec_id"], fill.exec_id)
            self.broker.event(f"corrected {row['exec_id']} -> {fill.exec_id} before it was "
                              f"booked: {_said(row)} now {_said(fill)} ref {fill.order_ref}")
        if old is not None:
            self._replaces[fill.exec_id] = old
        return old

    def _on_commission(self, update: CommissionUpdate) -> None:
        known = self.journal.fill(update.exec_id)
        if known is None:
            return
        self.journal.set_commission(update.exec_id, update.commission, update.realized_pnl)
        fill = self._waiting_commission.pop(update.exec_id, None)
        if fill is not None and not known["booked"]:
            self._book(fill, update.commission)

    def _book(self, fill: FillUpdate, commission: float) -> None:
        """Apply one execution to cash, positions and its order, exactly once; a
        correction in place of the execution it corrects (``_replaces``)."""
        old = self._replaces.pop(fill.exec_id, None)
        if old is not None and self.journal.fill(old["exec_id"])["booked"] != 1:
            old = None  # replaced meanwhile by another way (cannot happen twice)
        row = self.journal.order(fill.order_ref)
        if old is not None and row["kind"] != "stock":
            self.spreads.combo(fill.order_ref, row)  # its leg fills before the correction
        self.journal.mark_booked(fill.exec_id)
        paid = fill.exec_id in self._paid
        self._paid.discard(fill.exec_id)
        reported = fill.exec_id in self._cash_reported
        self._cash_reported.discard(fill.exec_id)
        old_value = _row_value(old) if old else 0.0
        old_commission = (old["commission"] or 0.0) if old else 0.0
        # IB's cash reported since the correction came holds it whole (commissions too)
        self.account.book_cash(-((0.0 if paid else _trade_value(fill) - old_value)
                                 + (0.0 if reported else commission - old_commission)))
        order = self.orders.get(fill.order_ref)
        if old is not None:
            self.journal.supersede(old["exec_id"], fill.exec_id)
            self.broker.event(f"corrected {old['exec_id']} -> {fill.exec_id}: {_said(old)} "
                              f"now {_said(fill)} comm {commission:.2f} ref "
                              f"{fill.order_ref}")
        else:
            self.broker.event(f"fill {fill.side} {fill.shares:g} {fill.symbol} "
                              f"{fill.sec_type} {fill.right}{fill.strike or ''} @ "
                              f"{fill.price:.4f} comm {commission:.2f} ref {fill.order_ref}")
        if row["kind"] == "stock":
            self._book_stock(fill, commission, row, order, old)
        else:
            self._book_leg(fill, commission, row, order, old)
        self._end_if_due(fill.order_ref)

    def _book_stock(self, fill: FillUpdate, commission: float, row: dict, order,
                    old: dict | None = None) -> None:
        filled = (row["filled"] or 0) + fill.shares - (old["shares"] if old else 0.0)
        status = "completed" if filled >= row["quantity"] - 1e-9 else "partial"
        if status == "partial" and row["status"] in TERMINAL:
            status = row["status"]  # a fill IB reports after it ended the order
        # the journal's row first: also when no feed of the symbol is known (yet)
        self.journal.update_order(fill.order_ref, status=status, filled=filled,
                                  reason=_late_reason(row, status))
        data = self.account.datas.get(fill.symbol)
        if data is None:
            return  # the feed, once watched, starts from IB's position (``IBAccount.watch``)
        if old is not None:
            self._correct_stock(fill, commission, old, order, data, status)
            return
        position = self.account.positions[data]
        signed = fill.shares if fill.side == "BOT" else -fill.shares
        old_price = position.price
        psize, pprice, opened, closed = position.update(signed, fill.price)
        if order is None:
            return
        comminfo = order.comminfo or self.broker.getcommissioninfo(data)
        pnl = comminfo.profitandloss(-closed, old_price, fill.price)
        share = commission / fill.shares if fill.shares else 0.0
        ended = None if order.alive() else order.status
        order.execute(data.datetime[0], signed, fill.price,
                      closed, comminfo.getoperationcost(closed, old_price), abs(closed) * share,
                      opened, comminfo.getoperationcost(opened, fill.price), abs(opened) * share,
                      comminfo.margin, pnl, psize, pprice)
        if ended is not None:
            self._filled_after_end(order, ended, status == "completed")
            return
        order.completed() if status == "completed" else order.partial()
        self.broker.notify(order)

    def _filled_after_end(self, order, ended: int, done: bool) -> None:
        """An execution of ``order`` booked after the strategy was told it ended
        (``ended``: IB reported the cancel before the fill the exchange made first): the
        strategy hears the fill. Completed when it filled the order (the journal says
        completed too); else Partial with the shares, then the end again."""
        ref = order.info.get("order_ref", "")
        self.broker.event(f"filled after its end {ref}: {order.executed.size:g} filled "
                          f"(IB reported the end before the execution)")
        if done:
            word = order.getstatusname(ended).lower()
            order.addinfo(reason=f"filled after IB reported it {word}")
            order.completed()
            self.broker.notify(order)
            return
        order.partial()
        self.broker.notify(order)
        order.status = ended
        self.broker.notify(order)

    def _correct_stock(self, fill: FillUpdate, commission: float, old: dict, order, data,
                       status: str) -> None:
        """Correction ``fill`` in place of the booked execution ``old``: the position and
        the order's executed size, price, value and commission as if the correction had
        come instead (the average price recomputed when the execution added to the
        position); the strategy is told the order again with the corrected numbers."""
        position = self.account.positions[data]
        was = _signed(old["side"], old["shares"])
        now = _signed(fill.side, fill.shares)
        size, price = position.size, position.price
        new_size = size - was + now
        if abs(new_size) < 1e-9:
            new_price = 0.0
        elif was * size > 0 and new_size * size > 0:  # it added to the position
            new_price = (price * size - was * old["price"] + now * fill.price) / new_size
        elif new_size * size > 0:  # it reduced the position: the average stands
            new_price = price
        else:
            new_price = fill.price
        position.set(new_size, new_price)
        if order is None:
            return
        comminfo = order.comminfo or self.broker.getcommissioninfo(data)
        executed = order.executed
        total = executed.size - was + now
        executed.price = ((executed.price * executed.size - was * old["price"]
                           + now * fill.price) / total) if abs(total) > 1e-9 else 0.0
        executed.value += (comminfo.getoperationcost(now, fill.price)
                           - comminfo.getoperationcost(was, old["price"]))
        executed.comm += commission - (old["commission"] or 0.0)
        executed.remsize += was - now
        executed.size = total
        executed.psize, executed.pprice = position.size, position.price
        order.addinfo(corrected=[*order.info.get("corrected", []),
                                 (old["exec_id"], fill.exec_id)])
        if status == "completed":
            order.completed()
        elif status == "partial" and order.alive():
            order.partial()
        self.broker.notify(order)

    def _book_leg(self, fill: FillUpdate, commission: float, row: dict, order,
                  old: dict | None = None) -> None:
        ref = fill.order_ref
        fills = self.spreads.combo(ref, row)
        before, before_commission = fills.units, fills.commission
        if old is not None:
            fills.replace(old["exec_id"], fill.exec_id, fill.con_id, fill.side, fill.shares,
                          fill.price, commission, fill.time)
        else:
            fills.add(fill.exec_id, fill.con_id, fill.side, fill.shares, fill.price,
                      commission, fill.time)
        units = fills.units
        if units == before and order is not None and old is None:
            return
        quantity = int(row["quantity"])
        done = units >= quantity
        status = self.journal.order(ref)["status"]
        if done:
            status = "completed"
        elif status not in TERMINAL:
            status = "partial"
        self.journal.update_order(ref, status=status, filled=units,
                                  reason=_late_reason(row, status))
        row = self.journal.order(ref)
        if row["kind"] == "spread_open":
            position = self.spreads.open_position(ref, row, order, fills)
        else:
            position = self.spreads.close_position(
                ref, row, order, fills, done,
                corrects=before_commission if old is not None else None)
        if order is None or position is None or not units:
            return
        order.executed.dt = order.data.datetime[0]
        order.executed.price = fills.net_price
        order.executed.comm = fills.commission
        order.addinfo(position_id=position.id, commission=fills.commission,
                      filled_contracts=units)
        if row["kind"] == "spread_open":
            order.addinfo(credit=fills.net_price, margin=position.margin)
        else:
            order.addinfo(debit=fills.net_price, realized_pnl=position.realized_pnl)
        if old is not None:
            order.addinfo(corrected=[*order.info.get("corrected", []),
                                     (old["exec_id"], fill.exec_id)])
            if order.alive():
                order.completed() if done else order.partial()
            self.broker.notify(order)  # the corrected numbers, also of an order done
            return
        if not order.alive():
            self._filled_after_end(order, order.status, done)
            return
        order.completed() if done else order.partial()
        self.broker.notify(order)

    # ------------------------------------------------------------------ reconciliation
    def _on_sync(self, sync: Sync) -> None:
        """Book missed executions, settle orders IB no longer works, diff positions; IB's
        account values come last: they already include every execution before the sync."""
        self.account.held.clear()
        for p in sync.positions:
            self._on_position(p)
        name = self.account.name
        if name and name not in sync.accounts:
            self.broker.event(f"warning: TWS/Gateway now manages {', '.join(sync.accounts)}, "
                              f"not {name}, the account this run trades: no order is sent "
                              f"until it is logged into {name} again")
        if name or len(sync.accounts) == 1:
            name = name or sync.accounts[0]
            self.journal.set_baseline({p.con_id: p.quantity for p in sync.positions
                                       if p.account == name})
        booked_before = len(self.journal.fills())
        for fill in sync.fills:
            self._on_fill(fill)
        for update in sync.orders:
            self._on_order(update)
        settled = self._settle_lost(sync)
        self._note_adoptable(sync)
        self._sync_stock_positions()
        for value in sync.account_values:
            self._on_account(value)
        report = {"reconnect": sync.reconnect,
                  "new_fills": len(self.journal.fills()) - booked_before,
                  "lost_orders": settled, "position_diffs": self.position_diffs()}
        self.reconcile_reports.append(report)
        self.journal.log("reconcile", report)
        self.broker.event(f"reconciled: {report['new_fills']} new fill(s), "
                          f"{len(settled)} order(s) lost, {len(report['position_diffs'])} "
                          f"position difference(s)")

    def _settle_lost(self, sync: Sync) -> list[str]:
        """Orders the journal thinks open that IB does not list: lost, never resent."""
        by_ref = {u.order_ref: u for u in sync.orders if u.order_ref}
        settled = []
        for row in self.journal.open_orders():
            ref = row["order_ref"]
            if ref in sync.open_order_refs or ref in by_ref:
                continue
            if self._placed.get(ref, 0) > sync.placed:
                continue  # sent after the snapshot was taken: it cannot be in it
            if self.journal.fills(ref) and row["status"] in ("completed", "partial"):
                continue
            reason = ("IB does not know this order after reconnecting; it is not resent"
                      if row["status"] == "sending" else
                      "IB no longer lists this order after reconnecting")
            self._lose(ref, reason)
            settled.append(ref)
        return settled

    def settle_unanswered(self, refs: list[str], placed: int, known: frozenset[str],
                          waited: float) -> list[str]:
        """Orders of ``refs`` IB has not acknowledged within ``waited`` seconds, sent
        before TWS was asked (``placed``, ``IBStore.orders_known``) and not among the
        orders it listed (``known``): TWS never got them. Lost, never resent (as after a
        reconnect); the strategy is told Canceled with the reason and may decide again.
        An order TWS listed stays: its state came with the answer."""
        lost = []
        for ref in refs:
            row = self.journal.order(ref)
            if row is None or row["status"] != "submitted" or ref in known or \
                    self._placed.get(ref, 0) > placed:
                continue
            reason = (f"IB did not acknowledge this order within {waited:g} s and TWS does "
                      "not list it among its open or completed orders; it is not resent")
            self.broker.event(f"lost {ref}: {reason}")
            self._lose(ref, reason)
            lost.append(ref)
        return lost

    def _lose(self, ref: str, reason: str) -> None:
        """Order ``ref`` is lost: journaled so, and Canceled to the strategy with
        ``reason``."""
        self.journal.update_order(ref, status="lost", reason=reason)
        order = self.orders.get(ref)
        if order is not None and order.alive():
            order.addinfo(reason=reason)
            order.cancel()
            self.broker.notify(order)

    def _note_adoptable(self, sync: Sync) -> None:
        """Orders the journal thinks open, IB still works and this process did not send:
        an earlier process's, to be taken over (``adopt_orders``)."""
        for row in self.journal.open_orders():
            ref = row["order_ref"]
            if ref in sync.open_order_refs and ref not in self.orders \
                    and ref not in self._adoptable:
                self._adoptable.append(ref)

    def _sync_stock_positions(self) -> None:
        """Stock positions of traded symbols follow IB (the authority) after a sync, less
        the executions still waiting for their commission: IB's position holds them, and
        booking them adds them to the strategy's position."""
        held, positions = self.account.held, self.account.positions
        waiting = collections.defaultdict(float)
        for f in self._waiting_commission.values():
            if f.sec_type == "STK":
                waiting[f.symbol] += _signed(f.side, f.shares)
                old = self._replaces.get(f.exec_id)  # still counted in the position
                if old is not None:
                    waiting[f.symbol] -= _signed(old["side"], old["shares"])
        stocks = {p.symbol: p for p in held.values() if p.sec_type == "STK"}
        for symbol, data in self.account.datas.items():
            p = stocks.get(symbol)
            size = (p.quantity if p is not None else 0.0) - waiting[symbol]
            if abs(positions[data].size - size) > 1e-9:
                price = p.avg_cost if p is not None else positions[data].price
                positions[data].set(size, price if abs(size) > 1e-9 else 0.0)


def _trade_value(fill: FillUpdate) -> float:
    """What an execution costs before commission: positive for a buy, negative for a
    sale."""
    return _signed(fill.side, fill.shares) * fill.price * fill.multiplier


def _row_value(row: dict) -> float:
    """``_trade_value`` of an execution as the journal holds it."""
    return _signed(row["side"], row["shares"]) * row["price"] * (row["multiplier"] or 1.0)


def _late_reason(row: dict, status: str) -> str | None:
    """The journal's reason for an order a fill completed after IB had reported its end
    (cancelled, expired: the exchange filled it first); None otherwise."""
    if status == "completed" and row["status"] in TERMINAL and row["status"] != "completed":
        return f"filled after IB reported it {row['status']}"
    return None


def _signed(side: str, shares: float) -> float:
    return shares if side == "BOT" else -shares


def _said(fill) -> str:
    """An execution (a ``FillUpdate`` or a journal row) in a few words: 100 @ 101.0000."""
    shares, price = (fill["shares"], fill["price"]) if isinstance(fill, dict) else \
        (fill.shares, fill.price)
    return f"{shares:g} @ {price:.4f}"


def _request_bar(detail: dict) -> dt.datetime | None:
    """The time of the bar an order was requested on, as its intent recorded it (None
    when it did not)."""
    try:
        return dt.datetime.fromisoformat(detail["bar"]) if detail.get("bar") else None
    except (TypeError, ValueError):
        return None


def _reason(message: str) -> str:
    """IB's human reason from an error text ('Order rejected - reason:XYZ' -> 'XYZ'; the
    'Error 110, reqId 7: ' ib_async puts before TWS's text is dropped)."""
    if "reason:" in message:
        return message.split("reason:", 1)[1].strip()
    return _ERROR_PREFIX.sub("", message.strip())


_ERROR_PREFIX = re.compile(r"^(?:Error|Warning) -?\d+, reqId -?\d+: ")


_HANDLERS = {
    Sync: IBLedger._on_sync,
    OrderUpdate: IBLedger._on_order,
    FillUpdate: IBLedger._on_fill,
    CommissionUpdate: IBLedger._on_commission,
    PositionUpdate: IBLedger._on_position,
    AccountUpdate: IBLedger._on_account,
    ErrorUpdate: IBLedger._on_error,
    LinkUpdate: IBLedger._on_link,
}
