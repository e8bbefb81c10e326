"""IBLedger on its own: IB's snapshots applied to cash, positions, orders and spreads.

No TWS and no Cerebro: the snapshots (``brokers.ib_events``) are built here and applied
through the ledger's interface (``track``, ``apply``, ``awaiting_commission``,
``spreads.mark``, ``position_diffs``) the way ``IBBroker`` does. Every expected number is
worked out from the fills below.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import backtrader as bt
import pytest

from brokers.ib_events import (
    AccountUpdate,
    CommissionUpdate,
    FillUpdate,
    OrderUpdate,
    PositionUpdate,
    Sync,
)
from brokers.ib_ledger import IBLedger
from brokers.journal import Journal
from brokers.spread_orders import SpreadOpenOrder
from brokers.spreads import SpreadLeg, SpreadRequest

DAY = dt.date(2024, 2, 1)
SHORT = SpreadLeg("SPY240315P00400000", dt.date(2024, 3, 15), 400.0, "P", -1)
LONG = SpreadLeg("SPY240315P00395000", dt.date(2024, 3, 15), 395.0, "P", 1)
SHORT_ID, LONG_ID, STOCK_ID = 101, 102, 7


class _Clock:
    def __init__(self, day: dt.date):
        self.day = day

    def date(self, ago: int = 0) -> dt.date:
        return self.day

    def __getitem__(self, ago: int) -> float:
        """The instant of the session's close in UTC, as ``IBData``'s line holds it."""
        close = dt.datetime.combine(self.day, dt.time(16), ZoneInfo("America/New_York"))
        return bt.date2num(close.astimezone(dt.UTC).replace(tzinfo=None))


class Bar:
    """The part of a backtrader feed the ledger reads: name, length, date and close."""

    def __init__(self, name: str, day: dt.date, close: float):
        self._name, self.close, self.datetime = name, [close], _Clock(day)

    def __len__(self) -> int:
        return 1


class Broker:
    """The ``LedgerBroker`` side: records what the ledger tells it."""

    def __init__(self):
        self.notes: list[tuple[str, str]] = []
        self.events: list[str] = []

    def notify(self, order) -> None:
        self.notes.append((order.info.get("order_ref", ""), order.getstatusname()))

    def event(self, text: str) -> None:
        self.events.append(text)

    def getcommissioninfo(self, data):
        return bt.CommissionInfo()


@pytest.fixture
def ledger():
    book = IBLedger(Journal(":memory:"), Broker(), "DU1")
    book.account.watch(Bar("SPY", DAY, 410.0))
    return book


def cash(value: float, account: str = "DU1", tag: str = "TotalCashValue") -> AccountUpdate:
    return AccountUpdate(account, tag, str(value), "USD")


def fill(exec_id: str, ref: str, side: str, shares: float, price: float,
         commission: float | None = None, con_id: int = STOCK_ID, sec_type: str = "STK",
         multiplier: float = 1.0) -> FillUpdate:
    return FillUpdate(exec_id, 1, 11, ref, dt.datetime(2024, 2, 1, 15, tzinfo=dt.UTC),
                      con_id, "SPY", sec_type, "", 0.0, "", multiplier, side, shares, price,
                      commission, None if commission is None else 0.0)


def status(ref: str, state: str, code: int | None = None, message: str = "") -> OrderUpdate:
    return OrderUpdate(1, 11, 0, ref, state, 0.0, 0.0, 0.0, code, message)


def stock_order(ledger: IBLedger, ref: str, size: float = 10, sent: bool = True) -> bt.Order:
    """A Market buy of SPY journaled and handed to the ledger as IBBroker sends it
    (``sent=False``: the process stopped between the journal and IB)."""
    data = ledger.account.datas["SPY"]
    order = bt.order.BuyOrder(owner=None, data=data, size=size, simulated=True)
    order.addcomminfo(bt.CommissionInfo())
    order.addinfo(order_ref=ref)
    order.submit(None)
    ledger.journal.record_intent(ref, "Test", "buy", "SPY", {"size": size})
    ledger.journal.record_order(ref, "stock", "BUY", size, "MKT", None)
    if sent:
        ledger.journal.order_sent(ref, 1, 0)
    ledger.track(ref, order)
    return order


def spread_order(ledger: IBLedger, ref: str, contracts: int = 2) -> bt.Order:
    """A put credit spread journaled and handed to the ledger as IBBroker sends it."""
    data = ledger.account.datas["SPY"]
    request = SpreadRequest("SPY", "put_credit", width=5.0, contracts=contracts)
    order = SpreadOpenOrder(owner=None, data=data, size=contracts, simulated=True)
    order.addinfo(order_ref=ref, request=request, action="open", short=SHORT, long=LONG,
                  con_ids=(SHORT_ID, LONG_ID))
    order.submit(None)
    ledger.journal.record_intent(ref, "Test", "open_put_credit", "SPY",
                                 {"request": vars(request)})
    ledger.journal.add_detail(ref, short=dataclasses.asdict(SHORT),
                              long=dataclasses.asdict(LONG))
    ledger.journal.record_order(ref, "spread_open", "SELL", contracts, "LMT", 1.05)
    ledger.journal.add_detail(ref, con_ids=[SHORT_ID, LONG_ID])
    ledger.journal.order_sent(ref, 2, 0)
    ledger.track(ref, order, (SHORT_ID, LONG_ID))
    return order


def test_cash_is_ibs_total_plus_the_fills_booked_since(ledger):
    ledger.apply(cash(10_000))
    ledger.apply(cash(99_999, account="DU2"))  # another managed account
    ledger.apply(cash(55_555, tag="NetLiquidation"))
    assert ledger.account.cash_total() == 10_000
    stock_order(ledger, "r1")
    ledger.apply(fill("e1", "r1", "BOT", 10, 50.0, commission=1.0))
    assert ledger.account.cash_total() == pytest.approx(10_000 - 10 * 50.0 - 1.0)
    ledger.apply(cash(9_400))  # IB's own figure replaces the estimate
    assert ledger.account.cash_total() == 9_400


def test_a_fill_is_booked_once_when_its_commission_is_known(ledger):
    data = ledger.account.datas["SPY"]
    stock_order(ledger, "r1")
    ledger.apply(status("r1", "Submitted"))
    assert ledger.broker.notes == [("r1", "Accepted")]
    assert ledger.journal.order("r1")["status"] == "accepted"

    ledger.apply(fill("e1", "r1", "BOT", 10, 50.0))
    ledger.apply(fill("e1", "r1", "BOT", 10, 50.0))  # replayed after a reconnect
    assert ledger.awaiting_commission() == {"e1"}
    # the price is paid into cash at once (IB's next cash report holds it), the fill is
    # booked (position, order, commission) once its commission is known
    assert ledger.account.cash_total() == -500.0 and ledger.account.positions[data].size == 0

    ledger.apply(CommissionUpdate("e1", 1.0, 0.0))
    assert ledger.awaiting_commission() == set()
    assert ledger.account.cash_total() == pytest.approx(-501.0)
    assert ledger.account.positions[data].size == 10
    assert ledger.account.positions[data].price == 50.0
    assert ledger.broker.notes[-1] == ("r1", "Completed")
    assert ledger.journal.order("r1")["status"] == "completed"

    notes = len(ledger.broker.notes)
    ledger.apply(fill("e1", "r1", "BOT", 10, 50.0, commission=1.0))  # and once more
    ledger.apply(CommissionUpdate("e1", 1.0, 0.0))
    assert ledger.account.cash_total() == pytest.approx(-501.0)
    assert ledger.account.positions[data].size == 10 and len(ledger.broker.notes) == notes


def test_reports_about_orders_that_are_not_ours_change_nothing(ledger):
    ledger.apply(status("manual/1", "Submitted"))
    ledger.apply(fill("e9", "", "BOT", 5, 50.0, commission=1.0))
    ledger.apply(fill("e8", "manual/1", "BOT", 5, 50.0, commission=1.0))
    assert ledger.broker.notes == [] and ledger.journal.fills() == []
    assert ledger.account.cash_total() == 0.0


@pytest.mark.parametrize("code, state, message, expected, journaled", [
    (201, "Cancelled", "Order rejected - reason:Insufficient margin", "Margin", "margin"),
    (201, "Cancelled", "Order rejected - reason:Price out of range", "Rejected", "rejected"),
    (None, "Cancelled", "", "Canceled", "canceled"),
])
def test_an_order_ib_ends_unfilled_tells_why(ledger, code, state, message, expected,
                                             journaled):
    order = stock_order(ledger, "r1")
    ledger.apply(status("r1", "Submitted"))
    ledger.apply(status("r1", state, code, message))
    assert ledger.broker.notes[-1] == ("r1", expected)
    assert ledger.journal.order("r1")["status"] == journaled
    if message:
        assert order.info["reason"] == message.split("reason:")[1]
    ledger.apply(status("r1", state, code, message))  # a repeat changes nothing
    assert len(ledger.broker.notes) == 2


def test_leg_fills_open_a_spread_in_the_book_and_marks_revalue_it(ledger):
    order = spread_order(ledger, "s1", contracts=2)
    ledger.apply(fill("l1", "s1", "SLD", 2, 1.50, 1.30, SHORT_ID, "OPT", 100.0))
    assert ledger.book.open() == []  # one leg is not a spread
    ledger.apply(fill("l2", "s1", "BOT", 2, 0.40, 1.30, LONG_ID, "OPT", 100.0))
    ledger.apply(fill("b1", "s1", "SLD", 2, 1.10, 0.0, 0, "BAG"))  # the combo's own row

    [position] = ledger.book.open()
    credit = 1.50 - 0.40
    assert position.contracts == 2 and position.entry_credit == pytest.approx(credit)
    assert position.commission == pytest.approx(2.60)
    assert position.margin == pytest.approx((5.0 - credit) * 100 * 2)
    assert ledger.book.reserved_margin() == pytest.approx(position.margin)
    assert position.extra["con_ids"] == [SHORT_ID, LONG_ID]
    assert ledger.account.cash_total() == pytest.approx(2 * 1.50 * 100 - 2 * 0.40 * 100 - 2.60)
    assert ledger.broker.notes[-1] == ("s1", "Completed")
    assert order.info["position_id"] == position.id and order.executed.price == \
        pytest.approx(credit)

    for con_id, quantity, price in ((SHORT_ID, -2, 1.00), (LONG_ID, 2, 0.30)):
        ledger.apply(PositionUpdate("DU1", con_id, "SPY", "OPT", "20240315", 0.0, "P", 100.0,
                                    quantity, price * 100, market_price=price))
    ledger.spreads.mark()
    assert position.mark == pytest.approx(0.70)
    assert position.dte == (SHORT.expiry - DAY).days
    assert position.unrealized_pnl == pytest.approx((credit - 0.70) * 100 * 2 - 2.60)

    again = IBLedger(ledger.journal, Broker(), "DU1")  # a restarted process
    assert [p.id for p in again.book.open()] == [position.id]
    assert again.book.get(position.id).entry_credit == pytest.approx(credit)


def test_forget_drops_an_order_that_could_not_be_sent(ledger):
    stock_order(ledger, "r1")
    ledger.forget("r1")
    assert "r1" not in ledger.orders
    ledger.apply(status("r1", "Submitted"))  # the journal knows it; no order to notify
    assert ledger.broker.notes == []


def test_a_reconnect_books_missed_fills_and_marks_unknown_orders_lost(ledger):
    ledger.apply(Sync(False, ("DU1",), (), frozenset(), (), (), ()))  # baseline: nothing held
    stock_order(ledger, "r1")
    dropped = stock_order(ledger, "r2")
    unsent = stock_order(ledger, "r3", sent=False)
    missed = fill("e1", "r1", "BOT", 10, 50.0, commission=1.0)
    held = PositionUpdate("DU1", STOCK_ID, "SPY", "STK", "", 0.0, "", 1.0, 10, 50.1)
    ledger.apply(Sync(True, ("DU1",), (), frozenset(), (missed,), (held,), (cash(9_499),)))

    report = ledger.reconcile_reports[-1]
    assert report == {"reconnect": True, "new_fills": 1, "lost_orders": ["r2", "r3"],
                      "position_diffs": []}
    assert ledger.journal.order("r1")["status"] == "completed"
    assert [ledger.journal.order(r)["status"] for r in ("r2", "r3")] == ["lost", "lost"]
    assert dropped.getstatusname() == unsent.getstatusname() == "Canceled"
    assert dropped.info["reason"] == "IB no longer lists this order after reconnecting"
    assert unsent.info["reason"] == ("IB does not know this order after reconnecting; "
                                     "it is not resent")
    assert ledger.account.cash_total() == 9_499  # IB's figure, after the fills
    assert ledger.account.positions[ledger.account.datas["SPY"]].size == 10

    ledger.apply(PositionUpdate("DU1", STOCK_ID, "SPY", "STK", "", 0.0, "", 1.0, 15, 50.1))
    assert ledger.position_diffs() == [{"con_id": STOCK_ID, "journal": 10.0, "ib": 15.0}]


def test_an_end_that_overtakes_its_last_execution_waits_for_it(ledger):
    """IB's Cancelled counts 4 shares filled before their execution has arrived: the end
    waits for it, so the strategy hears Partial (4) and then Canceled, never Canceled
    with nothing filled."""
    stock_order(ledger, "r1")
    ledger.apply(OrderUpdate(1, 11, 0, "r1", "Cancelled", 4.0, 6.0, 100.0, 202,
                             "Order Canceled - reason:"))
    assert ledger.broker.notes == [] and ledger.journal.order("r1")["status"] == "submitted"
    ledger.apply(fill("e1", "r1", "BOT", 4, 100.0, commission=0.4))
    assert ledger.broker.notes == [("r1", "Partial"), ("r1", "Canceled")]
    assert (ledger.journal.order("r1")["status"], ledger.journal.order("r1")["filled"]) == (
        "canceled", 4)


def test_a_fill_after_the_cancel_was_reported_is_told_partial_then_the_end(ledger):
    stock_order(ledger, "r1")
    ledger.apply(status("r1", "Submitted"))
    ledger.apply(status("r1", "Cancelled", 202, "Order Canceled - reason:"))
    ledger.apply(fill("e1", "r1", "BOT", 4, 100.0, commission=0.4))
    assert ledger.broker.notes == [("r1", "Accepted"), ("r1", "Canceled"), ("r1", "Partial"),
                                   ("r1", "Canceled")]
    assert ledger.journal.order("r1")["status"] == "canceled"
    ledger.apply(fill("e2", "r1", "BOT", 6, 100.0, commission=0.6))
    assert ledger.broker.notes[-1] == ("r1", "Completed")
    row = ledger.journal.order("r1")
    assert (row["status"], row["filled"], row["reason"]) == (
        "completed", 10, "filled after IB reported it canceled")


def test_a_spread_fill_that_beats_its_expiry_cancel_is_completed_not_expired(ledger):
    """The broker cancels a spread order unfilled after its bar; IB refuses the cancel
    (10148: it filled) before reporting the leg fills. The spread opened: Completed."""
    order = spread_order(ledger, "s1", contracts=1)
    ledger.apply(status("s1", "Submitted"))
    order.addinfo(expiring=True, expire_reason="limit credit 1.05 not filled: cancelled")
    ledger.apply(status("s1", "Cancelled", 10148, "Error 10148, reqId 2: OrderId 2 that needs "
                        "to be cancelled cannot be cancelled, state: Filled."))
    assert ledger.journal.order("s1")["status"] == "accepted" and order.alive()
    ledger.apply(fill("s.01", "s1", "SLD", 1, 2.00, 0.65, con_id=SHORT_ID, sec_type="OPT",
                      multiplier=100))
    ledger.apply(fill("l.01", "s1", "BOT", 1, 0.95, 0.65, con_id=LONG_ID, sec_type="OPT",
                      multiplier=100))
    assert ledger.broker.notes[-1] == ("s1", "Completed")
    assert ledger.journal.order("s1")["status"] == "completed"
    assert len(ledger.book.open()) == 1
