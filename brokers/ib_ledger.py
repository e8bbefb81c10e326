"""What IB says happened, booked once: the event side of ``IBBroker``.

``IBLedger`` is the half of the IB broker that consumes the store's snapshots (drained from
a queue on the backtrader thread, never on the store's loop): order states mapped to
backtrader's, executions booked exactly once by execId when their commission is known,
per-leg combo fills turned into spread positions, marks, and the reconciliation after
every (re)connect. ``IBBroker`` (``brokers.ib_broker``) owns the attributes it uses
(``journal``, ``store``, ``_queue``, ``_orders``, ``_combos``, ``_spreads``, ...) and the
order-sending half.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import math
import queue

from brokers import spread_pricing as sp
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
from brokers.ib_spreads import ComboFills
from brokers.journal import TERMINAL
from brokers.spreads import SpreadLeg, SpreadPosition, SpreadRequest, spread_margin
from core.domain import MULTIPLIER

OPEN_STATES = frozenset({"PreSubmitted", "Submitted", "ApiPending"})
CANCELLED_STATES = frozenset({"Cancelled", "ApiCancelled"})
MARGIN_WORDS = ("margin", "equity with loan", "buying power", "insufficient")


class IBLedger:
    """Mixin of ``IBBroker``: applies ``brokers.ib_store`` snapshots to its state."""

    def _drain(self) -> None:
        while True:
            try:
                update = self._queue.get_nowait()
            except queue.Empty:
                return
            self._apply(update)

    def _apply(self, update) -> None:
        handler = _HANDLERS.get(type(update))
        if handler is not None:
            handler(self, update)

    def _on_link(self, update: LinkUpdate) -> None:
        self.link_state = update.state
        self._event(f"IB connection {update.state}")

    def _on_error(self, update: ErrorUpdate) -> None:
        self.errors.append(update)

    def _on_account(self, update: AccountUpdate) -> None:
        if self.account and update.account and update.account != self.account:
            return
        if update.tag == "TotalCashValue" and update.currency in ("USD", "BASE"):
            self._cash_base, self._cash_adjust = float(update.value), 0.0

    def _on_position(self, update: PositionUpdate) -> None:
        if self.account and update.account and update.account != self.account:
            return
        if update.market_price is not None:
            self._marks[update.con_id] = update.market_price
        if abs(update.quantity) < 1e-9:
            self._ib_positions.pop(update.con_id, None)
        else:
            self._ib_positions[update.con_id] = update

    def _on_order(self, update: OrderUpdate) -> None:
        ref = update.order_ref
        row = self.journal.order(ref) if ref else None
        if row is None:
            return  # not ours (manual TWS order, another program)
        self.journal.update_order(ref, perm_id=update.perm_id)
        order = self._orders.get(ref)
        status = update.status
        if status in OPEN_STATES and row["status"] in ("sending", "submitted"):
            self.journal.update_order(ref, status="accepted")
            if order is not None and order.status == order.Submitted:
                order.accept(self)
                self.notify(order)
        elif status in CANCELLED_STATES or status == "Inactive":
            self._finish_unfilled(ref, row, order, update)

    def _finish_unfilled(self, ref: str, row: dict, order, update: OrderUpdate) -> None:
        if row["status"] in TERMINAL:
            return
        message = update.message or ""
        info = order.info if order is not None else {}
        margin = False
        if update.error_code == 201 or update.status == "Inactive":
            reason = _reason(message) or f"IB rejected the order ({update.status})"
            margin = any(w in reason.lower() for w in MARGIN_WORDS)
            state = "margin" if margin else "rejected"
        elif info.get("expiring"):
            reason, state = info["expire_reason"], "expired"
        else:
            reason = "cancelled" + (f": {_reason(message)}" if _reason(message) else "")
            state = "canceled"
        self.journal.update_order(ref, status=state, reason=reason)
        self._event(f"{state} {ref}: {reason}")
        if row["kind"] == "spread_close" and (row["filled"] or 0) > 0:
            # the contracts bought back before the cancel are closed, the rest stay open
            self._close_position(ref, self.journal.order(ref), order, self._combo(ref, row),
                                 done=False)
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
            order.reject(self)
        self.notify(order)

    def _on_fill(self, fill: FillUpdate) -> None:
        if not fill.order_ref or self.journal.order(fill.order_ref) is None:
            return
        if fill.sec_type == "BAG":  # the combo's own execution: its legs carry the money
            self.journal.add_fill(fill, booked=-1)
            return
        if not self.journal.add_fill(fill):
            known = self.journal.fill(fill.exec_id)
            if known["booked"] or fill.exec_id in self._waiting_commission:
                return
        if fill.commission is None:
            self._waiting_commission[fill.exec_id] = fill
        else:
            self.journal.set_commission(fill.exec_id, fill.commission, fill.realized_pnl)
            self._book(fill, fill.commission)

    def _on_commission(self, update: CommissionUpdate) -> None:
        known = self.journal.fill(update.exec_id)
        if known is None:
            return
        self.journal.set_commission(update.exec_id, update.commission, update.realized_pnl)
        fill = self._waiting_commission.pop(update.exec_id, None)
        if fill is not None and not known["booked"]:
            self._book(fill, update.commission)

    def _book(self, fill: FillUpdate, commission: float) -> None:
        """Apply one execution to cash, positions and its order, exactly once."""
        self.journal.mark_booked(fill.exec_id)
        signed = fill.shares if fill.side == "BOT" else -fill.shares
        self._cash_adjust -= signed * fill.price * fill.multiplier + commission
        row = self.journal.order(fill.order_ref)
        order = self._orders.get(fill.order_ref)
        self._event(f"fill {fill.side} {fill.shares:g} {fill.symbol} {fill.sec_type} "
                    f"{fill.right}{fill.strike or ''} @ {fill.price:.4f} comm {commission:.2f} "
                    f"ref {fill.order_ref}")
        if row["kind"] == "stock":
            self._book_stock(fill, commission, row, order)
        else:
            self._book_leg(fill, commission, row, order)

    def _book_stock(self, fill: FillUpdate, commission: float, row: dict, order) -> None:
        data = self._datas.get(fill.symbol)
        if data is None:
            return
        position = self.positions[data]
        signed = fill.shares if fill.side == "BOT" else -fill.shares
        old_price = position.price
        psize, pprice, opened, closed = position.update(signed, fill.price)
        filled = (row["filled"] or 0) + fill.shares
        status = "completed" if filled >= row["quantity"] - 1e-9 else "partial"
        self.journal.update_order(fill.order_ref, status=status, filled=filled)
        if order is None:
            return
        comminfo = order.comminfo or self.getcommissioninfo(data)
        pnl = comminfo.profitandloss(-closed, old_price, fill.price)
        share = commission / fill.shares if fill.shares else 0.0
        order.execute(data.datetime[0], signed, fill.price,
                      closed, comminfo.getoperationcost(closed, old_price), abs(closed) * share,
                      opened, comminfo.getoperationcost(opened, fill.price), abs(opened) * share,
                      comminfo.margin, pnl, psize, pprice)
        order.completed() if status == "completed" else order.partial()
        self.notify(order)

    def _book_leg(self, fill: FillUpdate, commission: float, row: dict, order) -> None:
        ref = fill.order_ref
        fills = self._combo(ref, row)
        before = fills.units
        fills.add(fill.exec_id, fill.con_id, fill.side, fill.shares, fill.price, commission)
        units = fills.units
        if units == before and order is not None:
            return
        quantity = int(row["quantity"])
        done = units >= quantity
        status = self.journal.order(ref)["status"]
        if done:
            status = "completed"
        elif status not in TERMINAL:
            status = "partial"
        self.journal.update_order(ref, status=status, filled=units)
        row = self.journal.order(ref)
        if row["kind"] == "spread_open":
            position = self._open_position(ref, row, order, fills)
        else:
            position = self._close_position(ref, row, order, fills, done)
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
        if not order.alive():
            return  # a late fill of an order already cancelled: booked, nothing to notify
        order.completed() if done else order.partial()
        self.notify(order)

    def _combo(self, ref: str, row: dict) -> ComboFills:
        """The leg fills of combo order ``ref`` (rebuilt from the journal's booked fills
        when the order was sent by an earlier process)."""
        fills = self._combos.get(ref)
        if fills is None:
            detail = json.loads(row["detail"])
            con_ids = detail.get("con_ids") or [0, 0]
            fills = self._combos[ref] = ComboFills(int(con_ids[0]), int(con_ids[1]))
            for f in self.journal.fills(ref):
                if f["booked"] == 1 and f["sec_type"] != "BAG":
                    fills.add(f["exec_id"], f["con_id"], f["side"], f["shares"], f["price"],
                              f["commission"] or 0.0)
        return fills

    def _today(self, underlying: str) -> dt.date:
        """The date of the underlying's latest bar (today when there is none)."""
        data = self._datas.get(underlying)
        return data.datetime.date(0) if data is not None and len(data) else dt.date.today()

    def _open_position(self, ref: str, row: dict, order, fills: ComboFills):
        units = fills.units
        if not units:
            return None
        position = next((p for p in self._spreads.values() if p.extra.get("order_ref") == ref),
                        None)
        if position is None:
            position = self._new_spread(ref, row, order, fills)
            self._spreads[position.id] = position
        position.contracts = units
        position.entry_credit = fills.net_price
        position.commission = fills.commission
        position.margin = spread_margin(position.width, position.entry_credit, units)
        self.journal.save_spread(position, ref)
        return position

    def _new_spread(self, ref: str, row: dict, order, fills: ComboFills) -> SpreadPosition:
        """The spread an opening combo creates; for an order sent by an earlier process
        (no order object here) the request and legs come from the journal."""
        if order is not None:
            info = order.info
            request, short, long = info["request"], info["short"], info["long"]
            day = order.data.datetime.date(0)
            con_ids = list(info["con_ids"])
        else:
            detail = json.loads(row["detail"])
            request = SpreadRequest(**detail["request"])
            short, long = (SpreadLeg(**{**detail[leg], "expiry": dt.date.fromisoformat(
                detail[leg]["expiry"])}) for leg in ("short", "long"))
            day = self._today(request.underlying)
            con_ids = [int(c) for c in detail["con_ids"]]
            self._event(f"fill of {ref} (sent by an earlier process): spread opened")
        return SpreadPosition(
            id=max(self._spreads, default=0) + 1, underlying=request.underlying,
            kind=request.kind, short=short, long=long, contracts=fills.units,
            entry_date=day, entry_credit=fills.net_price, commission=fills.commission,
            margin=0.0, mark=fills.net_price, dte=(short.expiry - day).days,
            extra={"order_ref": ref, "con_ids": con_ids})

    def _close_position(self, ref: str, row: dict, order, fills: ComboFills, done: bool):
        """Apply a closing combo's fills: all contracts bought back close the spread; while
        the order works, the margin of the contracts bought back is released; once it ended
        (cancelled, expired) after a partial fill, those contracts become their own closed
        spread and the rest stays open (``_split``)."""
        detail = json.loads(row["detail"])
        info = order.info if order is not None else detail
        position = self._spreads.get(info.get("position_id"))
        if position is None or not fills.units:
            return position
        tag = info.get("tag", "close")
        day = order.data.datetime.date(0) if order is not None else \
            self._today(position.underlying)
        quantity, units = int(row["quantity"]), fills.units
        if done:
            position.commission += fills.commission
            position.status = "closed"
            position.exit_date = day
            position.exit_debit = position.mark = fills.net_price
            position.exit_reason, position.tag = "close", tag
            position.realized_pnl = ((position.entry_credit - fills.net_price) * MULTIPLIER
                                     * position.contracts - position.commission)
            position.unrealized_pnl = 0.0
            position.margin = 0.0
            position.extra.pop("closed_contracts", None)
        elif row["status"] in TERMINAL:
            child = self._split(position, ref, quantity, units, fills.net_price,
                                fills.commission, "close", f"{tag} (partial)", day)
            if order is not None:
                order.addinfo(closed_position_id=child.id)
        else:
            position.extra["closed_contracts"] = units
            position.margin = spread_margin(position.width, position.entry_credit,
                                            quantity - units)
        self.journal.save_spread(position, position.extra.get("order_ref", ref))
        return position

    def _split(self, position: SpreadPosition, key: str, quantity: int, units: int,
               debit: float, commission: float, reason: str, tag: str,
               day: dt.date) -> SpreadPosition:
        """``units`` of the ``quantity`` contracts of ``position`` ended (bought back at
        ``debit`` paying ``commission``, or assigned): they become a closed spread of their
        own with their share of the entry commission; ``position`` keeps the rest open with
        its margin. Idempotent per ``key`` (a later fill of the same order updates it)."""
        splits = position.extra.setdefault("splits", {})
        known = splits.get(key)
        entry_commission = known["entry_commission"] if known else position.commission
        child_id = known["spread_id"] if known else max(self._spreads, default=0) + 1
        share = entry_commission * units / quantity
        child = SpreadPosition(
            id=child_id, underlying=position.underlying, kind=position.kind,
            short=position.short, long=position.long, contracts=units,
            entry_date=position.entry_date, entry_credit=position.entry_credit,
            commission=share + commission, margin=0.0, mark=debit,
            dte=max((position.expiry - day).days, 0), status="closed",
            realized_pnl=((position.entry_credit - debit) * MULTIPLIER * units
                          - share - commission),
            exit_date=day, exit_debit=debit, exit_reason=reason, tag=tag,
            extra={"split_from": position.id, "order_ref": position.extra.get("order_ref"),
                   "exit_ref": key, "con_ids": position.extra.get("con_ids")})
        position.contracts = quantity - units
        position.commission = entry_commission - share
        position.margin = spread_margin(position.width, position.entry_credit,
                                        position.contracts)
        position.extra.pop("closed_contracts", None)
        splits[key] = {"spread_id": child_id, "contracts": units,
                       "entry_commission": entry_commission, "debit": debit}
        if position.contracts <= 0:
            position.status, position.exit_date = "closed", day
        self._spreads[child_id] = child
        self.journal.save_spread(child, key)
        self.journal.save_spread(position, position.extra.get("order_ref", key))
        self._event(f"spread {position.id}: {units} of {quantity} contract(s) {reason} "
                    f"(now spread {child_id}), {position.contracts} still open")
        return child

    def _settle_expired(self) -> None:
        """A spread past expiry whose legs IB no longer holds has been settled (or
        assigned and exercised) by IB, whose cash already shows it. It is closed here at
        intrinsic value from the underlying's latest close, flagged as an estimate."""
        for position in self.open_spreads():
            data = self._datas.get(position.underlying)
            if data is None or not len(data) or data.datetime.date(0) <= position.expiry:
                continue
            if any(c in self._ib_positions for c in position.extra.get("con_ids", ())):
                continue
            spot = float(data.close[0])
            value = sp.settlement(spot, position.short, position.long)
            position.status, position.exit_date = "closed", data.datetime.date(0)
            position.exit_debit = position.mark = value
            position.exit_reason = position.tag = "expiry"
            position.realized_pnl = ((position.entry_credit - value) * MULTIPLIER
                                     * position.contracts - position.commission)
            position.unrealized_pnl, position.margin, position.dte = 0.0, 0.0, 0
            position.extra.update(settlement_spot=spot, settlement_estimated=True)
            for con_id, leg, side in zip(position.extra.get("con_ids", ()),
                                         (position.short, position.long), ("BOT", "SLD"),
                                         strict=False):
                self._synthetic_fill(position, f"expire/{position.id}", int(con_id),
                                     leg.symbol, "OPT", side, position.contracts, 0.0)
            self.journal.save_spread(position, position.extra.get("order_ref", ""))
            self._event(f"spread {position.id} expired: settled at {value:.2f} "
                        f"(estimated from {position.underlying} {spot:.2f})")

    def _link_assignments(self) -> None:
        """Shares IB delivered for an assigned short leg, linked to their spread.

        IB announces an assignment only by positions (often overnight; an execution of the
        shares, when one comes, carries no orderRef of ours): the short leg's position
        shrinks by contracts none of our fills bought back, and the underlying's stock
        position moves by 100 shares per contract (puts deliver shares, calls take them).
        When both show, those contracts are closed as ``assigned``: the short leg leaves at
        0 and its value is in the shares, bought (put) or sold (call) at the strike, which
        the broker's stock position of the underlying now holds. The journal books the leg
        and the shares as synthetic fills (execIds ``assign/...``; IB's cash already holds
        the strike) and logs an ``assignment`` event, so positions reconcile."""
        if not self.open_spreads():
            return
        expected = collections.defaultdict(float, self.journal.baseline())
        for con_id, qty in self.journal.booked_quantities().items():
            expected[con_id] += qty
        for position in self.open_spreads():
            short_id = int((position.extra.get("con_ids") or (0, 0))[0])
            stock = next((p for p in self._ib_positions.values()
                          if p.sec_type == "STK" and p.symbol == position.underlying), None)
            if not short_id or stock is None:
                continue
            held = self._ib_positions[short_id].quantity if short_id in self._ib_positions \
                else 0.0
            gone = int(held - expected[short_id] + 1e-9)  # short contracts no fill explains
            per = MULTIPLIER if position.short.right == "P" else -MULTIPLIER
            delivered = (stock.quantity - expected[stock.con_id]) / per
            assigned = min(gone, int(delivered + 1e-9), position.contracts)
            if assigned < 1:
                continue
            self._assign(position, assigned, short_id, stock, per)
            expected[short_id] += assigned
            expected[stock.con_id] += assigned * per

    def _synthetic_fill(self, position: SpreadPosition, key: str, con_id: int, symbol: str,
                        sec_type: str, side: str, quantity: float, price: float) -> None:
        """A position change IB made without an order of ours (assignment, expiry), booked
        in the journal so its positions reconcile; cash is IB's to report."""
        self.journal.add_fill(FillUpdate(
            f"{key}/{con_id}", 0, 0, position.extra.get("order_ref", ""),
            dt.datetime.now(dt.UTC), con_id, symbol, sec_type, "", 0.0, "",
            MULTIPLIER if sec_type == "OPT" else 1.0, side, quantity, price, 0.0, None),
            booked=1)

    def _assign(self, position: SpreadPosition, assigned: int, short_id: int,
                stock: PositionUpdate, per: int) -> None:
        day = self._today(position.underlying)
        key = f"assign/{position.id}/{day:%Y%m%d}"
        strike = position.short.strike
        shares = assigned * per
        self._synthetic_fill(position, key, short_id, position.short.symbol, "OPT", "BOT",
                             assigned, 0.0)
        self._synthetic_fill(position, key, stock.con_id, position.underlying, "STK",
                             "BOT" if shares > 0 else "SLD", abs(shares), strike)
        long_id = int((position.extra.get("con_ids") or (0, 0))[1])
        if day > position.expiry and long_id and long_id not in self._ib_positions:
            self._synthetic_fill(position, f"expire/{position.id}", long_id,
                                 position.long.symbol, "OPT", "SLD", assigned, 0.0)
        data = self._datas.get(position.underlying)
        if data is not None:
            self.positions[data].update(shares, strike)
        link = {"spread_id": position.id, "contracts": assigned, "shares": shares,
                "price": strike, "stock_con_id": stock.con_id, "date": str(day),
                "long_leg_held": int((position.extra.get("con_ids") or (0, 0))[1])
                in self._ib_positions}
        quantity = position.contracts
        if assigned < quantity:
            child = self._split(position, key, quantity, assigned, 0.0, 0.0, "assigned",
                                "assigned", day)
            child.extra["assignment"] = link
            self.journal.save_spread(child, key)
        else:
            position.status, position.exit_date = "closed", day
            position.exit_debit = position.mark = 0.0
            position.exit_reason = position.tag = "assigned"
            position.realized_pnl = (position.entry_credit * MULTIPLIER * quantity
                                     - position.commission)
            position.unrealized_pnl, position.margin = 0.0, 0.0
            position.dte = max((position.expiry - day).days, 0)
            position.extra["assignment"] = link
            self.journal.save_spread(position, position.extra.get("order_ref", key))
        self.journal.log("assignment", link)
        self._event(f"spread {position.id}: {assigned} short {position.short.symbol} "
                    f"assigned: {shares:+g} {position.underlying} at {strike:g}")

    def _mark_spreads(self) -> None:
        self._settle_expired()
        for position in self.open_spreads():
            short_id, long_id = position.extra.get("con_ids", (0, 0))
            if short_id in self._marks and long_id in self._marks:
                position.mark = self._marks[short_id] - self._marks[long_id]
            data = self._datas.get(position.underlying)
            if data is not None and len(data):
                position.dte = (position.expiry - data.datetime.date(0)).days
            position.unrealized_pnl = ((position.entry_credit - position.mark) * MULTIPLIER
                                       * position.contracts - position.commission)

    # ------------------------------------------------------------------ reconciliation
    def _on_sync(self, sync: Sync) -> None:
        """Book missed executions, settle orders IB no longer works, diff positions; IB's
        account values come last: they already include every execution before the sync."""
        self._ib_positions.clear()
        for p in sync.positions:
            self._on_position(p)
        if self.account or len(sync.accounts) == 1:
            account = self.account or sync.accounts[0]
            self.journal.set_baseline({p.con_id: p.quantity for p in sync.positions
                                       if p.account == account})
        booked_before = len(self.journal.fills())
        for fill in sync.fills:
            self._on_fill(fill)
        for update in sync.orders:
            self._on_order(update)
        by_ref = {u.order_ref: u for u in sync.orders if u.order_ref}
        settled = []
        for row in self.journal.open_orders():
            ref = row["order_ref"]
            if ref in sync.open_order_refs or ref in by_ref:
                continue
            if self.journal.fills(ref) and row["status"] in ("completed", "partial"):
                continue
            reason = ("IB does not know this order after reconnecting; it is not resent"
                      if row["status"] == "sending" else
                      "IB no longer lists this order after reconnecting")
            self.journal.update_order(ref, status="lost", reason=reason)
            settled.append(ref)
            order = self._orders.get(ref)
            if order is not None and order.alive():
                order.addinfo(reason=reason)
                order.cancel()
                self.notify(order)
        self._sync_stock_positions()
        for value in sync.account_values:
            self._on_account(value)
        report = {"reconnect": sync.reconnect,
                  "new_fills": len(self.journal.fills()) - booked_before,
                  "lost_orders": settled, "position_diffs": self.position_diffs()}
        self.reconcile_reports.append(report)
        self.journal.log("reconcile", report)
        self._event(f"reconciled: {report['new_fills']} new fill(s), "
                    f"{len(settled)} order(s) lost, {len(report['position_diffs'])} "
                    f"position difference(s)")

    def _sync_stock_positions(self) -> None:
        """Stock positions of traded symbols follow IB (the authority) after a sync."""
        for p in self._ib_positions.values():
            data = self._datas.get(p.symbol) if p.sec_type == "STK" else None
            if data is not None and abs(self.positions[data].size - p.quantity) > 1e-9:
                self.positions[data].set(p.quantity, p.avg_cost)
        held = {p.symbol for p in self._ib_positions.values() if p.sec_type == "STK"}
        for symbol, data in self._datas.items():
            if symbol not in held and self.positions[data].size and not self._waiting_commission:
                self.positions[data].set(0, 0.0)

    def position_diffs(self) -> list[dict]:
        """IB's position per conId against the journal's baseline + booked fills."""
        expected = collections.defaultdict(float, self.journal.baseline())
        for con_id, qty in self.journal.booked_quantities().items():
            expected[con_id] += qty
        actual = {c: p.quantity for c, p in self._ib_positions.items()}
        out = []
        for con_id in sorted(set(expected) | set(actual)):
            want, have = expected.get(con_id, 0.0), actual.get(con_id, 0.0)
            if not math.isclose(want, have, abs_tol=1e-9):
                out.append({"con_id": con_id, "journal": want, "ib": have})
        return out




def _reason(message: str) -> str:
    """IB's human reason from an error text ('Order rejected - reason:XYZ' -> 'XYZ')."""
    if "reason:" in message:
        return message.split("reason:", 1)[1].strip()
    return message.strip()


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
