"""The spread side of the IB ledger: spreads opened, closed, settled and assigned on IB.

``IBSpreadLedger`` turns what IB reports into ``SpreadPosition``s in the broker's
``SpreadBook``: the per-leg fills of a combo order (``ComboFills``) open a spread or
close it (a closing order cancelled after a partial fill splits the spread in two), a
spread past expiry whose legs IB no longer holds is settled at intrinsic value, and
shares IB delivered for an assigned short leg close the contracts they belong to. Every
change is saved to the journal, so a restarted process picks the spreads up again.

The order side (order states, bt notifications, cash) is ``brokers.ib_ledger.IBLedger``'s,
which calls ``open_position``/``close_position`` with each combo fill and ``mark`` and
``link_assignments`` once a bar.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from brokers import spread_pricing as sp
from brokers.bar_times import exchange_date, local
from brokers.ib_account import IBAccount
from brokers.ib_events import FillUpdate, PositionUpdate
from brokers.ib_spreads import ComboFills
from brokers.journal import TERMINAL, Journal
from brokers.spread_book import SpreadBook
from brokers.spreads import SpreadLeg, SpreadPosition, SpreadRequest, spread_margin
from core.domain import MULTIPLIER
from feeds.calendar import last_session


class IBSpreadLedger:
    """Keeps ``book`` in line with IB's combo fills, expiries and assignments."""

    def __init__(self, journal: Journal, book: SpreadBook, account: IBAccount,
                 event: Callable[[str], None]) -> None:
        self.journal = journal
        self.book = book
        self.account = account
        self._event = event
        self._combos: dict[str, ComboFills] = {}

    # ------------------------------------------------------------------ combo fills
    def track(self, ref: str, short_con_id: int, long_con_id: int) -> None:
        """Combo order ``ref`` was sent: its leg fills start from nothing."""
        self._combos[ref] = ComboFills(short_con_id, long_con_id)

    def forget(self, ref: str) -> None:
        self._combos.pop(ref, None)

    def combo(self, ref: str, row: dict) -> ComboFills:
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
                              f["commission"] or 0.0, _fill_time(f["time"]))
        return fills

    def open_position(self, ref: str, row: dict, order, fills: ComboFills):
        """The spread opening order ``ref`` holds after ``fills`` (None before any unit)."""
        units = fills.units
        if not units:
            return None
        position = self.book.opened_by(ref)
        if position is None:
            position = self.book.add(self._new_spread(ref, row, order, fills))
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
            day = _exchange_date(fills.first_at) or exchange_date(order.data)
            con_ids = list(info["con_ids"])
        else:
            request, short, long, con_ids = opening_from_detail(json.loads(row["detail"]))
            day = _exchange_date(fills.first_at) or self.account.today(request.underlying)
            self._event(f"fill of {ref} (sent by an earlier process): spread opened")
        return SpreadPosition(
            id=self.book.next_id(), underlying=request.underlying,
            kind=request.kind, short=short, long=long, contracts=fills.units,
            entry_date=day, entry_credit=fills.net_price, commission=fills.commission,
            margin=0.0, mark=fills.net_price, dte=(short.expiry - day).days,
            extra={"order_ref": ref, "con_ids": con_ids})

    def close_position(self, ref: str, row: dict, order, fills: ComboFills, done: bool,
                       corrects: float | None = None):
        """Apply a closing combo's fills: all contracts bought back close the spread; while
        the order works, the margin of the contracts bought back is released; once it ended
        (cancelled, expired) after a partial fill, those contracts become their own closed
        spread and the rest stays open (``_split``). ``corrects``: the fills are a
        correction of fills whose commission was that (a spread they closed already is
        closed again at the corrected debit, its exit commission replaced)."""
        detail = json.loads(row["detail"])
        info = order.info if order is not None else detail
        position = self.book.get(info.get("position_id"))
        if position is None or not fills.units:
            return position
        tag = info.get("tag", "close")
        day = _exchange_date(fills.last_at) or (
            exchange_date(order.data) if order is not None
            else self.account.today(position.underlying))
        quantity, units = int(row["quantity"]), fills.units
        if done:
            if corrects is not None and not position.is_open:
                position.commission -= corrects  # closed before: its old exit commission
            self.book.close(position, day, fills.net_price, fills.commission, "close", tag)
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
        child_id = known["spread_id"] if known else self.book.next_id()
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
        self.book.add(child)
        self.journal.save_spread(child, key)
        self.journal.save_spread(position, position.extra.get("order_ref", key))
        self._event(f"spread {position.id}: {units} of {quantity} contract(s) {reason} "
                    f"(now spread {child_id}), {position.contracts} still open")
        return child

    # ------------------------------------------------------------------ each bar
    def mark(self) -> None:
        """Settle expired spreads, then mark the open ones from IB's leg prices."""
        self._settle_expired()
        marks = self.account.marks
        for position in self.book.open():
            short_id, long_id = position.extra.get("con_ids", (0, 0))
            if short_id in marks and long_id in marks:
                position.mark = marks[short_id] - marks[long_id]
            data = self.account.datas.get(position.underlying)
            if data is not None and len(data):
                position.dte = (position.expiry - exchange_date(data)).days
            self.book.revalue(position)

    def _settle_expired(self) -> None:
        """A spread at or past expiry whose legs IB no longer holds has been settled (or
        assigned and exercised) by IB, whose cash already shows it. It is closed here at
        intrinsic value, flagged as an estimate, by the simulated broker's rule: from the
        close of the expiry's last session (``feeds.calendar.last_session``: the Friday of
        a Saturday expiry), or the last close before it when the data lacks that session,
        on the date of the first bar on or after it. IB removes expired legs overnight, so
        this usually runs a bar later than that date; the record is the same as the
        backtest's (``expiry_bar``)."""
        for position in self.book.open():
            data = self.account.datas.get(position.underlying)
            if (data is None or not len(data)
                    or exchange_date(data) < last_session(position.expiry)):
                continue
            if any(c in self.account.held for c in position.extra.get("con_ids", ())):
                continue
            day, spot = expiry_bar(data, position.expiry)
            value = sp.settlement(spot, position.short, position.long)
            self.book.close(position, day, value, 0.0, "expiry", "expiry")
            position.margin, position.dte = 0.0, 0
            position.extra.update(settlement_spot=spot, settlement_estimated=True)
            for con_id, leg, side in zip(position.extra.get("con_ids", ()),
                                         (position.short, position.long), ("BOT", "SLD"),
                                         strict=False):
                self._synthetic_fill(position, f"expire/{position.id}", int(con_id),
                                     leg.symbol, "OPT", side, position.contracts, 0.0)
            self.journal.save_spread(position, position.extra.get("order_ref", ""))
            self._event(f"spread {position.id} expired: settled at {value:.2f} "
                        f"(estimated from {position.underlying} {spot:.2f})")

    # ------------------------------------------------------------------ assignments
    def link_assignments(self) -> None:
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
        if not self.book.open():
            return
        expected = self.journal.expected_quantities()
        held = self.account.held
        for position in self.book.open():
            short_id = int((position.extra.get("con_ids") or (0, 0))[0])
            stock = self.account.stock(position.underlying)
            if not short_id or stock is None:
                continue
            short = held[short_id].quantity if short_id in held else 0.0
            gone = int(short - expected[short_id] + 1e-9)  # short contracts no fill explains
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
        day = self.account.today(position.underlying)
        key = f"assign/{position.id}/{day:%Y%m%d}"
        strike = position.short.strike
        shares = assigned * per
        self._synthetic_fill(position, key, short_id, position.short.symbol, "OPT", "BOT",
                             assigned, 0.0)
        self._synthetic_fill(position, key, stock.con_id, position.underlying, "STK",
                             "BOT" if shares > 0 else "SLD", abs(shares), strike)
        long_id = int((position.extra.get("con_ids") or (0, 0))[1])
        if day > position.expiry and long_id and long_id not in self.account.held:
            self._synthetic_fill(position, f"expire/{position.id}", long_id,
                                 position.long.symbol, "OPT", "SLD", assigned, 0.0)
        data = self.account.datas.get(position.underlying)
        if data is not None:
            self.account.positions[data].update(shares, strike)
        link = {"spread_id": position.id, "contracts": assigned, "shares": shares,
                "price": strike, "stock_con_id": stock.con_id, "date": str(day),
                "long_leg_held": long_id in self.account.held}
        quantity = position.contracts
        if assigned < quantity:
            child = self._split(position, key, quantity, assigned, 0.0, 0.0, "assigned",
                                "assigned", day)
            child.extra["assignment"] = link
            self.journal.save_spread(child, key)
        else:
            self.book.close(position, day, 0.0, 0.0, "assigned", "assigned")
            position.margin = 0.0
            position.dte = max((position.expiry - day).days, 0)
            position.extra["assignment"] = link
            self.journal.save_spread(position, position.extra.get("order_ref", key))
        self.journal.log("assignment", link)
        self._event(f"spread {position.id}: {assigned} short {position.short.symbol} "
                    f"assigned: {shares:+g} {position.underlying} at {strike:g}")


def opening_from_detail(detail: dict) -> tuple[SpreadRequest, SpreadLeg, SpreadLeg,
                                               list[int]]:
    """The request, short and long legs and leg conIds of a spread opening, as the journal
    keeps them (``record_intent`` + ``add_detail``): what a later process needs to open the
    spread from its fills or to take the order over."""
    request = SpreadRequest(**detail["request"])
    short, long = (SpreadLeg(**{**detail[leg], "expiry": dt.date.fromisoformat(
        detail[leg]["expiry"])}) for leg in ("short", "long"))
    return request, short, long, [int(c) for c in detail["con_ids"]]


def expiry_bar(data, expiry: dt.date) -> tuple[dt.date, float]:
    """The date a spread expiring on ``expiry`` is settled on and the close it settles
    from, as the simulated broker settles it: the close of ``data``'s last bar dated on or
    before the expiry's last session (on intraday bars the session's last bar, not its
    first; a gap in the data gives the last close before it, never a close dated after
    the expiry), on the date of the first bar dated on or after that session. With no bar
    that early left in the buffer, its earliest bar (the estimate can only use what it
    has). Dates are New York dates, whatever the display zone."""
    settles = last_session(expiry)
    day = exchange_date(data)
    for ago in range(0, -len(data), -1):
        bar_day = exchange_date(data, ago)
        if bar_day <= settles:
            return (settles if bar_day == settles else day), float(data.close[ago])
        day = bar_day  # the earliest bar after the session seen so far
    return day, float(data.close[-len(data) + 1])


def _fill_time(text: str | None) -> dt.datetime | None:
    """A journal fill's time (``str`` of the execution's datetime) back as a datetime."""
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _exchange_date(when: dt.datetime | None) -> dt.date | None:
    """The New York date of an execution time (naive times are taken as UTC, as ib_async
    gives them)."""
    if when is None:
        return None
    return local(when if when.tzinfo else when.replace(tzinfo=dt.UTC)).date()
