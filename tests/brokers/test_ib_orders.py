"""Stock orders on the IB broker against the fake TWS: fill, partial fill, reject, cancel.

The real ib_async client talks to the fake over a socket; the strategy runs in backtrader's
live loop on a thread and the test streams bars one at a time (``ib_harness.PaperRun``).
"""

from __future__ import annotations

import backtrader as bt
import pytest

from brokers.ib_account import IBAccount
from brokers.ib_events import AccountUpdate
from tests.fakes.ib_harness import (
    PaperRun,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    spy_tws,
    zigzag_bars,
)

HISTORY = zigzag_bars(80)
LIVE = zigzag_bars(86)[80:]


@pytest.fixture
def tws():
    with spy_tws(HISTORY) as fake:
        yield fake


def test_equity_strategy_market_order_fills_at_next_bar_open(tws, ib_log):
    tws.order_mode = "next_bar_open"
    with PaperRun(tws, HISTORY, LIVE[:2]) as run:
        run.push()
        assert len(tws.placed) == 1
        placed = tws.placed[0]
        assert (placed.action, placed.order_type) == ("BUY", "MKT")
        assert placed.order_ref.startswith("btml/EquityStrategy/buy/SPY/")
        run.push()
        run.wait(lambda: "Completed" in run.statuses(), what="Completed")
        run.finish()
    assert run.statuses() == ["Submitted", "Accepted", "Completed"]
    _, info, size, price, comm, _ = run.notes[-1]
    open_next = LIVE[1][1]
    assert size == placed.quantity and price == pytest.approx(open_next)
    assert comm == pytest.approx(0.005 * placed.quantity)
    broker = run.broker
    assert broker.getposition(run.datas[0]).size == placed.quantity
    expected_cash = 100_000 - placed.quantity * open_next - 0.005 * placed.quantity
    assert broker.cash_total() == pytest.approx(expected_cash)
    assert broker.getvalue() == pytest.approx(expected_cash + placed.quantity * LIVE[1][4])
    order = broker.journal.order(info["order_ref"])
    assert (order["status"], order["filled"], order["perm_id"]) == ("completed",
                                                                    placed.quantity, 900001)
    fills = broker.journal.fills(info["order_ref"])
    assert len(fills) == 1 and fills[0]["booked"] == 1 and fills[0]["commission"] > 0


def test_partial_fill_then_the_rest(tws, ib_log):
    tws.order_mode = "hold"
    actions = {0: lambda s: setattr(s, "o", s.buy(size=100))}
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted", actions=actions) as run:
        run.push()
        order = tws.wait_for_order()
        tws.fill(order, quantity=40, price=101.0)
        run.wait(lambda: "Partial" in run.statuses(), what="Partial")
        assert run.notes[-1][2] == 40
        tws.fill(order, price=102.0)
        run.wait(lambda: "Completed" in run.statuses(), what="Completed")
        run.finish()
    assert run.statuses() == ["Submitted", "Accepted", "Partial", "Completed"]
    _, _, size, price, comm, _ = run.notes[-1]
    assert size == 100 and price == pytest.approx((40 * 101 + 60 * 102) / 100)
    assert comm == pytest.approx(0.005 * 100)
    assert run.broker.getposition(run.datas[0]).size == 100
    assert len(tws.placed) == 1


@pytest.mark.parametrize("reason, status", [
    ("The order quantity exceeds the maximum allowed for this account", "Rejected"),
    ("YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY WITH "
     "LOAN VALUE MUST EXCEED THE INITIAL MARGIN", "Margin"),
])
def test_rejection_201_carries_ibs_reason(tws, ib_log, reason, status):
    ib_log.allow(r"Error 201")
    tws.order_mode, tws.reject_reason = "reject", reason
    actions = {0: lambda s: s.buy(size=100)}
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted", actions=actions) as run:
        run.push()
        run.wait(lambda: status in run.statuses(), what=status)
        run.finish()
    assert run.statuses() == ["Submitted", status]
    info = run.notes[-1][1]
    assert info["reason"] == reason
    assert run.broker.journal.order(info["order_ref"])["status"] == status.lower()
    assert run.broker.getposition(run.datas[0]).size == 0


def test_cancel_202_gives_canceled(tws, ib_log):
    ib_log.allow(r"Error 202")
    tws.order_mode = "hold"
    actions = {0: lambda s: setattr(s, "o", s.buy(size=10, exectype=bt.Order.Limit, price=50.0)),
               1: lambda s: s.cancel(s.o)}
    with PaperRun(tws, HISTORY, LIVE[:3], strategy="scripted", actions=actions) as run:
        run.push()
        assert tws.placed[0].order_type == "LMT" and tws.placed[0].limit == 50.0
        run.wait(lambda: "Accepted" in run.statuses(), what="Accepted")
        run.push()
        run.wait(lambda: "Canceled" in run.statuses(), what="Canceled")
        run.finish()
    assert run.statuses() == ["Submitted", "Accepted", "Canceled"]
    assert tws.wait_for_order().status == "Cancelled"
    assert any(f[0] == "4" for _, f in tws.received)  # cancelOrder went over the wire
    assert run.broker.journal.order(run.notes[-1][1]["order_ref"])["status"] == "canceled"


def test_a_commission_after_the_cancel_books_the_partial_fill_before_the_cancel(tws, ib_log):
    """TWS reports an execution's commission after the order's status: 40 of 100 shares
    fill, the order is cancelled, and only then the commission report comes. The strategy
    hears Partial (40 shares) and then Canceled, once; the journal says canceled with 40
    filled. (The late fill used to reopen the order: Canceled, then Partial, the order
    open again in the broker and 'partial' in the journal for ever.)"""
    ib_log.allow(r"Error 202")
    tws.order_mode = "hold"
    actions = {0: lambda s: setattr(s, "o", s.buy(size=100, exectype=bt.Order.Limit,
                                                  price=101.0)),
               1: lambda s: s.cancel(s.o)}
    with PaperRun(tws, HISTORY, LIVE[:3], strategy="scripted", actions=actions) as run:
        run.push()
        order = tws.wait_for_order()
        tws.hold_commissions = True
        tws.fill(order, quantity=40, price=101.0)
        run.push()  # the strategy cancels; TWS confirms before the commission comes
        tws.wait_until(lambda: order.status == "Cancelled", what="the cancel")
        tws.release_commissions()
        run.wait(lambda: "Canceled" in run.statuses(), what="Canceled")
        run.finish()
    assert run.statuses() == ["Submitted", "Accepted", "Partial", "Canceled"]
    _, info, size, price, comm, _ = run.notes[-1]
    assert (size, price, comm) == (40, 101.0, pytest.approx(0.2))
    broker = run.broker
    row = broker.journal.order(info["order_ref"])
    assert (row["status"], row["filled"]) == ("canceled", 40)
    assert broker.get_orders_open() == [] and broker.journal.open_orders() == []
    assert broker.getposition(run.datas[0]).size == 40
    assert broker.cash_total() == pytest.approx(100_000 - 40 * 101.0 - 0.2)


def test_a_commission_report_before_its_execution_is_kept(tws, ib_log):
    """IB documents the commission report after its execution; sent before it, ib_async
    finds no execution of that execId and drops it, so the fill waited for a commission
    that had come (the order never completed). The store keeps such a report until its
    execution arrives."""
    tws.order_mode = "hold"
    tws.commission_first = True
    actions = {0: lambda s: s.buy(size=100)}
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted", actions=actions) as run:
        run.push()
        tws.fill(tws.wait_for_order(), price=101.0)
        run.wait(lambda: "Completed" in run.statuses(), what="Completed")
        run.finish()
    _, info, size, price, comm, _ = run.notes[-1]
    assert (size, price, comm) == (100, 101.0, pytest.approx(0.5))
    assert run.broker.journal.fills(info["order_ref"])[0]["booked"] == 1


def test_an_order_ib_refuses_with_another_code_than_201_is_rejected(tws, ib_log):
    """TWS refuses a new order with other codes than 201 too, e.g. 110 for a price off the
    contract's tick (ib_async ends the order as Cancelled either way). An order IB never
    accepted is Rejected with IB's text as the reason, so the strategy says it did not
    fill; it used to be Canceled ('cancelled: ...' in the journal), which the credit
    spread strategy does not report at all."""
    ib_log.allow(r"Error 110")
    tws.order_mode, tws.reject_code = "reject", 110
    tws.reject_reason = "The price does not conform to the minimum price variation for this " \
                        "contract."
    actions = {0: lambda s: s.buy(size=10, exectype=bt.Order.Limit, price=100.003)}
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted", actions=actions) as run:
        run.push()
        run.wait(lambda: len(run.statuses()) == 2, what="the answer")
        run.finish()
    assert run.statuses() == ["Submitted", "Rejected"]
    info = run.notes[-1][1]
    assert info["reason"] == tws.reject_reason
    row = run.broker.journal.order(info["order_ref"])
    assert (row["status"], row["reason"]) == ("rejected", tws.reject_reason)


def test_a_rejection_after_ib_accepted_the_order_ends_it_rejected(tws, ib_log):
    """201 for an order IB had acknowledged (working, then refused, e.g. for margin once
    the account moved): Accepted, then Margin with IB's reason; nothing filled."""
    ib_log.allow(r"Error 201")
    tws.order_mode = "hold"
    reason = "YOUR ORDER IS NOT ACCEPTED. INSUFFICIENT EQUITY WITH LOAN"
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted",
                  actions={0: lambda s: s.buy(size=100)}) as run:
        run.push()
        run.wait(lambda: "Accepted" in run.statuses(), what="Accepted")
        tws.reject(tws.wait_for_order(), reason)
        run.wait(lambda: "Margin" in run.statuses(), what="Margin")
        run.finish()
    assert run.statuses() == ["Submitted", "Accepted", "Margin"]
    info = run.notes[-1][1]
    assert info["reason"] == reason
    assert run.broker.journal.order(info["order_ref"])["status"] == "margin"
    assert run.broker.getposition(run.datas[0]).size == 0


@pytest.mark.parametrize("race, statuses", [
    ("refused_first", ["Submitted", "Accepted", "Completed"]),
    ("cancelled_first", ["Submitted", "Accepted", "Canceled", "Completed"]),
])
def test_a_cancel_racing_a_fill_ends_with_the_fill(tws, ib_log, race, statuses):
    """The strategy cancels a working limit order while the exchange fills it. TWS either
    refuses the cancel (10148, 'cannot be cancelled, state: Filled') before it reports the
    fill, or reports the cancel (Cancelled + 202) and then the fill the exchange made
    before the cancel reached it. Either way the order filled: the strategy ends with
    Completed for 10 shares, as the ledger (10 held) and the journal (completed) say. It
    used to end with Canceled while the shares were booked and the journal said
    completed."""
    ib_log.allow(r"Error 202", r"Error 10148")
    tws.order_mode, tws.cancel_race = "hold", race
    actions = {0: lambda s: setattr(s, "o", s.buy(size=10, exectype=bt.Order.Limit,
                                                  price=50.0)),
               1: lambda s: s.cancel(s.o)}
    with PaperRun(tws, HISTORY, LIVE[:3], strategy="scripted", actions=actions) as run:
        run.push()
        run.wait(lambda: "Accepted" in run.statuses(), what="Accepted")
        run.push()
        run.wait(lambda: "Completed" in run.statuses(), what="Completed")
        run.finish()
    assert run.statuses() == statuses
    _, info, size, price, comm, _ = run.notes[-1]
    assert (size, price, comm) == (10, 50.0, pytest.approx(0.05))
    broker = run.broker
    row = broker.journal.order(info["order_ref"])
    assert (row["status"], row["filled"]) == ("completed", 10)
    assert broker.getposition(run.datas[0]).size == 10
    assert broker.get_orders_open() == []


def test_the_equity_strategy_holds_what_a_fill_after_the_cancel_bought(tws, ib_log):
    """TWS reports the equity strategy's buy cancelled and then the fill the exchange made
    first: the strategy is told Canceled, then Completed, and holds the long side it now
    has. It used to stay on the side before the order (flat) while holding the shares: the
    next BUY call tried to buy again (a skipped entry or a second order), a SELL call would
    never have sold them."""
    ib_log.allow(r"Error 202")

    def cancel_then_fill(fake, order):
        fake.cancel_by_server(order)
        fake.fill(order, price=LIVE[0][4])

    tws.order_mode = cancel_then_fill
    with PaperRun(tws, HISTORY, LIVE[:4]) as run:
        run.push()
        run.wait(lambda: "Completed" in run.statuses(), what="Completed")
        run.finish()
    strategy = run.result[0]
    assert run.statuses() == ["Submitted", "Accepted", "Canceled", "Completed"]
    assert len(tws.placed) == 1 and strategy.skipped == []
    assert strategy._side[run.datas[0]] == 1
    assert run.broker.getposition(run.datas[0]).size == tws.placed[0].quantity


def test_a_eur_based_account_has_its_cash_in_dollars_at_ibs_rate(tws, ib_log):
    """A paper account based in EUR: IB reports TotalCashValue only in EUR (90,000.00) and
    its ExchangeRate of USD (0.9 EUR per USD). The broker's cash is 100,000.00 USD, said in
    a warning line, and the strategy trades on it. It used to read no cash at all (0.00:
    the EUR row was ignored), so the account seemed empty."""
    tws.base_currency, tws.usd_rate = "EUR", 0.9
    tws.order_mode = "next_bar_open"
    with PaperRun(tws, HISTORY, LIVE[:2]) as run:
        assert run.broker.cash_total() == pytest.approx(100_000)
        run.push()
        run.push()
        run.wait(lambda: "Completed" in run.statuses(), what="Completed")
        run.finish()
    broker = run.broker
    bought = tws.placed[0].quantity
    assert bought == int(0.95 * 100_000 / LIVE[0][4])
    assert broker.cash_total() == pytest.approx(tws.cash, abs=0.01)
    said = [e for e in run.events if e.startswith("warning: the account's base currency")]
    assert len(said) == 1 and "EUR" in said[0] and "0.9 EUR per USD" in said[0]


def test_a_eur_based_account_without_a_usd_rate_refuses_opening_orders(tws, ib_log):
    """No USD figure and no exchange rate from IB: the cash in dollars is unknown, so the
    strategy's entry is refused with the reason (a warning line says it once) instead of
    being sized on a cash of 0.00."""
    tws.base_currency, tws.usd_rate = "EUR", None
    actions = {0: lambda s: s.buy(size=10)}
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted", actions=actions) as run:
        run.push()
        run.wait(lambda: "Rejected" in run.statuses(), what="Rejected")
        run.finish()
    assert tws.placed == []
    reason = run.notes[-1][1]["reason"]
    assert "EUR" in reason and "USD" in reason
    assert sum(e.startswith("warning: IB reports the account's cash only in EUR")
               for e in run.events) == 1


def test_a_usd_account_reporting_its_cash_as_base_first_is_not_called_foreign():
    """TWS may send an account's TotalCashValue as BASE beside its currency's row, in
    either order. BASE is the base currency's own figure under another name, not a
    currency: a USD account whose BASE row came first read as one whose cash was known
    only in 'BASE' (opening orders refused, a false warning) until the USD row came."""
    account = IBAccount("DU1")
    assert not account.apply_value(AccountUpdate("DU1", "TotalCashValue", "100000.00", "BASE"))
    assert (account.cash_problem(), account.cash_note()) == (None, None)
    assert account.apply_value(AccountUpdate("DU1", "TotalCashValue", "100000.00", "USD"))
    assert account.cash_total() == 100_000.0 and account.cash_note() is None
