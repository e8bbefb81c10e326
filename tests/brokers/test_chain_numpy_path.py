"""The chain's numpy path (``listed``, ``strikes_and_deltas``, ``quote_arrays``) and the
broker's leg choice through it give exactly what the whole pandas chain gives.

The broker and the labels resolve legs and mark spreads through the numpy path for speed
(issue 16); the pandas chain stays the reference that users and reports read. These tests
hold them equal across calm and volatile days, both sides, delta and OTM targets, widths
that fit and widths that do not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brokers import spread_pricing as sp
from brokers.spreads import SpreadRequest

DAYS = ("2009-03-09", "2015-01-02", "2015-06-15", "2019-03-25", "2020-03-16", "2024-11-05")


def _request(right: str, **kwargs) -> SpreadRequest:
    base = {"underlying": "SPY", "kind": "put" if right == "P" else "call", "contracts": 1,
            "width": 5.0, "target_delta": 0.30, "dte_min": 30, "dte_max": 45}
    base.update(kwargs)
    return SpreadRequest(**base)


@pytest.fixture(scope="module")
def chain(sample_market):
    return sample_market.option_chain("SPY")


def _days(chain) -> list[pd.Timestamp]:
    index = chain.bars.index
    return [index[index.searchsorted(pd.Timestamp(d))] for d in DAYS]


def test_listed_expiries_and_dtes_match_the_chain_frame(chain):
    for day in _days(chain):
        frame = chain.chain(day)
        expiries, dtes = chain.listed(day)
        by_expiry = frame.groupby("expiry")["dte"].first()
        assert list(pd.DatetimeIndex(expiries)) == list(by_expiry.index)
        assert dtes.tolist() == by_expiry.tolist()


@pytest.mark.parametrize("right", ["P", "C"])
def test_strikes_and_deltas_match_the_chain_frame(chain, right):
    for day in _days(chain):
        frame = chain.chain(day)
        expiries, _ = chain.listed(day)
        for expiry in expiries[::3]:
            rows = frame[(frame["expiry"] == pd.Timestamp(expiry)) & (frame["right"] == right)]
            strikes, deltas = chain.strikes_and_deltas(day, expiry, right)
            rows = rows.sort_values("strike")
            np.testing.assert_array_equal(strikes, rows["strike"].to_numpy())
            np.testing.assert_allclose(deltas, rows["delta"].to_numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kwargs", [
    {}, {"target_delta": 0.16}, {"target_delta": 0.45, "width": 10.0},
    {"otm_pct": 0.05, "target_delta": None}, {"dte_min": 7, "dte_max": 14},
    {"dte_min": 60, "dte_max": 90, "width": 15.0},
], ids=["default", "delta16", "delta45-w10", "otm5pct", "weekly", "far-w15"])
@pytest.mark.parametrize("right", ["P", "C"])
def test_resolve_on_chain_picks_the_legs_the_frame_picks(chain, right, kwargs):
    request = _request(right, **kwargs)
    for day in _days(chain):
        frame = chain.chain(day)
        expected = sp.resolve_legs(frame, request, float(frame["underlying"].iloc[0]))
        assert sp.resolve_on_chain(chain, day, request) == expected


@pytest.mark.parametrize("kwargs, reason", [
    ({"width": 1.0}, "below the strike grid step"),
    ({"dte_min": 400, "dte_max": 500}, "no expiry with 400-500 days"),
])
def test_resolve_on_chain_refuses_what_the_frame_refuses(chain, kwargs, reason):
    day = _days(chain)[3]
    request = _request("P", **kwargs)
    with pytest.raises(sp.SpreadRejected, match=reason) as fast:
        sp.resolve_on_chain(chain, day, request)
    frame = chain.chain(day)
    with pytest.raises(sp.SpreadRejected) as slow:
        sp.resolve_legs(frame, request, float(frame["underlying"].iloc[0]))
    assert fast.value.reason == slow.value.reason


def test_quote_arrays_equal_quote_rows_on_and_off_the_grid(chain):
    for day in _days(chain):
        spot = chain.spot(day)
        expiries, _ = chain.listed(day)
        expiry = expiries[len(expiries) // 2]
        strikes = np.round(spot * np.array([0.8, 0.93, 1.0, 1.07, 1.3]), 2)  # off grid too
        for right in ("P", "C"):
            quote = chain.quote_arrays(day, [expiry] * len(strikes), strikes,
                                       [right == "C"] * len(strikes), with_delta=True)
            for i, strike in enumerate(strikes):
                row = chain.quote(day, expiry, strike, right)
                for field in ("bid", "ask", "mid", "iv", "delta"):
                    assert quote[field][i] == pytest.approx(float(row[field]), abs=1e-12)


def test_spreads_quotes_match_one_leg_at_a_time(chain):
    day = _days(chain)[2]
    request = _request("P")
    short, long = sp.resolve_on_chain(chain, day, request)
    sq, lq = sp.spread_quotes(chain, day, short, long)
    assert sq == sp.leg_quote(chain, day, short)
    assert lq == sp.leg_quote(chain, day, long)


def test_life_table_equals_quote_arrays_for_both_legs_and_every_day(chain):
    start = pd.Timestamp("2020-02-14")
    expiry = pd.Timestamp("2020-03-20")
    strikes, calls = [300.0, 345.0, 295.0], [False, True, False]
    first, table = chain.life_table(start.date(), expiry.date(), strikes, calls)
    index = chain.bars.index
    days = index[(index >= start) & (index <= expiry)]
    assert first == index.searchsorted(start) and table["mid"].shape == (3, len(days))
    for i, day in enumerate(days):
        one = chain.quote_arrays(day, [expiry] * 3, strikes, calls)
        for field in ("bid", "ask", "mid"):
            assert table[field][:, i].tolist() == one[field].tolist()


def test_deltas_at_equal_quote_arrays_deltas_on_each_date(chain):
    days = _days(chain)
    expiries = [chain.listed(d)[0][3] for d in days]
    strikes = [float(chain.spot(d)) // 5 * 5 for d in days]
    calls = [i % 2 == 0 for i in range(len(days))]
    deltas = chain.deltas_at([d.date() for d in days], expiries, strikes, calls)
    for i, day in enumerate(days):
        one = chain.quote_arrays(day, [expiries[i]], [strikes[i]], [calls[i]], with_delta=True)
        assert deltas[i] == one["delta"][0]
    with pytest.raises(KeyError, match="no bar for SPY"):
        chain.deltas_at([pd.Timestamp("1990-01-02").date()], expiries[:1], strikes[:1], [True])


def test_has_date_and_session_row_agree_with_the_bars_index(chain):
    index = chain.bars.index
    day = index[100]
    weekend = pd.Timestamp("2020-03-14")  # a Saturday
    assert chain.has_date(day.date()) and chain.has_date(day) and chain.has_date(str(day.date()))
    assert chain.session_row(day.date()) == 100
    assert not chain.has_date(weekend.date()) and not chain.has_date(weekend)
    assert chain.session_row(weekend.date()) is None


def test_listed_expiries_move_each_holiday_friday_like_expiry_for_friday():
    """``listed_expiries`` moves every kept Friday at once; it must list exactly the
    Fridays (or, on a holiday, the session before) that ``expiry_for_friday`` gives one
    by one, inside the calendar's span and outside it, Good Fridays included."""
    from feeds.calendar import expiry_for_friday, listed_expiries

    for day in pd.date_range("1987-06-01", "2032-06-01", freq="13D"):
        listed = listed_expiries.__wrapped__(day)
        today = np.datetime64(day.date(), "D")
        first = today + ((np.datetime64("1970-01-02") - today).astype(int) % 7 or 7)
        fridays = first + 7 * np.arange(0, 29)
        fridays = fridays[fridays <= today + 200]
        day_of_month = (fridays - fridays.astype("datetime64[M]")).astype(int) + 1
        kept = fridays[(fridays <= today + 63) | ((day_of_month >= 15) & (day_of_month <= 21))]
        expected = sorted({expiry_for_friday(f) for f in kept})
        assert list(listed) == [e for e in expected if e > today], day
    good_friday = pd.Timestamp("2024-03-29")
    assert np.datetime64("2024-03-28") in listed_expiries(good_friday - pd.Timedelta(days=10))
