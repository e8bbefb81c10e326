"""A spread's life on IB past the simple open/close: a close cancelled after a partial fill,
an assignment delivering shares, and a fill of an order that an earlier process sent."""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading

import pytest

from brokers import spread_pricing as sp
from brokers.journal import Journal
from brokers.spreads import SpreadRequest
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    PaperRun,
    frame_bars,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
)

REQUEST = SpreadRequest("SPY", "put_credit", target_delta=0.30, width=5.0, dte_min=30,
                        dte_max=45, contracts=2)
LEG_COMMISSION = 0.65


@pytest.fixture(scope="module")
def market(sample_market):
    frame = sample_market.bars("SPY", "2022-09-01", "2023-01-31")
    bars = frame_bars(frame)
    history, live = bars[:80], bars[80:84]
    chain = sample_market.option_chain("SPY")
    frame = chain.chain(live[0][0])
    short, long = sp.resolve_legs(frame, REQUEST, float(frame["underlying"].iloc[0]))
    quotes = frame.set_index("symbol")
    credit = round(quotes.at[short.symbol, "bid"] - quotes.at[long.symbol, "ask"], 2)
    debit = round(quotes.at[short.symbol, "ask"] - quotes.at[long.symbol, "bid"], 2)
    return history, live, frame, short, long, credit, debit


def fake_market(tws: FakeTWS, history, frame) -> None:
    tws.add_stock("SPY", 756733, price=history[-1][4])
    tws.set_history("SPY", ib_history(history))
    tws.add_chain_frame("SPY", frame)


def open_spread(s):
    s.broker.open_credit_spread(s, s.data, REQUEST)


def close_first(s):
    s.broker.close_spread(s, s.broker.open_spreads("SPY")[0].id, tag="exit")


def test_close_cancelled_after_a_partial_fill_keeps_the_rest_open(market, ib_log):
    ib_log.allow(r"Error 202")
    history, live, frame, short, long, credit, debit = market
    with FakeTWS(option_commission=LEG_COMMISSION) as tws:
        fake_market(tws, history, frame)
        actions = {0: open_spread, 1: close_first, 2: close_first}
        with PaperRun(tws, history, live, strategy="scripted", actions=actions) as run:
            run.push()
            run.wait(lambda: "Completed" in run.statuses(), what="open filled")
            tws.order_mode = "hold"
            run.push()
            close = tws.wait_for_order(2)
            tws.fill(close, quantity=1)  # one of the two spreads bought back at the limit
            run.wait(lambda: "Partial" in run.statuses(), what="partial close")
            working = copy.deepcopy(run.broker.open_spreads()[0])
            tws.cancel_by_server(close)  # IB ends the rest (e.g. the DAY order expired)
            run.wait(lambda: "Canceled" in run.statuses(), what="close cancelled")
            broker = run.broker
            rest = copy.deepcopy(broker.open_spreads()[0])
            part = copy.deepcopy(broker.closed_spreads()[0])
            margin, cash = broker.reserved_margin(), broker.cash_total()
            tws.order_mode = "fill"
            run.push()  # the strategy closes what is left
            run.wait(lambda: run.statuses().count("Completed") == 2, what="rest closed")
            run.finish()
    entry_commission = 2 * 2 * LEG_COMMISSION
    # while the close works: still one record, the margin of the bought-back spread freed
    assert working.contracts == 2 and working.extra["closed_contracts"] == 1
    assert working.margin == pytest.approx((5.0 - credit) * 100)
    # after the cancel: 1 contract open (its margin, half the entry commission) ...
    assert (rest.id, rest.contracts, rest.status) == (1, 1, "open")
    assert rest.margin == pytest.approx((5.0 - credit) * 100) == margin
    assert rest.commission == pytest.approx(entry_commission / 2)
    assert rest.extra["splits"][tws.placed[1].order_ref]["spread_id"] == part.id
    # ... and 1 contract closed at the partial fill's debit, as its own spread
    assert (part.id, part.contracts, part.status, part.exit_reason) == (2, 1, "closed", "close")
    assert part.exit_debit == pytest.approx(debit) and part.extra["split_from"] == 1
    assert part.realized_pnl == pytest.approx(
        (credit - debit) * 100 - entry_commission / 2 - 2 * LEG_COMMISSION)
    assert cash == pytest.approx(100_000 + credit * 200 - entry_commission - debit * 100
                                 - 2 * LEG_COMMISSION)
    # the journal agrees: the close order cancelled with 1 filled, both spreads stored
    journal = broker.journal
    row = journal.order(tws.placed[1].order_ref)
    assert (row["status"], row["filled"]) == ("canceled", 1)
    stored = {p.id: (p.status, p.contracts) for p in journal.spreads()}
    assert stored == {1: ("closed", 1), 2: ("closed", 1)}
    # the last close bought back exactly the one contract left
    assert tws.placed[2].quantity == 1 and broker.open_spreads() == []
    total = sum(p.realized_pnl for p in broker.closed_spreads())
    assert total == pytest.approx(broker.cash_total() - 100_000)
    assert broker.position_diffs() == []
    assert run.statuses() == ["Submitted", "Accepted", "Completed", "Submitted", "Accepted",
                              "Partial", "Canceled", "Submitted", "Accepted", "Completed"]


def test_an_opening_expired_after_a_partial_fill_whose_commissions_come_late(market,
                                                                            ib_log):
    """One of two contracts fills, the one-bar rule cancels the rest, and TWS sends the
    legs' commission reports only after confirming the cancel: the strategy hears Partial
    (1 contract, its credit) and then Expired, and holds a 1-contract spread. (It used to
    hear Expired alone, 'not filled', while the contract it had sold was booked after.)"""
    ib_log.allow(r"Error 202")
    history, live, frame, short, long, credit, _ = market
    with FakeTWS(option_commission=LEG_COMMISSION) as tws:
        fake_market(tws, history, frame)
        tws.order_mode = "hold"
        with PaperRun(tws, history, live[:3], strategy="scripted",
                      actions={0: open_spread}) as run:
            run.push()
            order = tws.wait_for_order()
            tws.hold_commissions = True
            tws.fill(order, quantity=1)

            def commissions_after_the_cancel():
                tws.wait_until(lambda: order.status == "Cancelled", what="the cancel")
                tws.release_commissions()

            late = threading.Thread(target=commissions_after_the_cancel)
            late.start()
            run.push()  # the order's bar is over: cancelled, commissions follow
            late.join(5)
            run.wait(lambda: "Expired" in run.statuses(), what="Expired")
            run.finish()
    assert run.statuses() == ["Submitted", "Accepted", "Partial", "Expired"]
    info = run.notes[-1][1]
    assert info["filled_contracts"] == 1 and info["credit"] == pytest.approx(credit)
    [spread] = run.broker.open_spreads()
    assert spread.contracts == 1 and spread.margin == pytest.approx((5.0 - credit) * 100)
    row = run.broker.journal.order(order.order_ref)
    assert (row["status"], row["filled"]) == ("expired", 1)
    assert not any(e.startswith("IB did not confirm") for e in run.events)
    assert run.broker.position_diffs() == []


def test_assignment_links_the_delivered_shares_to_the_spread(market, ib_log):
    history, live, frame, short, long, credit, _ = market
    with FakeTWS(option_commission=LEG_COMMISSION) as tws:
        fake_market(tws, history, frame)
        with PaperRun(tws, history, live[:2], strategy="scripted",
                      actions={0: open_spread}) as run:
            run.push()
            run.wait(lambda: "Completed" in run.statuses(), what="open filled")
            spot = (short.strike + long.strike) / 2  # short put in the money, long out
            tws.settle_physically("SPY", f"{short.expiry:%Y%m%d}", spot)
            after = short.expiry + dt.timedelta(days=1)
            run.live[1] = (after, spot, spot, spot, spot, 1000.0)
            run.finish()
    broker = run.broker
    done = broker.closed_spreads()[0]
    assert (done.exit_reason, done.exit_debit, done.exit_date) == ("assigned", 0.0, after)
    link = done.extra["assignment"]
    assert (link["contracts"], link["shares"], link["price"]) == (2, 200, short.strike)
    assert link["stock_con_id"] == 756733 and not link["long_leg_held"]
    # the strategy sees the shares, bought at the strike
    position = broker.getposition(run.datas[0])
    assert (position.size, position.price) == (200, short.strike)
    # the premium is realized; the assignment loss is in the shares marked at the spot
    assert done.realized_pnl == pytest.approx(credit * 200 - 4 * LEG_COMMISSION)
    assert broker.getvalue() == pytest.approx(
        100_000 + done.realized_pnl - 200 * (short.strike - spot))
    events = broker.journal.events("assignment")
    assert len(events) == 1 and json.loads(events[0]["detail"])["spread_id"] == done.id
    synthetic = [f for f in broker.journal.fills() if f["exec_id"].startswith("assign/")]
    assert sorted((f["sec_type"], f["side"], f["shares"]) for f in synthetic) == [
        ("OPT", "BOT", 2), ("STK", "BOT", 200)]
    # IB's own delivery execution (no orderRef) is not ours and is not booked twice
    assert not any(f["order_ref"] == "" for f in broker.journal.fills())
    assert broker.reserved_margin() == 0.0 and broker.open_spreads() == []
    assert broker.position_diffs() == []  # the expired long leg is booked too


@pytest.mark.parametrize("when", ["live", "while_away"])
def test_fill_of_an_earlier_processs_order_opens_the_spread(market, tmp_path, ib_log, when):
    """Process 1 sends the BAG and stops with it working; process 2 (same journal, same
    clientId) gets the fill, live or replayed by reqExecutions, and holds the spread."""
    history, live, frame, short, long, credit, _ = market
    path = tmp_path / "journal.sqlite"
    with FakeTWS(option_commission=LEG_COMMISSION) as tws:
        fake_market(tws, history, frame)
        tws.order_mode = "hold"
        with PaperRun(tws, history, live[:1], strategy="scripted",
                      actions={0: open_spread}, journal=Journal(path)) as first:
            first.finish()
        order = tws.wait_for_order()
        assert first.broker.open_spreads() == [] and order.is_open
        if when == "while_away":
            tws.fill(order)  # nobody connected: only reqExecutions will tell
        second = PaperRun(tws, history, live[1:3], strategy="scripted", actions={},
                          journal=Journal(path))
        with second:
            if when == "live":
                second.wait(lambda: second.broker.reconcile_reports, what="first sync")
                tws.fill(order)
            second.finish()
    spreads = second.broker.open_spreads()
    assert len(spreads) == 1
    spread = spreads[0]
    assert (spread.short, spread.long, spread.contracts) == (short, long, 2)
    assert spread.entry_credit == pytest.approx(credit)
    assert spread.margin == pytest.approx((5.0 - credit) * 200)
    assert spread.commission == pytest.approx(4 * LEG_COMMISSION)
    assert spread.extra["order_ref"] == order.order_ref
    journal = Journal(path)
    assert [p.id for p in journal.spreads()] == [spread.id]
    assert journal.order(order.order_ref)["status"] == "completed"
    assert second.broker.position_diffs() == []
    assert len(tws.placed) == 1  # never resent
