"""The spread protocol of ``IBBroker``: ``open_credit_spread``/``close_spread`` as one BAG
combo order each at IB, spread orders expiring after ``spread_order_bars`` bars, and the
spread book's queries.

A mixin of ``brokers.ib_broker.IBBroker`` (which supplies the store, journal, ledger,
resolver, ``_refusal``/``_refuse``/``_place`` and ``event``): the spread side of the broker
reads on its own, apart from the stock orders and the account's life cycle."""

from __future__ import annotations

import dataclasses
import queue
import time
from collections.abc import Callable

from ib_async import LimitOrder

from brokers import spread_pricing as sp
from brokers.bar_times import exchange_date
from brokers.ib_orders import Legs, open_limit, order_ref
from brokers.ib_spreads import combo, occ
from brokers.ib_store import IBError
from brokers.journal import TERMINAL
from brokers.spread_orders import SpreadCloseOrder, SpreadOpenOrder
from brokers.spreads import SpreadPosition, SpreadRequest, spread_margin


class IBSpreadOrders:
    """Spread orders on IB (see ``brokers.ib_broker`` for the fill rule and safety)."""

    def open_credit_spread(self, strategy, data, request: SpreadRequest) -> SpreadOpenOrder:
        """Resolve the legs from IB (as backtests do from the chain) and send one BAG."""
        self.ledger.account.watch(data)
        size = request.contracts if isinstance(request.contracts, int) else 0
        order = SpreadOpenOrder(owner=strategy, data=data, size=size)
        ref = order_ref(strategy, f"open_{request.kind}", request.underlying)
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
                limit = open_limit(request, resolved)
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
                      placed=exchange_date(data), quoted_credit=resolved.natural_credit,
                      con_ids=(resolved.short_contract.conId, resolved.long_contract.conId))
        # what a later process needs to rebuild the spread from a fill of this order
        self.journal.add_detail(ref, short=dataclasses.asdict(resolved.short),
                                long=dataclasses.asdict(resolved.long))
        self._send_combo(order, ref, "spread_open", "SELL", request.contracts, limit, resolved)
        return order

    def close_spread(self, strategy, position_id: int, tag: str = "close") -> SpreadCloseOrder:
        """Buy the spread back with one BAG at the natural debit from IB's quotes, at most
        the spread's width."""
        position = self.ledger.book.get(position_id)
        data = self.ledger.account.datas.get(position.underlying) if position else None
        data = data or strategy.datas[0]
        order = SpreadCloseOrder(owner=strategy, data=data,
                                 size=position.contracts if position else 0)
        ref = order_ref(strategy, "close_spread", position.underlying if position else "?")
        order.addinfo(action="close", position_id=position_id, tag=tag, order_ref=ref)
        order.submit(self)
        self.notify(order)
        self.journal.record_intent(ref, type(strategy).__name__, "close_spread",
                                   position.underlying if position else "?",
                                   {"position_id": position_id, "tag": tag,
                                    "bar": str(data.datetime.datetime(0))})
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
                # never above the width, which is all the spread can pay at expiry (the
                # simulated broker caps its debit alike: brokers.spread_pricing.close_debit)
                debit = round(min(sq["ask"] - lq["bid"], position.width), 2)
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
                         Legs(short_c, long_c))
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
        order_id = self._place(order, ref, bag, ib,
                               (legs.short_contract.conId, legs.long_contract.conId))
        if order_id is None:
            return
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

    def _expire_spread_orders(self) -> None:
        """Spread orders still working ``spread_order_bars`` bars after their request bar
        are cancelled at IB; IB's confirmation (awaited here, at most the store's
        ``cancel_wait`` seconds: ``--cancel-timeout``, else the request timeout) makes them
        Expired on this very bar, as in the simulated broker. A fill that beats the cancel
        is booked instead: IB is the authority. A confirmation that does not come in time
        is said (the order may still work; IB's later answer still ends it). An order taken
        over from an earlier process counts its bars from the first bar after its request
        bar (``_past_request_bar``). A cancel IB refused while the order works on (10148,
        ``info['cancel_refused']``) is sent again on the next bar."""
        bars = self.p.spread_order_bars
        if bars is None:
            return
        for ref, order in list(self.ledger.orders.items()):
            info = order.info
            if not order.alive() or info.get("action") not in ("open", "close"):
                continue
            if info.get("expiring"):
                if info.pop("cancel_refused", False):
                    self.event(f"cancelling {ref} again: IB refused to cancel it on the bar "
                               f"before, and it is good for {bars} bar(s) after its request "
                               "bar")
                    self._cancel_expiring(ref)
                continue
            if "placed_len" not in info and not self._past_request_bar(order):
                continue
            if len(order.data) - info["placed_len"] < bars:
                continue
            what = "credit" if info["action"] == "open" else "debit"
            info["expiring"] = True
            info["expire_reason"] = (f"limit {what} {info['limit']:.2f} not filled by IB "
                                     f"within {bars} bar(s) after the request bar: "
                                     f"cancelled")
            self.event(f"expiring {ref}: {info['expire_reason']}")
            self._cancel_expiring(ref)

    def _cancel_expiring(self, ref: str) -> None:
        """Cancel the expiring order ``ref`` and wait (at most ``cancel_wait``) for IB's
        answer to end it; say why when it does not."""
        try:
            sent = self.store.cancel(order_ref=ref)
        except (IBError, TimeoutError) as exc:
            self.event(f"could not cancel {ref}: {exc}")
            return
        wait = self.store.settings.cancel_wait
        if sent and not self._await(
                lambda: self.journal.order(ref)["status"] in TERMINAL, wait):
            if self.ledger.ending(ref):
                self.event(f"IB cancelled {ref}, but the commission of a fill of it has "
                           f"not come within {wait:g} s: it ends once that fill is booked")
            else:
                self.event(f"IB did not confirm the cancel of {ref} within {wait:g} s: it "
                           f"may still be working at IB (IB's answer, when it comes, ends "
                           f"it)")

    def _past_request_bar(self, order) -> bool:
        """Whether the bar now current comes after the request bar of ``order``, a spread
        order taken over from an earlier process (``info['adopted']``); if so the bar
        before is taken as its request bar (``placed_len``), so the order is good for
        ``spread_order_bars`` bars as if this process had sent it. The journal's request
        bar decides (backfill bars after it count: the order's bar is over); without one,
        or one that cannot be compared, the first live bar does."""
        info = order.info
        if not info.get("adopted"):
            return False
        after = None
        if info.get("placed_at") is not None:
            try:
                after = order.data.datetime.datetime(0) > info["placed_at"]
            except TypeError:  # naive against aware: a journal of another version
                after = None
        if after is None:
            after = not self._backfilling()
        if after:
            info["placed_len"] = len(order.data) - 1
        return after

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
