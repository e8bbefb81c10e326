"""Expiry settlement and P&L bookkeeping on a hand-made price path.

The underlying sits at 100 until the expiry date and then closes where each case needs it
(above the short put, below the long put, between the strikes), so the settlement is
known in advance: intrinsic value from that close, no exit commission.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from spread_helpers import START_CASH, close_first, flat_bars, leg_quote, open_spread, run

from brokers.spreads import SpreadRequest
from feeds.chain import OptionChain

COMM = 0.65
REQUEST = SpreadRequest("SPY", "put_credit", otm_pct=0.05, width=5.0, dte_min=10, dte_max=20,
                        contracts=3)


def window_expiry(bars: pd.DataFrame, dte_min: int, dte_max: int) -> pd.Timestamp:
    """The expiry the rule must pick on the first bar (nearest the window's middle)."""
    frame = OptionChain("SPY", bars).chain(bars.index[0])
    dtes = np.array(sorted(frame["dte"].unique()))
    inside = dtes[(dtes >= dte_min) & (dtes <= dte_max)]
    dte = inside[np.argmin(np.abs(inside - 0.5 * (dte_min + dte_max)))]
    return pd.Timestamp(frame.loc[frame["dte"] == dte, "expiry"].iloc[0])


def path_to_expiry(final_close: float, n: int = 30, **kw):
    bars = flat_bars("2021-02-01", n)
    expiry = window_expiry(bars, REQUEST.dte_min, REQUEST.dte_max)
    bars = flat_bars("2021-02-01", n, jumps={expiry: final_close})
    return bars, OptionChain("SPY", bars), expiry


@pytest.mark.parametrize("final_close", [101.0, 85.0, 92.5])
def test_expiry_settles_at_intrinsic(final_close):
    bars, chain, expiry = path_to_expiry(final_close)
    assert expiry in bars.index and expiry < bars.index[-1]
    strat = run(bars, {0: open_spread(REQUEST)}, chains={"SPY": chain})
    (position,) = strat.broker.closed_spreads()
    assert (position.short.strike, position.long.strike) == (95.0, 90.0)
    day1 = bars.index[1]
    credit = (leg_quote(chain, day1, position.short)["bid"]
              - leg_quote(chain, day1, position.long)["ask"])
    owed = min(max(95.0 - final_close, 0.0), 5.0)  # short put intrinsic - long put intrinsic
    commission = COMM * 3 * 2  # entry only: nothing is charged at expiry
    realized = (credit - owed) * 100 * 3 - commission

    assert position.exit_reason == "expiry" and position.exit_date == expiry.date()
    assert position.exit_debit == pytest.approx(owed)
    assert position.realized_pnl == pytest.approx(realized)
    assert position.commission == pytest.approx(commission)
    if final_close < 90.0:  # fully in the money: the most a spread can lose
        assert -position.realized_pnl == pytest.approx(position.max_loss + commission)
        assert position.max_loss == pytest.approx((5.0 - credit) * 100 * 3)
    settled = next(r for r in strat.rows if r["date"] == expiry)
    assert settled["spreads"] == [] and settled["reserved"] == 0.0
    assert settled["value"] == pytest.approx(START_CASH + realized)
    assert strat.broker.getvalue() == pytest.approx(START_CASH + realized)
    assert strat.broker.getcash() == pytest.approx(START_CASH + realized)


def test_value_tracks_cash_and_marks_until_expiry():
    bars, chain, expiry = path_to_expiry(92.5)
    strat = run(bars, {0: open_spread(REQUEST)}, chains={"SPY": chain})
    for rec in strat.rows:
        marks = sum((leg_quote(chain, rec["date"], s)["mid"] - leg_quote(chain, rec["date"], lg)
                     ["mid"]) * 100 * n for _, s, lg, n, _ in rec["spreads"])
        assert rec["value"] == pytest.approx(rec["cash"] + rec["reserved"] - marks, abs=1e-6)
        assert bool(rec["spreads"]) == (bars.index[1] <= rec["date"] < expiry)


def test_close_pending_on_expiry_day_is_rejected_after_settlement():
    bars, chain, expiry = path_to_expiry(101.0)
    before = int(np.flatnonzero(bars.index == expiry)[0]) - 1
    strat = run(bars, {0: open_spread(REQUEST), before: close_first("late")},
                chains={"SPY": chain})
    close = strat.orders[1]
    assert strat.statuses(close.ref) == ["Submitted", "Accepted", "Rejected"]
    assert "settled at expiry" in strat.last_note(close.ref)["info"]["reason"]
    (position,) = strat.broker.closed_spreads()
    assert position.exit_reason == "expiry" and position.tag == "expiry"


def test_realized_pnl_sums_to_value_change():
    """Two spreads: one bought back by the strategy, one settled at expiry."""
    bars, chain, expiry = path_to_expiry(93.0, n=35)
    calls = SpreadRequest("SPY", "call_credit", otm_pct=0.03, width=2.5, dte_min=20,
                          dte_max=40, contracts=2)
    actions = {0: open_spread(REQUEST), 1: open_spread(calls),
               6: lambda s: s.broker.close_spread(s, 2, "profit_take")}
    strat = run(bars, actions, chains={"SPY": chain})
    closed = {p.id: p for p in strat.broker.closed_spreads()}
    assert sorted(closed) == [1, 2] and not strat.broker.open_spreads()
    call = closed[2]
    assert call.short.right == "C" and call.long.strike - call.short.strike == 2.5
    entry, exit_day = bars.index[2], bars.index[7]
    credit = (leg_quote(chain, entry, call.short)["bid"]
              - leg_quote(chain, entry, call.long)["ask"])
    debit = (leg_quote(chain, exit_day, call.short)["ask"]
             - leg_quote(chain, exit_day, call.long)["bid"])
    assert call.realized_pnl == pytest.approx((credit - debit) * 100 * 2 - 4 * COMM * 2)
    assert closed[1].exit_reason == "expiry" and closed[1].exit_debit == pytest.approx(2.0)
    total = sum(p.realized_pnl for p in closed.values())
    assert strat.broker.getvalue() - START_CASH == pytest.approx(total)
    assert strat.rows[-1]["value"] - START_CASH == pytest.approx(total)


def test_margin_is_reserved_until_close():
    bars, chain, expiry = path_to_expiry(101.0)
    strat = run(bars, {0: open_spread(REQUEST)}, chains={"SPY": chain},
                cash=1_600.0)  # enough for one spread of 3 contracts, not for a second
    position = strat.broker.closed_spreads()[0]
    margin = (5.0 - position.entry_credit) * 100 * 3
    assert strat.rows[1]["reserved"] == pytest.approx(margin)
    assert strat.rows[1]["cash"] == pytest.approx(
        1_600.0 + position.entry_credit * 300 - COMM * 6 - margin)
    second = run(bars, {0: open_spread(REQUEST), 2: open_spread(REQUEST)},
                 chains={"SPY": chain}, cash=1_600.0)
    assert second.statuses(second.orders[1].ref) == ["Submitted", "Margin"]
    assert len(second.broker.closed_spreads()) == 1
