"""Execution corrections: TWS reports a correction of an earlier execution as a new
execution whose execId differs only in the digits after the final period (``.01`` ->
``.02``, IB's ``Execution.ExecId`` reference). The correction replaces the earlier one:
its shares, price and commission count, the earlier one's no longer do (it is neither
added as a second fill nor booked twice after a reconnect replays both).

Through the fake TWS with the real ib_async client (which itself keeps both as fills of
the trade), and on the ledger alone for the orders of arrival a socket does not show.
"""

from __future__ import annotations

import pytest

from brokers.ib_events import CommissionUpdate
from brokers.ib_ledger import IBLedger
from brokers.journal import SUPERSEDED, Journal, exec_version
from brokers.spread_orders import SpreadCloseOrder
from tests.brokers.test_ib_ledger import (
    DAY,
    LONG,
    LONG_ID,
    SHORT,
    SHORT_ID,
    Bar,
    Broker,
    cash,
    fill,
    spread_order,
    status,
    stock_order,
)
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


@pytest.fixture(name="ledger")
def ledger_fixture() -> IBLedger:
    """A ledger of account DU1 watching SPY, as ``test_ib_ledger``'s."""
    book = IBLedger(Journal(":memory:"), Broker(), "DU1")
    book.account.watch(Bar("SPY", DAY, 410.0))
    return book


def completed(run) -> int:
    return sum(n[0] == "Completed" for n in run.notes)


def test_exec_version_reads_ibs_exec_ids():
    assert exec_version("0000e0d5.657b2c1f.01.01") == ("0000e0d5.657b2c1f.01", 1)
    assert exec_version("0000e0d5.657b2c1f.01.02") == ("0000e0d5.657b2c1f.01", 2)
    assert exec_version("assign/3/20240308") is None and exec_version("") is None


def test_a_price_correction_replaces_the_execution_and_a_replay_books_nothing(tws, ib_log):
    """100 shares fill at 101.00 (commission 0.50); TWS then corrects the execution to
    101.50 with commission 0.60. The broker holds 100 shares (not 200) at 101.50, its
    cash paid 100 x 101.50 + 0.60 once, the strategy is told the corrected Completed
    order, and the journal counts the correction only. A 1102 re-sync, whose executions
    hold both versions, books neither again."""
    ib_log.allow(r"Error 1102")
    tws.order_mode = "hold"
    actions = {0: lambda s: s.buy(size=100)}
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted", actions=actions) as run:
        run.push()
        order = tws.wait_for_order()
        [first] = tws.fill(order, price=101.0)
        run.wait(lambda: completed(run) == 1, what="Completed")
        second = tws.correct(first, price=101.5, commission=0.6)
        assert second.exec_id == first.exec_id[:-2] + "02"
        run.wait(lambda: completed(run) == 2, what="the corrected order")
        tws.send_error(-1, 1102, "Connectivity between IB and TWS has been restored - data "
                                 "maintained.")
        run.wait(lambda: sum(e.startswith("reconciled") for e in run.events) >= 2,
                 what="reconciliation after 1102")
        run.finish()
    broker, data = run.broker, run.datas[0]
    ref = run.notes[-1][1]["order_ref"]
    _, info, size, price, comm, _ = run.notes[-1]
    assert (size, price, comm) == (100, pytest.approx(101.5), pytest.approx(0.6))
    position = broker.getposition(data)
    assert (position.size, position.price) == (100, pytest.approx(101.5))
    assert broker.cash_total() == pytest.approx(100_000 - 100 * 101.5 - 0.6)
    assert broker.cash_total() == pytest.approx(tws.cash)
    fills = {f["exec_id"]: f for f in broker.journal.fills(ref)}
    assert fills[first.exec_id]["booked"] == SUPERSEDED
    assert (fills[second.exec_id]["booked"], fills[second.exec_id]["price"],
            fills[second.exec_id]["commission"]) == (1, 101.5, 0.6)
    row = broker.journal.order(ref)
    assert (row["status"], row["filled"]) == ("completed", 100)
    assert broker.reconcile_reports[-1]["new_fills"] == 0
    assert broker.position_diffs() == []
    assert [e["detail"] for e in broker.journal.events("correction")] == [
        f'{{"exec_id": "{first.exec_id}", "replaced_by": "{second.exec_id}"}}']
    assert any(e.startswith(f"corrected {first.exec_id} -> {second.exec_id}")
               for e in run.events)


def test_a_share_correction_of_a_partial_fill_leaves_the_rest_to_fill(tws, ib_log):
    """40 of 100 shares fill, TWS corrects that execution to 30 shares: the order is
    Partial with 30, and the rest (70) completes it with 100 held, not 110."""
    tws.order_mode = "hold"
    actions = {0: lambda s: s.buy(size=100)}
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted", actions=actions) as run:
        run.push()
        order = tws.wait_for_order()
        [first] = tws.fill(order, quantity=40, price=101.0)
        run.wait(lambda: "Partial" in run.statuses(), what="Partial")
        tws.correct(first, shares=30, commission=0.15)
        run.wait(lambda: [n[2] for n in run.notes if n[0] == "Partial"][-1:] == [30],
                 what="the corrected Partial")
        tws.fill(order, price=102.0)
        run.wait(lambda: completed(run) == 1, what="Completed")
        run.finish()
    broker = run.broker
    _, _, size, price, comm, _ = run.notes[-1]
    assert (size, price) == (100, pytest.approx((30 * 101 + 70 * 102) / 100))
    assert comm == pytest.approx(0.15 + 0.35)
    assert broker.getposition(run.datas[0]).size == 100
    assert broker.cash_total() == pytest.approx(tws.cash)
    assert broker.journal.order(run.notes[-1][1]["order_ref"])["filled"] == 100


# ---------------------------------------------------------------- the ledger alone
def test_a_correction_of_an_execution_still_waiting_for_its_commission(ledger):
    """The first version's commission never matters: it is replaced before it is booked,
    and its late report books nothing."""
    ledger.apply(cash(10_000))
    order = stock_order(ledger, "r1")
    ledger.apply(fill("e.01", "r1", "BOT", 10, 100.0))  # commission to come
    ledger.apply(fill("e.02", "r1", "BOT", 10, 99.0))
    assert ledger.account.cash_total() == pytest.approx(10_000 - 990)
    ledger.apply(CommissionUpdate("e.01", 1.0, 0.0))
    ledger.apply(CommissionUpdate("e.02", 0.5, 0.0))
    data = ledger.account.datas["SPY"]
    assert ledger.account.positions[data].size == 10
    assert ledger.account.cash_total() == pytest.approx(10_000 - 990 - 0.5)
    assert (order.executed.size, order.executed.price, order.executed.comm) == (
        10, pytest.approx(99.0), pytest.approx(0.5))
    assert ledger.broker.notes == [("r1", "Completed")]
    assert ledger.journal.fill("e.01")["booked"] == SUPERSEDED
    assert ledger.awaiting_commission() == set()


def test_a_replayed_older_version_after_its_correction_is_not_booked(ledger):
    """A restart's reqExecutions may list the correction before the execution it
    replaced: the older version is recorded as replaced, never booked."""
    ledger.apply(cash(10_000))
    stock_order(ledger, "r1")
    ledger.apply(fill("e.02", "r1", "BOT", 10, 99.0, commission=0.5))
    ledger.apply(fill("e.01", "r1", "BOT", 10, 100.0, commission=1.0))
    data = ledger.account.datas["SPY"]
    assert ledger.account.positions[data].size == 10
    assert ledger.account.cash_total() == pytest.approx(10_000 - 990 - 0.5)
    assert ledger.journal.fill("e.01")["booked"] == SUPERSEDED
    assert ledger.journal.order("r1")["filled"] == 10


def test_a_correction_keeps_the_old_version_until_its_own_commission(ledger):
    """Between the correction's arrival and its commission report the old execution
    still counts for the position and the order (nothing the strategy sees moves twice),
    and the cash already holds the corrected price."""
    ledger.apply(cash(10_000))
    order = stock_order(ledger, "r1")
    ledger.apply(fill("e.01", "r1", "BOT", 10, 100.0, commission=1.0))
    ledger.apply(fill("e.02", "r1", "BOT", 12, 100.0))
    data = ledger.account.datas["SPY"]
    assert ledger.account.positions[data].size == 10 and order.executed.size == 10
    assert ledger.account.cash_total() == pytest.approx(10_000 - 1200 - 1.0)
    ledger.apply(CommissionUpdate("e.02", 1.2, 0.0))
    assert ledger.account.positions[data].size == 12 and order.executed.size == 12
    assert ledger.account.cash_total() == pytest.approx(10_000 - 1200 - 1.2)
    assert ledger.journal.order("r1")["filled"] == 12
    assert ledger.journal.expected_quantities()[7] == 12


def test_a_leg_correction_reprices_the_spread(ledger):
    """A combo's short-leg execution corrected from 2.00 to 2.10: the spread's credit is
    the corrected one, its commission counts each leg execution once."""
    order = spread_order(ledger, "s1", contracts=1)
    ledger.apply(fill("s.01", "s1", "SLD", 1, 2.00, 0.65, con_id=SHORT_ID, sec_type="OPT",
                      multiplier=100))
    ledger.apply(fill("l.01", "s1", "BOT", 1, 1.00, 0.65, con_id=LONG_ID, sec_type="OPT",
                      multiplier=100))
    [position] = ledger.book.open()
    assert position.entry_credit == pytest.approx(1.00)
    ledger.apply(fill("s.02", "s1", "SLD", 1, 2.10, 0.70, con_id=SHORT_ID, sec_type="OPT",
                      multiplier=100))
    [position] = ledger.book.open()
    assert (position.short.symbol, position.long.symbol) == (SHORT.symbol, LONG.symbol)
    assert position.contracts == 1
    assert position.entry_credit == pytest.approx(1.10)
    assert position.commission == pytest.approx(0.70 + 0.65)
    assert order.info["credit"] == pytest.approx(1.10)
    assert ledger.account.cash_total() == pytest.approx(110 - 0.70 - 0.65)
    assert ledger.journal.expected_quantities()[SHORT_ID] == -1
    assert ledger.broker.notes[-1] == ("s1", "Completed")


def test_a_cancelled_status_after_a_correction_changes_nothing(ledger):
    stock_order(ledger, "r1")
    ledger.apply(fill("e.01", "r1", "BOT", 10, 100.0, commission=1.0))
    ledger.apply(fill("e.02", "r1", "BOT", 10, 100.5, commission=1.0))
    ledger.apply(status("r1", "Filled"))
    assert ledger.journal.order("r1")["status"] == "completed"


def test_a_leg_correction_after_the_close_recloses_the_spread_at_the_corrected_debit(
        ledger):
    """The closing combo's short leg bought back at 0.80 is corrected to 0.70: the closed
    spread's debit, exit commission and realized P&L are the corrected ones (the old exit
    commission is not counted beside the new one)."""
    spread_order(ledger, "s1", contracts=1)
    opt = dict(sec_type="OPT", multiplier=100)
    ledger.apply(fill("s.01", "s1", "SLD", 1, 2.00, 0.65, con_id=SHORT_ID, **opt))
    ledger.apply(fill("l.01", "s1", "BOT", 1, 1.00, 0.65, con_id=LONG_ID, **opt))
    [position] = ledger.book.open()
    data = ledger.account.datas["SPY"]
    close = SpreadCloseOrder(owner=None, data=data, size=1, simulated=True)
    close.addinfo(order_ref="c1", action="close", position_id=position.id, tag="close",
                  contracts=1, con_ids=(SHORT_ID, LONG_ID))
    close.submit(None)
    ledger.journal.record_intent("c1", "Test", "close", "SPY",
                                 {"position_id": position.id, "con_ids": [SHORT_ID, LONG_ID]})
    ledger.journal.record_order("c1", "spread_close", "BUY", 1, "LMT", 0.5)
    ledger.journal.order_sent("c1", 3, 0)
    ledger.track("c1", close, (SHORT_ID, LONG_ID))
    ledger.apply(fill("cs.01", "c1", "BOT", 1, 0.80, 0.65, con_id=SHORT_ID, **opt))
    ledger.apply(fill("cl.01", "c1", "SLD", 1, 0.30, 0.65, con_id=LONG_ID, **opt))
    [closed] = ledger.book.closed()
    assert closed.realized_pnl == pytest.approx(50 - 2.6)
    ledger.apply(fill("cs.02", "c1", "BOT", 1, 0.70, 0.60, con_id=SHORT_ID, **opt))
    [closed] = ledger.book.closed()
    assert closed.exit_debit == pytest.approx(0.40)
    assert closed.commission == pytest.approx(1.30 + 1.25)
    assert closed.realized_pnl == pytest.approx(60 - 2.55)
    assert close.info["debit"] == pytest.approx(0.40)
    assert ledger.broker.notes[-1] == ("c1", "Completed")
