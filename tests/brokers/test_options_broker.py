"""The simulated options broker on the sample market: fills, marks, closes, limits, shares.

Every expected number is computed here from the chain's quoted bid/ask/mid of the bar the
broker should have used, never copied from a run.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pytest
from spread_helpers import START_CASH, close_first, leg_quote, open_spread, run

from brokers.options_broker import OptionsBroker
from brokers.spreads import SpreadBroker, SpreadRequest

COMM = 0.65


@pytest.fixture(scope="module")
def spy(sample_market):
    bars = sample_market.bars("SPY", "2021-01-04", "2021-03-31")
    return bars, sample_market.option_chain("SPY")


def expected_legs(chain, day, target_delta=0.30, width=5.0, dte_min=30, dte_max=45):
    """The short put of the rule (expiry nearest mid-window, |delta| nearest target)."""
    frame = chain.chain(day)
    puts = frame[frame["right"] == "P"]
    window = puts[(puts["dte"] >= dte_min) & (puts["dte"] <= dte_max)]
    dtes = np.array(sorted(window["dte"].unique()))
    dte = dtes[np.argmin(np.abs(dtes - 0.5 * (dte_min + dte_max)))]
    chosen = window[window["dte"] == dte]
    short = chosen.iloc[np.argmin(np.abs(chosen["delta"].abs() - target_delta))]
    long = chosen[np.isclose(chosen["strike"], short["strike"] - width)].iloc[0]
    return short, long


def test_put_spread_fills_on_next_bar_at_natural_price(spy):
    bars, chain = spy
    request = SpreadRequest("SPY", "put_credit", target_delta=0.30, width=5.0, contracts=2)
    strat = run(bars, {0: open_spread(request)}, chains={"SPY": chain})
    day0, day1 = bars.index[0], bars.index[1]
    short0, long0 = expected_legs(chain, day0)
    order = strat.orders[0]
    done = strat.last_note(order.ref)
    position = strat.broker.get_spread(done["info"]["position_id"])  # expires later in the run
    assert position.short.symbol == short0["symbol"] and position.short.ratio == -1
    assert position.long.symbol == long0["symbol"] and position.long.ratio == 1
    # day 1 lists a coarser strike grid: unlisted legs are priced by the chain's quote()
    short1, long1 = leg_quote(chain, day1, position.short), leg_quote(chain, day1, position.long)
    credit = short1["bid"] - long1["ask"]
    commission = COMM * 2 * 2
    margin = (5.0 - credit) * 100 * 2

    assert strat.statuses(order.ref) == ["Submitted", "Accepted", "Completed"]
    assert done["bar"] == 1 and done["order"].executed.dt == bt.date2num(day1)
    assert done["order"].executed.price == pytest.approx(credit)
    assert done["order"].executed.size == 0  # not booked as a share trade
    assert strat.rows[0]["cash"] == START_CASH  # nothing filled on the request bar
    assert strat.rows[1]["cash"] == pytest.approx(START_CASH + credit * 200 - commission - margin)
    assert strat.rows[1]["reserved"] == pytest.approx(margin)

    assert position.short.strike - position.long.strike == 5.0
    assert position.entry_date == day1.date()
    assert position.entry_credit == pytest.approx(credit)
    assert position.commission == pytest.approx(commission)
    assert position.max_loss == pytest.approx((5.0 - credit) * 100 * 2)
    assert isinstance(strat.broker, SpreadBroker)


def test_value_is_cash_margin_shares_minus_marks_at_every_bar(spy):
    bars, chain = spy
    request = SpreadRequest("SPY", width=10.0, contracts=3, dte_min=20, dte_max=30)
    actions = {0: open_spread(request), 2: lambda s: s.buy(size=5)}
    strat = run(bars, actions, chains={"SPY": chain})
    held = 0
    for rec in strat.rows:
        marks = 0.0
        for _, short, long, contracts, mark in rec["spreads"]:
            expected_mark = (leg_quote(chain, rec["date"], short)["mid"]
                             - leg_quote(chain, rec["date"], long)["mid"])
            assert mark == pytest.approx(expected_mark)
            marks += expected_mark * 100 * contracts
        held += len(rec["spreads"])
        expected = rec["cash"] + rec["reserved"] + rec["stock"] - marks
        assert rec["value"] == pytest.approx(expected, abs=1e-6)
    assert held > 10  # the spread was really open over many bars
    assert any(rec["stock"] for rec in strat.rows)


def test_profit_take_close_books_realized_pnl(spy):
    bars, chain = spy
    request = SpreadRequest("SPY", contracts=2)
    actions = {0: open_spread(request), 10: close_first("profit_take")}
    strat = run(bars, actions, chains={"SPY": chain}, analyzers=True)
    (position,) = strat.broker.closed_spreads()
    entry, exit_day = bars.index[1], bars.index[11]
    credit = (leg_quote(chain, entry, position.short)["bid"]
              - leg_quote(chain, entry, position.long)["ask"])
    debit = (leg_quote(chain, exit_day, position.short)["ask"]
             - leg_quote(chain, exit_day, position.long)["bid"])
    realized = (credit - debit) * 100 * 2 - 4 * COMM * 2
    close_order = strat.orders[1]
    assert strat.statuses(close_order.ref)[-1] == "Completed"
    assert strat.last_note(close_order.ref)["info"]["position_id"] == position.id
    assert position.exit_reason == "close" and position.tag == "profit_take"
    assert position.exit_date == exit_day.date()
    assert position.exit_debit == pytest.approx(debit)
    assert position.realized_pnl == pytest.approx(realized)
    assert strat.broker.reserved_margin() == pytest.approx(0.0)
    assert strat.broker.getvalue() == pytest.approx(START_CASH + realized)
    assert strat.broker.getcash() == pytest.approx(START_CASH + realized)
    # analyzers read the same value line
    growth = np.prod([1 + r for r in strat.analyzers.timereturn.get_analysis().values()])
    assert growth == pytest.approx((START_CASH + realized) / START_CASH)
    returns = strat.analyzers.pyfolio.get_pf_items()[0]
    assert np.prod(1 + returns.to_numpy()) == pytest.approx(growth)
    assert returns.iloc[2] != 0.0  # the open spread's mark moved the daily return
    assert not strat.broker.open_spreads()


def test_mid_fill_rule_pays_slippage(spy):
    bars, chain = spy
    strat = run(bars, {0: open_spread(SpreadRequest("SPY"))}, chains={"SPY": chain},
                fill="mid", slippage=0.03, commission_per_contract=1.0,
                min_commission_per_order=5.0)
    position = strat.broker.get_spread(1)
    day1 = bars.index[1]
    credit = (leg_quote(chain, day1, position.short)["mid"]
              - leg_quote(chain, day1, position.long)["mid"] - 0.03)
    assert position.entry_credit == pytest.approx(credit)
    assert position.commission == pytest.approx(5.0)  # 1.0 x 1 x 2 legs < the minimum


def test_limit_above_market_expires_unfilled(spy):
    bars, chain = spy
    strat = run(bars, {0: open_spread(SpreadRequest("SPY", limit_credit=4.50))},
                chains={"SPY": chain})
    order = strat.orders[0]
    assert strat.statuses(order.ref) == ["Submitted", "Accepted", "Expired"]
    assert "limit credit 4.50 not reached" in strat.last_note(order.ref)["info"]["reason"]
    assert not strat.broker.open_spreads() and not strat.broker.closed_spreads()
    assert [r["cash"] for r in strat.rows] == [START_CASH] * len(bars)


def test_reachable_limit_fills(spy):
    bars, chain = spy
    strat = run(bars, {0: open_spread(SpreadRequest("SPY", limit_credit=0.05))},
                chains={"SPY": chain})
    assert strat.statuses(strat.orders[0].ref)[-1] == "Completed"
    assert strat.broker.get_spread(1).entry_credit >= 0.05


@pytest.mark.parametrize("allowance, fills", [(0.50, True), (-0.50, False)])
def test_mid_allowance_sets_the_limit_from_request_bar_mids(spy, allowance, fills):
    bars, chain = spy
    request = SpreadRequest("SPY", mid_allowance=allowance)
    strat = run(bars.iloc[:4], {0: open_spread(request)}, chains={"SPY": chain}, fill="mid")
    note = strat.last_note(strat.orders[0].ref)
    short, long = note["info"]["short"], note["info"]["long"]
    day0 = bars.index[0]
    limit = leg_quote(chain, day0, short)["mid"] - leg_quote(chain, day0, long)["mid"] - allowance
    assert note["info"]["limit"] == pytest.approx(limit)
    assert note["status"] == ("Completed" if fills else "Expired")
    if not fills:
        assert f"limit credit {limit:.2f} not reached" in note["info"]["reason"]


def test_cancel_before_fill(spy):
    bars, chain = spy

    def place_and_cancel(s):
        s.cancel(s.broker.open_credit_spread(s, s.data, SpreadRequest("SPY")))

    strat = run(bars.iloc[:5], {0: place_and_cancel}, chains={"SPY": chain})
    assert [n["status"] for n in strat.notes] == ["Submitted", "Accepted", "Canceled"]
    assert not strat.broker.open_spreads()


def _rejection(bars, chain, request, cash=START_CASH, chains=None):
    strat = run(bars, {0: open_spread(request)}, chains=chains or {"SPY": chain}, cash=cash)
    order = strat.orders[0]
    assert not strat.broker.open_spreads()
    assert [r["cash"] for r in strat.rows] == [cash] * len(bars)
    return strat.statuses(order.ref), strat.last_note(order.ref)["info"]["reason"]


@pytest.mark.parametrize("request_kw, status, reason", [
    ({"underlying": "QQQ"}, "Rejected", "no option chain for underlying 'QQQ'"),
    ({"dte_min": 400, "dte_max": 500}, "Rejected", "no expiry with 400-500 days"),
    ({"width": 2.0}, "Rejected", "below the strike grid step 2.5"),
    ({"width": 3.5}, "Rejected", "is not listed"),
    ({"contracts": 0}, "Rejected", "contracts must be a positive whole number"),
    ({"kind": "iron_condor"}, "Rejected", "kind 'iron_condor'"),
])
def test_rejections_carry_reasons(spy, request_kw, status, reason):
    bars, chain = spy
    request = SpreadRequest(**{"underlying": "SPY", **request_kw})
    statuses, text = _rejection(bars.iloc[:4], chain, request)
    assert statuses == ["Submitted", status]
    assert reason in text


def test_rejects_date_without_chain(spy):
    bars, chain = spy
    holey = type(chain)("SPY", chain.bars.drop(bars.index[0]))
    statuses, text = _rejection(bars.iloc[:4], chain, SpreadRequest("SPY"),
                                chains={"SPY": holey})
    assert statuses == ["Submitted", "Rejected"]
    assert f"no option chain for SPY on {bars.index[0]:%Y-%m-%d}" in text


def test_rejects_non_positive_credit(spy):
    bars, chain = spy
    day0 = bars.index[0]
    frame = chain.chain(day0)
    # the far call wing (the skew prices the put wing well above zero): the two highest
    # strikes of the nearest expiry
    calls = frame[(frame["right"] == "C") & (frame["dte"] == frame["dte"].min())]
    far, farther = calls.sort_values("strike").iloc[-2], calls.sort_values("strike").iloc[-1]
    assert far["bid"] - farther["ask"] <= 0  # the market pays nothing for this spread
    spot = float(frame["underlying"].iloc[0])
    request = SpreadRequest("SPY", kind="call_credit", otm_pct=far["strike"] / spot - 1,
                            dte_min=1, dte_max=int(far["dte"]),
                            width=farther["strike"] - far["strike"])
    statuses, text = _rejection(bars.iloc[:4], chain, request)
    assert statuses == ["Submitted", "Rejected"]
    assert f"non-positive credit {far['bid'] - farther['ask']:.2f}" in text
    assert far["symbol"] in text


def test_insufficient_buying_power_is_margin(spy):
    bars, chain = spy
    statuses, text = _rejection(bars.iloc[:4], chain, SpreadRequest("SPY", contracts=5),
                                cash=1_000.0)
    assert statuses == ["Submitted", "Margin"]
    assert "insufficient buying power" in text


def test_close_of_unknown_spread_is_rejected(spy):
    bars, chain = spy
    strat = run(bars.iloc[:3], {0: lambda s: s.broker.close_spread(s, 99)},
                chains={"SPY": chain})
    assert strat.statuses(strat.orders[0].ref) == ["Submitted", "Rejected"]
    assert "unknown" in strat.last_note(strat.orders[0].ref)["info"]["reason"]


def test_shares_trade_as_with_backbroker(spy):
    bars, chain = spy
    actions = {2: lambda s: s.buy(size=10), 20: lambda s: s.sell(size=10)}
    ours = run(bars, actions, chains={"SPY": chain})
    plain = run(bars, actions, broker=bt.brokers.BackBroker())
    buy = [n for n in ours.notes if n["status"] == "Completed"][0]["order"]
    assert buy.executed.size == 10 and buy.executed.price == bars["open"].iloc[3]
    for a, b in zip(ours.rows, plain.rows, strict=True):
        assert a["cash"] == pytest.approx(b["cash"]) and a["value"] == pytest.approx(b["value"])
    assert ours.rows[10]["value"] != START_CASH  # the shares really moved the value


def test_bad_fill_rule_fails_loudly():
    with pytest.raises(ValueError, match="fill must be one of"):
        OptionsBroker(chains={}, fill="best")

