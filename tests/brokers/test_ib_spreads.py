"""Credit spreads on the IB broker: legs from IB's chain and quotes, one BAG at a net limit.

The fake TWS serves the sample market's SPY chain of the request day (contract details,
reqSecDefOptParams, option snapshots with model greeks), so the legs IB must pick are the
ones the simulated broker's rule picks from the same chain, computed here independently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest

from brokers import spread_pricing as sp
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


@pytest.fixture(scope="module")
def market(sample_market):
    frame = sample_market.bars("SPY", "2022-09-01", "2023-01-31")
    bars = frame_bars(frame)
    return bars[:80], bars[80:84], sample_market.option_chain("SPY")


def open_then_close(s):
    s.opened = s.broker.open_credit_spread(s, s.data, REQUEST)


def close_first(s):
    spread = s.broker.open_spreads("SPY")[0]
    s.closed = s.broker.close_spread(s, spread.id, tag="test")


@contextlib.contextmanager
def chain_tws(history: list[tuple], frame: pd.DataFrame) -> Iterator[FakeTWS]:
    """A fake TWS listing SPY at ``history``'s last close with that daily history and the
    option chain ``frame``, 0.65 a contract."""
    with FakeTWS(option_commission=0.65) as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        tws.add_chain_frame("SPY", frame)
        yield tws


def test_credit_spread_is_one_bag_filled_at_the_limit_and_closed(market, ib_log):
    history, live, chain = market
    day = live[0][0]
    frame = chain.chain(day)
    short, long = sp.resolve_legs(frame, REQUEST, float(frame["underlying"].iloc[0]))
    quotes = frame.set_index("symbol")
    credit = round(quotes.at[short.symbol, "bid"] - quotes.at[long.symbol, "ask"], 2)
    with chain_tws(history, frame) as tws:
        actions = {0: open_then_close, 1: close_first}
        with PaperRun(tws, history, live, strategy="scripted", actions=actions) as run:
            run.push()
            bag = tws.placed[0]
            run.wait(lambda: "Completed" in run.statuses(), what="open filled")
            cash_after_open = run.broker.cash_total()
            spread = dataclasses.replace(run.broker.open_spreads()[0])
            run.push()
            close = tws.placed[1]
            run.wait(lambda: run.statuses().count("Completed") == 2, what="close filled")
            run.finish()
        sc = tws.option("SPY", f"{short.expiry:%Y%m%d}", short.strike, "P")
        lc = tws.option("SPY", f"{long.expiry:%Y%m%d}", long.strike, "P")
    # one BAG: legs BUY short strike / SELL long strike, SOLD at the natural credit
    assert bag.contract["secType"] == "BAG" and (bag.action, bag.order_type) == ("SELL", "LMT")
    assert bag.limit == pytest.approx(credit) and bag.quantity == 2
    assert [(leg.con_id, leg.ratio, leg.action) for leg in bag.legs] == [
        (sc.con_id, 1, "BUY"), (lc.con_id, 1, "SELL")]
    assert not bag.smart_combo_params  # guaranteed combo: never legged into a naked short
    assert bag.order_ref.startswith("btml/Scripted/open_put_credit/SPY/")
    # the BAG itself was never qualified
    assert not any(f[0] == "9" and f[5] == "BAG" for _, f in tws.received)
    # the spread: legs the backtest rule picks, credit = the limit, per-leg fills once
    assert (spread.short, spread.long) == (short, long)
    assert spread.contracts == 2 and spread.entry_credit == pytest.approx(credit)
    assert spread.margin == pytest.approx((5.0 - credit) * 100 * 2)
    open_fills = run.broker.journal.fills(bag.order_ref)
    assert sorted(f["sec_type"] for f in open_fills) == ["BAG", "OPT", "OPT"]
    assert sum(f["booked"] == 1 for f in open_fills) == 2  # the combo row is not money
    assert cash_after_open == pytest.approx(100_000 + credit * 200 - 4 * 0.65)
    # closing: one BAG BOUGHT back at the natural debit
    debit = round(quotes.at[short.symbol, "ask"] - quotes.at[long.symbol, "bid"], 2)
    assert (close.action, close.limit, close.quantity) == ("BUY", pytest.approx(debit), 2)
    assert [(leg.con_id, leg.action) for leg in close.legs] == [(sc.con_id, "BUY"),
                                                               (lc.con_id, "SELL")]
    done = run.broker.closed_spreads()[0]
    assert done.exit_debit == pytest.approx(debit) and done.tag == "test"
    assert done.realized_pnl == pytest.approx((credit - debit) * 200 - 8 * 0.65)
    assert run.broker.cash_total() == pytest.approx(100_000 + (credit - debit) * 200 - 8 * 0.65)
    assert run.broker.position_diffs() == []
    assert run.statuses() == ["Submitted", "Accepted", "Completed"] * 2


def test_spread_refusals_width_and_max_open_spreads(market, ib_log):
    history, live, chain = market
    frame = chain.chain(live[0][0])
    over_width = SpreadRequest("SPY", "put_credit", width=0.5, contracts=1)
    actions = {0: lambda s: s.broker.open_credit_spread(s, s.data, over_width),
               1: lambda s: s.broker.open_credit_spread(s, s.data, REQUEST),
               2: lambda s: s.broker.open_credit_spread(s, s.data, REQUEST)}
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        tws.add_chain_frame("SPY", frame)
        settings = {"max_open_spreads": 1}
        with PaperRun(tws, history, live, strategy="scripted", actions=actions,
                      settings=settings) as run:
            run.finish()
    reasons = [n[1]["reason"] for n in run.notes if n[0] == "Rejected"]
    assert len(reasons) == 2 and "below the strike grid step" in reasons[0]
    assert reasons[1] == "max open spreads reached (1 open, 0 pending, limit 1)"
    assert len(tws.placed) == 1 and len(run.broker.open_spreads()) == 1
    refused = run.broker.journal.order(run.notes[-1][1]["order_ref"])
    assert refused["status"] == "refused" and pd.notna(refused["reason"])


def test_expired_legs_close_the_spread_at_intrinsic(market, ib_log):
    """The legs vanish and the feed's next bar comes after the expiry (no bar of the
    expiry session): the spread is closed at intrinsic value from the last close before
    the expiry, as the simulated broker settles a data gap, on that later bar's date (it
    read the later bar's close, dated after the expiry)."""
    history, live, chain = market
    frame = chain.chain(live[0][0])
    actions = {0: open_then_close}
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        tws.add_chain_frame("SPY", frame)
        with PaperRun(tws, history, live[:2], strategy="scripted", actions=actions) as run:
            run.push()
            run.wait(lambda: "Completed" in run.statuses(), what="open filled")
            spread = run.broker.open_spreads()[0]
            spot = spread.short.strike - 2.0  # the short put ends $2 in the money
            tws.expire_options("SPY", f"{spread.expiry:%Y%m%d}", spot)
            after = spread.expiry + dt.timedelta(days=1)
            run.live[1] = (after, spot, spot, spot, spot, 1000.0)
            run.finish()
    done = run.broker.closed_spreads()[0]
    before = live[0][4]  # the last close before the expiry
    intrinsic = sp.settlement(before, done.short, done.long)
    assert (done.exit_reason, done.exit_date) == ("expiry", after)
    assert done.extra["settlement_spot"] == before and done.exit_debit == intrinsic
    assert done.realized_pnl == pytest.approx((done.entry_credit - intrinsic) * 200
                                              - 4 * 0.65)
    assert done.extra["settlement_estimated"] and run.broker.open_spreads() == []
    assert run.broker.reserved_margin() == 0.0
    assert run.broker.position_diffs() == []  # the vanished legs are booked as expired


def test_legs_gone_overnight_settle_at_the_expiry_days_close(market, ib_log):
    """IB removes expired legs overnight, so the broker learns of the expiry on the bar
    after it; the spread is still closed as the simulated broker closes it: on the expiry
    date, at intrinsic value from that date's close (not the later bar's)."""
    history, live, chain = market
    frame = chain.chain(live[0][0])
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        tws.add_chain_frame("SPY", frame)
        with PaperRun(tws, history, live[:3], strategy="scripted",
                      actions={0: open_then_close}) as run:
            run.push()
            run.wait(lambda: "Completed" in run.statuses(), what="open filled")
            spread = run.broker.open_spreads()[0]
            at_expiry = spread.short.strike - 2.0  # the short put ends $2 in the money
            run.live[1] = (spread.expiry, at_expiry, at_expiry, at_expiry, at_expiry, 1000.0)
            run.push()
            assert run.broker.open_spreads() == [spread]  # IB still holds the legs
            tws.expire_options("SPY", f"{spread.expiry:%Y%m%d}", at_expiry)
            after = spread.expiry + dt.timedelta(days=3)
            later = spread.short.strike + 10.0  # out of the money the next day
            run.live[2] = (after, later, later, later, later, 1000.0)
            run.finish()
    done = run.broker.closed_spreads()[0]
    assert (done.exit_reason, done.exit_debit, done.exit_date) == ("expiry", 2.0,
                                                                    spread.expiry)
    assert done.extra["settlement_spot"] == at_expiry
    assert run.broker.position_diffs() == []


def test_close_working_when_the_legs_expire_is_rejected(market, ib_log):
    """TWS cancels a close still working on legs that expire (error 202); the broker
    reports it Rejected, naming the expiry, as the simulated broker rejects a close
    pending at expiry, and the spread is booked as expired."""
    ib_log.allow(r"Error 202")
    history, live, chain = market
    frame = chain.chain(live[0][0])
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        tws.add_chain_frame("SPY", frame)
        actions = {0: open_then_close, 1: close_first}
        with PaperRun(tws, history, live[:3], strategy="scripted", actions=actions) as run:
            run.push()
            run.wait(lambda: "Completed" in run.statuses(), what="open filled")
            spread = run.broker.open_spreads()[0]
            tws.order_mode = "hold"  # the close works at TWS
            run.push()
            spot = spread.short.strike + 10.0  # out of the money: the spread expires worthless
            tws.expire_options("SPY", f"{spread.expiry:%Y%m%d}", spot)
            run.live[2] = (spread.expiry, spot, spot, spot, spot, 1000.0)
            run.finish()
    closing = [n for n in run.notes if n[1].get("action") == "close"]
    assert [n[0] for n in closing] == ["Submitted", "Accepted", "Rejected"]
    assert closing[-1][1]["reason"].startswith(f"spread {spread.id} expired on {spread.expiry}")
    done = run.broker.closed_spreads()[0]
    assert (done.exit_reason, done.exit_debit, done.exit_date) == ("expiry", 0.0,
                                                                    spread.expiry)
    assert run.broker.position_diffs() == []


def test_leg_executions_without_an_order_ref_are_matched_by_perm_id(market, ib_log):
    """Leg executions that carry only the combo's permId (no orderRef; whether TWS copies
    the orderRef onto them is unconfirmed) still open the spread: the broker knows the
    order's permId from IB's order status. They used to be ignored as not ours: the
    spread never opened while IB held its legs."""
    history, live, chain = market
    frame = chain.chain(live[0][0])
    with chain_tws(history, frame) as tws:
        tws.leg_order_refs = False
        with PaperRun(tws, history, live[:2], strategy="scripted",
                      actions={0: open_then_close}) as run:
            run.push()
            run.wait(lambda: "Completed" in run.statuses(), what="open filled")
            run.finish()
    [spread] = run.broker.open_spreads()
    assert spread.contracts == 2 and spread.commission == pytest.approx(4 * 0.65)
    ref = tws.placed[0].order_ref
    assert {f["order_ref"] for f in run.broker.journal.fills()} == {ref}
    assert run.broker.position_diffs() == []


def test_a_close_is_never_limited_above_the_spreads_width(market, ib_log):
    """Both legs quoted deep in the money and wide (the short 9.70/10.50, the long
    4.80/5.40): the natural debit 5.70 is more than the 5-wide spread can ever be worth, so
    the closing BAG's limit is the width, 5.00, as the simulated broker's limit and fill
    (quote_limits) are capped: a paper run and its backtest stay order for order alike."""
    history, live, chain = market
    frame = chain.chain(live[0][0]).copy()
    short, long = sp.resolve_legs(frame, REQUEST, float(frame["underlying"].iloc[0]))
    for leg, (bid, ask) in ((short, (9.70, 10.50)), (long, (4.80, 5.40))):
        row = frame["symbol"] == leg.symbol
        frame.loc[row, ["bid", "ask", "mid"]] = bid, ask, (bid + ask) / 2
    with chain_tws(history, frame) as tws:
        actions = {0: open_then_close, 1: close_first}
        with PaperRun(tws, history, live, strategy="scripted", actions=actions) as run:
            run.push()
            run.wait(lambda: "Completed" in run.statuses(), what="open filled")
            run.push()
            close = tws.placed[1]
            run.wait(lambda: run.statuses().count("Completed") == 2, what="close filled")
            run.finish()
    assert tws.placed[0].limit == pytest.approx(9.70 - 5.40)  # opened at the natural 4.30
    assert (close.action, close.limit) == ("BUY", pytest.approx(5.00))
    assert run.broker.closed_spreads()[0].exit_debit == pytest.approx(5.00)
