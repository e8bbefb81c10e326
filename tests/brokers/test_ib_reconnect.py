"""Reliability: a drop mid-order with the fill while disconnected, error 326, 1102.

After every reconnect the broker reconciles with the journal: the fill that happened while
disconnected (which IB replays only through reqExecutions, firing no events) is booked
exactly once, the order is never sent again, and positions agree with IB.
"""

from __future__ import annotations

import threading

import pytest

from brokers.ib_events import Sync
from brokers.ib_store import IBError, IBStore
from tests.fakes.ib_harness import (
    FAST,
    PaperRun,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    spy_tws,
    zigzag_bars,
)

HISTORY = zigzag_bars(80)
LIVE = zigzag_bars(84)[80:]
DROP_ERRORS = (r"Peer closed connection", r"API connection failed", r"Error 326",
               r"clientId .* in use", r"Error 1102", r"Connection reset by peer")


@pytest.fixture
def tws():
    with spy_tws(HISTORY) as fake:
        yield fake


def reconciled(run, n):
    return lambda: sum(e.startswith("reconciled") for e in run.events) >= n


def test_fill_while_disconnected_is_booked_once_and_never_resent(tws, ib_log):
    ib_log.allow(*DROP_ERRORS)
    tws.order_mode = "hold"
    actions = {0: lambda s: s.buy(size=100)}
    with PaperRun(tws, HISTORY, LIVE, strategy="scripted", actions=actions) as run:
        run.push()
        order = tws.wait_for_order()
        run.wait(lambda: "Accepted" in run.statuses(), what="Accepted")
        tws.paused = True
        tws.drop_connections()
        run.wait(lambda: "IB connection disconnected" in run.events, what="disconnect seen")
        tws.fill(order, price=101.0)  # nobody is connected: no message goes out
        tws.wait_until(lambda: tws.refused_paused >= 1, what="a refused reconnect attempt")
        tws.paused = False
        run.wait(reconciled(run, 2), what="reconciliation after reconnect")
        cash_after_reconnect = run.broker.cash_total()
        run.push()
        run.wait(lambda: "Completed" in run.statuses(), what="Completed after reconcile")
        tws.send_error(-1, 1102, "Connectivity between IB and TWS has been restored - data "
                                 "maintained.")
        run.wait(reconciled(run, 3), what="reconciliation after 1102")
        run.finish()
    broker = run.broker
    ref = run.notes[-1][1]["order_ref"]
    assert [p.order_ref for p in tws.placed] == [ref]  # sent once, never resent
    assert run.statuses() == ["Submitted", "Accepted", "Completed"]
    _, _, size, price, comm, _ = run.notes[-1]
    assert (size, price, comm) == (100, 101.0, pytest.approx(0.5))
    fills = broker.journal.fills(ref)
    assert len(fills) == 1 and fills[0]["booked"] == 1
    assert broker.getposition(run.datas[0]).size == 100
    assert cash_after_reconnect == pytest.approx(100_000 - 100 * 101.0 - 0.5)
    assert broker.cash_total() == pytest.approx(100_000 - 100 * 101.0 - 0.5)
    first, after_reconnect, after_1102 = broker.reconcile_reports
    assert after_reconnect == {"reconnect": True, "new_fills": 1, "lost_orders": [],
                               "position_diffs": []}
    assert after_1102["new_fills"] == 0 and after_1102["position_diffs"] == []
    assert run.store.reconnects == 1
    # the fake notices the client's close when its reader thread sees the socket end
    tws.wait_until(lambda: tws.connected_client_ids == [], what="the client disconnected")


def test_error_326_on_reconnect_backs_off_and_keeps_the_client_id(tws, ib_log):
    ib_log.allow(*DROP_ERRORS)
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted", actions={}) as run:
        run.push()
        tws.drop_connections(busy_reconnects=2)
        run.wait(reconciled(run, 2), what="reconnected after two 326s")
        assert tws.refused_326 == 2
        assert len(run.store.failures) == 2 and all("326" in f for f in run.store.failures)
        assert tws.connected_client_ids == [run.settings.store.client_id]
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="bars re-subscribed")
        run.finish()  # the bar after the reconnect still reaches the strategy
    assert run.datas[0].live_bars == 2


def test_first_connect_326_fails_fast_with_a_clear_error(tws, ib_log):
    ib_log.allow(*DROP_ERRORS)
    first = IBStore(port=tws.port, client_id=3, **FAST).start()
    try:
        with pytest.raises(IBError, match="clientId 3 is in use"):
            IBStore(port=tws.port, client_id=3, **FAST).start()
    finally:
        first.stop()
    assert tws.refused_326 == 1


@pytest.mark.parametrize("code, reconnects", [(1100, True), (1101, True), (1102, False)])
def test_connectivity_errors(tws, ib_log, code, reconnects):
    """1100 (TWS lost IB) and 1101 (restored, data lost) force the full cycle a dropped
    socket gets: reconnect with the same clientId, reconcile, re-subscribe the bars.
    1102 (restored, data kept) only reconciles on the same connection."""
    ib_log.allow(*DROP_ERRORS, r"Error 110[01]")
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted", actions={}) as run:
        run.push()
        tws.send_error(-1, code, "Connectivity between IB and Trader Workstation: "
                                 f"notice {code}")
        run.wait(reconciled(run, 2), what=f"reconciliation after {code}")
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="bars subscribed")
        run.finish()  # the next bar still reaches the strategy
        assert run.datas[0].live_bars == 2
    realtime_requests = sum(f[0] == "50" for _, f in tws.received)
    assert tws.connects == (2 if reconnects else 1)
    assert run.store.reconnects == (1 if reconnects else 0)
    assert realtime_requests == (2 if reconnects else 1)
    assert run.broker.reconcile_reports[-1]["reconnect"] is True
    assert any(e == f"IB connection {'connected' if reconnects else 'restored, data kept'}"
               for e in run.events[2:])


def test_an_order_sent_after_a_sync_was_taken_is_not_called_lost_by_it(tws, ib_log):
    """A reconciliation snapshot (here after 1102, which comes whenever IB's link
    recovers) is taken on the store's thread and applied on backtrader's: an order the
    strategy sends in between is missing from it only because it did not exist yet. It
    used to be marked lost (the strategy heard Canceled, then Completed when it filled)."""
    ib_log.allow(r"Error 1102")
    tws.order_mode = "hold"

    def buy_after_a_snapshot(s):
        taken = threading.Event()
        s.broker.store.add_listener(lambda update: isinstance(update, Sync) and taken.set())
        tws.send_error(-1, 1102, "Connectivity between IB and TWS has been restored - data "
                                 "maintained.")
        assert taken.wait(5), "no snapshot after 1102"
        s.buy(size=100)  # the snapshot is in the broker's queue, not applied yet

    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted",
                  actions={0: buy_after_a_snapshot}) as run:
        run.push()
        run.wait(reconciled(run, 2), what="the snapshot applied")
        tws.fill(tws.wait_for_order(), price=101.0)
        run.wait(lambda: "Completed" in run.statuses(), what="Completed")
        run.finish()
    assert run.statuses() == ["Submitted", "Accepted", "Completed"]
    assert run.broker.reconcile_reports[1]["lost_orders"] == []
    row = run.broker.journal.order(tws.placed[0].order_ref)
    assert (row["status"], row["filled"]) == ("completed", 100)


def test_after_a_reconnect_to_a_live_login_nothing_is_sent(tws, ib_log):
    """The account decides, not the port, and after every reconnect too: TWS restarted
    with a live login on the same port (its managed account U7654321, not the paper
    account the run checked at start) gets no order; the refusal names both accounts.
    (The broker kept sending orders addressed to the paper account.)"""
    ib_log.allow(*DROP_ERRORS)
    actions = {1: lambda s: s.buy(size=100)}
    with PaperRun(tws, HISTORY, LIVE[:3], strategy="scripted", actions=actions) as run:
        run.push()
        tws.accounts = ["U7654321"]
        tws.drop_connections()
        run.wait(reconciled(run, 2), what="reconciliation after reconnect")
        run.finish()
    assert tws.placed == []
    assert run.statuses() == ["Submitted", "Rejected"]
    reason = run.notes[-1][1]["reason"]
    assert "DU1234567" in reason and "U7654321" in reason
    assert any("U7654321" in e and e.startswith("warning: ") for e in run.events)


def test_an_execution_seen_live_then_replayed_after_a_reconnect_is_booked_once(tws, ib_log):
    """A fill booked live comes again after the reconnect: replayed by reqExecutions, and
    once more as a live execDetails with its commission report. Cash, position and the
    journal count it once."""
    ib_log.allow(*DROP_ERRORS)
    tws.order_mode = "hold"
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted",
                  actions={0: lambda s: s.buy(size=100)}) as run:
        run.push()
        order = tws.wait_for_order()
        [execution] = tws.fill(order, price=101.0)
        run.wait(lambda: "Completed" in run.statuses(), what="Completed")
        tws.drop_connections()
        run.wait(reconciled(run, 2), what="reconciliation after reconnect")
        for conn in tws._conns_of(order.client_id):
            conn.send(conn.encoder.execution(-1, execution),
                      conn.encoder.commission_report(execution.exec_id, 0.5, None))
        run.finish()
    broker = run.broker
    assert run.statuses() == ["Submitted", "Accepted", "Completed"]
    assert broker.reconcile_reports[1]["new_fills"] == 0
    assert len(broker.journal.fills()) == 1
    assert broker.getposition(run.datas[0]).size == 100
    assert broker.cash_total() == pytest.approx(100_000 - 100 * 101.0 - 0.5)
    assert broker.position_diffs() == []


def test_a_fill_replayed_before_its_commission_is_paid_for_once(tws, ib_log):
    """The order fills while nobody is connected; after the reconnect reqExecutions
    replays the execution, TWS's cash (which has paid for it) comes with the snapshot,
    and the commission report only after it. Cash counts the purchase once: it was booked
    again with the commission, 10,100.00 too low until TWS's next cash report (what the
    account value, the sizing and the daily loss limit read meanwhile)."""
    ib_log.allow(*DROP_ERRORS)
    tws.order_mode = "hold"
    with PaperRun(tws, HISTORY, LIVE[:2], strategy="scripted",
                  actions={0: lambda s: s.buy(size=100)}) as run:
        run.push()
        order = tws.wait_for_order()
        run.wait(lambda: "Accepted" in run.statuses(), what="Accepted")
        tws.paused = True
        tws.drop_connections()
        run.wait(lambda: "IB connection disconnected" in run.events, what="disconnect seen")
        tws.hold_commissions = True
        tws.fill(order, price=101.0)  # nobody is connected
        tws.paused = False
        run.wait(reconciled(run, 2), what="reconciliation after reconnect")
        tws.release_commissions()
        run.wait(lambda: "Completed" in run.statuses(), what="the commission booked")
        cash = run.broker.cash_total()  # before TWS reports its cash again
        run.finish()
    assert cash == pytest.approx(100_000 - 100 * 101.0 - 0.5)
    assert run.broker.getposition(run.datas[0]).size == 100
