"""Option chains priced by the model in feeds.chain: parity, bounds, quotes, greeks, expiries,
volume allocation and determinism, on the sample market's SPY and the bundled SP500."""

from __future__ import annotations

import calendar
import datetime as dt
import math

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest

from feeds.bundled import BundledMarket
from feeds.chain import CHAIN_COLUMNS
from feeds.csv_source import CsvMarket
from feeds.sample_market import SampleMarket
from pricing.black_scholes import black_scholes_delta, black_scholes_greeks
from pricing.contracts import occ_symbol, strike_step

# 2019-03-25: the listed Fridays include Good Friday 2019-04-19 (also April's third Friday);
# 2015-01-02 and 2015-06-15 are far apart in implied volatility in the seed-42 market.
SPY_DATES = ("2019-03-25", "2015-01-02", "2015-06-15")
SP500_DATE = "2015-06-15"
CASES = [("SPY", d) for d in SPY_DATES] + [("SP500", SP500_DATE)]


@pytest.fixture(scope="module")
def xnys_sessions() -> pd.DatetimeIndex:
    cal = xcals.get_calendar("XNYS", start="2005-01-03", end="2026-12-31")
    return pd.DatetimeIndex(cal.sessions).tz_localize(None)


@pytest.fixture(scope="module")
def sources(sample_market, bundled_market):
    return {"SPY": sample_market, "SP500": bundled_market}


@pytest.fixture(scope="module", params=CASES, ids=[f"{s}-{d}" for s, d in CASES])
def case(request, sources):
    """(chain object, bar of the day, date, chain frame) for one symbol and date."""
    symbol, date = request.param
    source = sources[symbol]
    option_chain = source.option_chain(symbol)
    day = pd.Timestamp(date)
    bar = source.bars(symbol).loc[day]
    return option_chain, bar, day, option_chain.chain(day)


def _pairs(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Calls and puts aligned on (expiry, strike)."""
    calls = frame[frame["right"] == "C"].set_index(["expiry", "strike"]).sort_index()
    puts = frame[frame["right"] == "P"].set_index(["expiry", "strike"]).sort_index()
    assert calls.index.equals(puts.index)
    return calls, puts


def _years(dte: np.ndarray) -> np.ndarray:
    return np.maximum(dte.astype(float), 0.5) / 365.0


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _bs(spot, strike, years, rate, vol, right) -> float:
    """Black-Scholes by hand (math.erf), independent of pricing.black_scholes."""
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    if right == "C":
        return spot * _norm_cdf(d1) - strike * math.exp(-rate * years) * _norm_cdf(d2)
    return strike * math.exp(-rate * years) * _norm_cdf(-d2) - spot * _norm_cdf(-d1)


# --- structure ---------------------------------------------------------------------------

def test_chain_columns_and_contract_fields(case):
    _, bar, day, frame = case
    assert tuple(frame.columns) == CHAIN_COLUMNS
    assert len(frame) > 100
    assert (frame["underlying"] == bar["close"]).all()
    assert set(frame["right"]) == {"C", "P"}
    expected_dte = (frame["expiry"] - day).dt.days
    assert (frame["dte"] == expected_dte).all()
    # OCC symbols match each row's own fields and are unique
    for row in frame.sample(20, random_state=0).itertuples():
        assert row.symbol == occ_symbol(row.symbol[:-15], row.expiry, row.right, row.strike)
        assert row.symbol.endswith(f"{row.right}{int(round(row.strike * 1000)):08d}")
    assert frame["symbol"].is_unique


def test_strikes_on_the_grid_and_around_spot(case):
    _, bar, _, frame = case
    spot = bar["close"]
    step = strike_step(spot)
    assert step >= spot / 200
    ratio = frame["strike"] / step
    np.testing.assert_allclose(ratio, np.round(ratio), atol=1e-9)
    for _, group in frame.groupby("expiry"):
        strikes = group["strike"]
        assert strikes.min() < spot < strikes.max()


def test_strike_step_is_smallest_nice_step():
    assert strike_step(100.0) == 0.5
    assert strike_step(101.0) == 1.0  # 101 / 200 > 0.5
    assert strike_step(450.0) == 2.5
    assert strike_step(2100.0) == 25.0


# --- pricing -----------------------------------------------------------------------------

def test_put_call_parity_on_mids(case):
    _, bar, _, frame = case
    calls, puts = _pairs(frame)
    spot, rate = bar["close"], bar["risk_free_rate"]
    strike = calls.index.get_level_values("strike").to_numpy()
    years = _years(calls["dte"].to_numpy())
    lhs = calls["mid"].to_numpy() - puts["mid"].to_numpy()
    rhs = spot - strike * np.exp(-rate * years)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-8, atol=1e-8 * spot)
    # same volatility on both sides of a pair
    np.testing.assert_allclose(calls["iv"].to_numpy(), puts["iv"].to_numpy(), rtol=1e-12)


def test_mids_within_no_arbitrage_bounds(case):
    _, bar, _, frame = case
    calls, puts = _pairs(frame)
    spot, rate = bar["close"], bar["risk_free_rate"]
    strike = calls.index.get_level_values("strike").to_numpy()
    pv_strike = strike * np.exp(-rate * _years(calls["dte"].to_numpy()))
    call, put = calls["mid"].to_numpy(), puts["mid"].to_numpy()
    tol = 1e-9 * spot
    assert (call >= np.maximum(0.0, spot - pv_strike) - tol).all()
    assert (call <= spot + tol).all()
    assert (put >= np.maximum(0.0, pv_strike - spot) - tol).all()
    assert (put <= pv_strike + tol).all()


def test_mids_monotone_in_strike(case):
    _, _, _, frame = case
    for (_, right), group in frame.groupby(["expiry", "right"]):
        mids = group.sort_values("strike")["mid"].to_numpy()
        steps = np.diff(mids)
        if right == "C":
            assert (steps <= 1e-12).all()
        else:
            assert (steps >= -1e-12).all()


def test_mid_is_black_scholes_at_row_iv(case):
    _, bar, _, frame = case
    spot, rate = bar["close"], bar["risk_free_rate"]
    sample = frame[frame["mid"] > 0.05].sample(40, random_state=1)
    for row in sample.itertuples():
        years = max(row.dte, 0.5) / 365.0
        expected = _bs(spot, row.strike, years, rate, row.iv, row.right)
        assert row.mid == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_atm_30_day_vol_is_bar_atm_iv(case):
    option_chain, bar, day, _ = case
    spot, rate = bar["close"], bar["risk_free_rate"]
    expiry = day + pd.Timedelta(days=30)
    forward = spot * math.exp(rate * 30 / 365)
    quote = option_chain.quote(day, expiry, forward, "C")
    assert quote["iv"] == pytest.approx(bar["atm_iv"], rel=1e-9)


def test_term_structure_reverts_to_long_run(case):
    option_chain, bar, day, _ = case
    spot, rate = bar["close"], bar["risk_free_rate"]

    def atm_vol(days: int) -> float:
        forward = spot * math.exp(rate * days / 365)
        return option_chain.quote(day, day + pd.Timedelta(days=days), forward, "C")["iv"]

    long_run = option_chain.long_run_vol(day)
    near, far = atm_vol(30), atm_vol(180)
    # the far vol sits between today's 30-day vol and the long-run level
    assert min(near, long_run) - 1e-12 <= far <= max(near, long_run) + 1e-12
    assert abs(far - long_run) < abs(near - long_run) or near == pytest.approx(long_run)


def test_bid_mid_ask_ordering(case):
    _, _, _, frame = case
    bid, mid, ask = (frame[c].to_numpy() for c in ("bid", "mid", "ask"))
    assert (bid >= 0).all()
    assert (bid <= mid + 1e-12).all()
    assert (mid <= ask + 1e-12).all()
    # half a spread either side of mid, the spread ($0.005 + 0.2 % of mid) x (iv / 18 %)^1.5
    # kept in [$0.005, $1.00], rounded outwards to the cent
    width = (0.005 + 0.002 * mid) * (frame["iv"].to_numpy() / 0.18) ** 1.5
    half = 0.5 * np.clip(width, 0.005, 1.00)
    assert (bid <= np.maximum(mid - half, 0.0) + 1e-9).all()
    assert (ask >= mid + half - 1e-9).all()
    assert (ask - (mid + half) < 0.01 + 1e-9).all()
    assert ((mid - half) - bid < 0.01 + 1e-9)[bid > 0].all()
    assert (bid[mid - half >= 0.01] > 0).all()
    quoted = bid > 0
    assert (ask[quoted] - bid[quoted] >= 0.01 - 1e-9).all()
    assert (ask - bid <= 1.02 + 1e-9).all()
    # quotes are whole cents
    np.testing.assert_allclose(bid * 100, np.round(bid * 100), atol=1e-6)
    np.testing.assert_allclose(ask * 100, np.round(ask * 100), atol=1e-6)


def _near_money_relative_spread(frame: pd.DataFrame, spot: float) -> float:
    near = frame[frame["dte"].between(21, 45) & (np.abs(np.log(frame["strike"] / spot)) < 0.03)]
    assert len(near) >= 10
    return float(((near["ask"] - near["bid"]) / near["mid"]).median())


def test_spreads_widen_with_volatility(sample_market, spy):
    year = spy.loc["2015", "atm_iv"]
    calm, stressed = year.idxmin(), year.idxmax()
    assert year[stressed] > 2 * year[calm]
    option_chain = sample_market.option_chain("SPY")
    calm_spread = _near_money_relative_spread(option_chain.chain(calm), spy.loc[calm, "close"])
    stressed_spread = _near_money_relative_spread(
        option_chain.chain(stressed), spy.loc[stressed, "close"])
    assert stressed_spread > 1.5 * calm_spread


# --- greeks ------------------------------------------------------------------------------

def test_greeks_signs_and_call_put_delta(case):
    _, bar, _, frame = case
    calls, puts = _pairs(frame)
    call_delta, put_delta = calls["delta"].to_numpy(), puts["delta"].to_numpy()
    # closed bounds everywhere (float64 saturates to exactly 0 or 1 many deviations away)
    assert ((call_delta >= 0) & (call_delta <= 1)).all()
    assert ((put_delta >= -1) & (put_delta <= 0)).all()
    # open bounds wherever the contract is within 7 standard deviations (|d1| < 7)
    spot, rate = bar["close"], bar["risk_free_rate"]
    strike = calls.index.get_level_values("strike").to_numpy()
    years = _years(calls["dte"].to_numpy())
    vol = calls["iv"].to_numpy()
    d1 = (np.log(spot / strike) + (rate + 0.5 * vol**2) * years) / (vol * np.sqrt(years))
    inner = np.abs(d1) < 7
    assert inner.mean() > 0.5
    assert ((call_delta[inner] > 0) & (call_delta[inner] < 1)).all()
    assert ((put_delta[inner] > -1) & (put_delta[inner] < 0)).all()
    np.testing.assert_allclose(call_delta - put_delta, 1.0, atol=1e-9)
    # same gamma and vega for call and put of a pair, and both positive
    assert (frame["gamma"] > 0).all()
    assert (frame["vega"] > 0).all()
    np.testing.assert_allclose(calls["gamma"], puts["gamma"], rtol=1e-12)
    np.testing.assert_allclose(calls["vega"], puts["vega"], rtol=1e-12)


def test_delta_matches_finite_difference(case):
    option_chain, bar, day, frame = case
    rows = frame[(frame["dte"] > 20) & (frame["dte"] < 60)].sample(6, random_state=2)
    spot = bar["close"]
    for row in rows.itertuples():
        years = max(row.dte, 0.5) / 365.0
        h = spot * 1e-4
        up = _bs(spot + h, row.strike, years, bar["risk_free_rate"], row.iv, row.right)
        down = _bs(spot - h, row.strike, years, bar["risk_free_rate"], row.iv, row.right)
        assert row.delta == pytest.approx((up - down) / (2 * h), abs=1e-5)


# --- expiries ----------------------------------------------------------------------------

def _third_friday(year: int, month: int) -> pd.Timestamp:
    fridays = [w[calendar.FRIDAY] for w in calendar.monthcalendar(year, month)
               if w[calendar.FRIDAY]]
    return pd.Timestamp(year, month, fridays[2])


def _listed_day(friday: pd.Timestamp, sessions: pd.DatetimeIndex) -> pd.Timestamp:
    """The expiry for a Friday: itself, or the session before it when it is a holiday."""
    return sessions[sessions <= friday][-1]


def test_expiries_are_fridays_or_holiday_thursdays(case, xnys_sessions):
    _, _, day, frame = case
    expiries = pd.DatetimeIndex(frame["expiry"].unique())
    assert (expiries > day).all()
    assert expiries.isin(xnys_sessions).all()
    for expiry in expiries:
        if expiry.day_of_week == 4:
            continue
        assert expiry.day_of_week == 3, expiry
        assert expiry + pd.Timedelta(days=1) not in xnys_sessions, expiry


def test_monthly_and_weekly_expiries_listed(case, xnys_sessions):
    _, _, day, frame = case
    expiries = set(pd.DatetimeIndex(frame["expiry"].unique()))
    monthly = []
    for months_ahead in range(0, 8):
        period = (day.to_period("M") + months_ahead)
        third = _third_friday(period.year, period.month)
        if day < third and (third - day).days <= 200:
            monthly.append(_listed_day(third, xnys_sessions))
    assert len(monthly) >= 6
    assert set(monthly) <= expiries
    weekly = [_listed_day(f, xnys_sessions)
              for f in pd.date_range(day + pd.Timedelta(days=1), day + pd.Timedelta(days=63),
                                     freq="W-FRI")]
    assert set(weekly) <= expiries
    # nothing else is listed: every expiry is one of those Fridays
    assert expiries == set(monthly) | set(weekly)


def test_good_friday_expiry_moves_to_thursday(sample_market):
    frame = sample_market.option_chain("SPY").chain("2019-03-25")
    expiries = set(pd.DatetimeIndex(frame["expiry"].unique()))
    assert pd.Timestamp("2019-04-18") in expiries  # Thursday before Good Friday
    assert pd.Timestamp("2019-04-19") not in expiries


def test_bundled_chain_before_2000_has_near_expiries(bundled_market):
    day = pd.Timestamp("1999-06-15")
    frame = bundled_market.option_chain("SP500").chain(day)
    expiries = pd.DatetimeIndex(frame["expiry"].unique())
    assert (expiries > day).all()
    assert (frame["dte"] <= 200).all()
    assert pd.Timestamp("1999-06-18") in expiries  # June 1999's third Friday


def test_chain_near_calendar_end_lists_next_year_monthlies(tmp_path):
    days = pd.bdate_range("2026-06-01", "2026-10-30")
    closes = 100 * np.exp(0.001 * np.arange(len(days)))
    lines = ["Date,Open,High,Low,Close,Volume"] + [
        f"{d:%Y-%m-%d},{c},{c * 1.01},{c * 0.99},{c},1000000"
        for d, c in zip(days, closes, strict=True)]
    (tmp_path / "abc.csv").write_text("\n".join(lines) + "\n")
    frame = CsvMarket(tmp_path).option_chain("ABC").chain("2026-10-30")
    expiries = set(pd.DatetimeIndex(frame["expiry"].unique()))
    # third Fridays of 2027 within 200 days (to 2027-05-18), from the stdlib calendar
    wanted = {_third_friday(2027, month) for month in range(1, 5)}
    assert all(d.year == 2027 and d.day_of_week == 4 for d in wanted)
    assert wanted <= expiries


# --- volume and open interest -------------------------------------------------------------

def test_volume_and_open_interest_sum_to_bar_totals(sample_market, spy):
    option_chain = sample_market.option_chain("SPY")
    for date in SPY_DATES:
        frame = option_chain.chain(date)
        bar = spy.loc[pd.Timestamp(date)]
        assert frame["volume"].dtype.kind == "i"
        assert frame["open_interest"].dtype.kind == "i"
        assert (frame["volume"] >= 0).all() and (frame["open_interest"] >= 0).all()
        assert int(frame.loc[frame["right"] == "C", "volume"].sum()) == int(bar["call_volume"])
        assert int(frame.loc[frame["right"] == "P", "volume"].sum()) == int(bar["put_volume"])
        assert int(frame["open_interest"].sum()) == int(bar["open_interest"])


def test_bundled_volume_defaults_from_share_volume(bundled_market):
    day = pd.Timestamp(SP500_DATE)
    frame = bundled_market.option_chain("SP500").chain(day)
    share_volume = bundled_market.bars("SP500").loc[day, "volume"]
    each_side = round(0.01 * share_volume)
    assert int(frame.loc[frame["right"] == "C", "volume"].sum()) == each_side
    assert int(frame.loc[frame["right"] == "P", "volume"].sum()) == each_side
    assert int(frame["open_interest"].sum()) == round(8 * 0.02 * share_volume)


def test_volume_concentrates_near_the_money(case):
    _, bar, _, frame = case
    # one expiry at a time, so moneyness is not confounded with time to expiry
    for _, group in frame[frame["dte"].between(20, 60)].groupby("expiry"):
        x = np.abs(np.log(group["strike"] / bar["close"])) / group["iv"]
        near, far = group.loc[x < 0.25, "volume"], group.loc[x > 1.0, "volume"]
        assert len(near) >= 4
        if len(far) >= 4:
            assert near.mean() > 2 * far.mean()


# --- quotes ------------------------------------------------------------------------------

def test_quote_matches_chain_row(case):
    option_chain, _, day, frame = case
    for row in frame.sample(12, random_state=3).itertuples():
        quote = option_chain.quote(day, row.expiry, row.strike, row.right.lower())
        assert quote["symbol"] == row.symbol
        for field in ("bid", "ask", "mid", "iv", "delta", "gamma", "vega", "theta"):
            assert quote[field] == pytest.approx(getattr(row, field), rel=1e-12, abs=1e-12), field


def test_quote_off_grid_strike(case):
    option_chain, bar, day, frame = case
    expiry = sorted(frame["expiry"].unique())[3]
    grid = np.sort(frame.loc[frame["expiry"] == expiry, "strike"].unique())
    below = grid[grid <= bar["close"]][-1]
    above = grid[grid > bar["close"]][0]
    strike = below + 0.37 * (above - below)
    assert strike not in grid
    call = option_chain.quote(day, expiry, strike, "C")
    put = option_chain.quote(day, expiry, strike, "P")
    assert call["strike"] == strike and call["right"] == "C"
    assert call["symbol"] == occ_symbol(option_chain.symbol, expiry, "C", strike)
    rows = frame[frame["expiry"] == expiry].set_index(["right", "strike"])
    assert rows.loc[("C", above), "mid"] <= call["mid"] <= rows.loc[("C", below), "mid"]
    assert rows.loc[("P", below), "mid"] <= put["mid"] <= rows.loc[("P", above), "mid"]
    years = max(call["dte"], 0.5) / 365.0
    parity = bar["close"] - strike * math.exp(-bar["risk_free_rate"] * years)
    assert call["mid"] - put["mid"] == pytest.approx(parity, rel=1e-8, abs=1e-8 * bar["close"])
    assert call["bid"] <= call["mid"] <= call["ask"]


def test_quote_for_a_day_without_bar_raises(sample_market):
    option_chain = sample_market.option_chain("SPY")
    with pytest.raises(KeyError):
        option_chain.chain("2019-03-23")  # a Saturday
    with pytest.raises(KeyError):
        option_chain.quote("2019-03-23", "2019-04-18", 400.0, "C")


def test_occ_symbol():
    assert occ_symbol("SPY", "2025-12-19", "P", 650) == "SPY251219P00650000"
    assert occ_symbol("SPY", pd.Timestamp("2019-04-18"), "C", 401.5) == "SPY190418C00401500"
    assert occ_symbol("SPX", "2015-06-19", "C", 2087.5) == "SPX150619C02087500"
    # a date takes the path without pandas: the same symbol as its timestamp
    for day in (dt.date(2005, 1, 7), dt.date(2019, 4, 18), dt.date(2031, 11, 21)):
        assert occ_symbol("QQQ", day, "P", 95.5) == occ_symbol("QQQ", pd.Timestamp(day), "P", 95.5)
    assert occ_symbol("SPY", dt.date(2005, 1, 7), "C", 120) == "SPY050107C00120000"


def test_delta_alone_is_the_greeks_delta_bit_for_bit():
    """``black_scholes_delta`` broadcasts through its arithmetic, the greeks broadcast their
    inputs first: the same numbers and shapes, scalars and arrays mixed."""
    strikes = np.linspace(300.0, 700.0, 41)
    years = np.array([[5 / 365], [40 / 365], [1.5]])
    cases = [(500.0, strikes, 30 / 365, 0.04, 0.2 + strikes / 5000, strikes > 500),
             (np.full(3, 500.0)[:, None], strikes, years, 0.03, 0.25, True),
             (480.0, 500.0, 0.1, 0.05, 0.3, False),
             ([500.0, 510.0], [505.0, 505.0], 0.2, [0.01, 0.02], 0.18, [True, False])]
    for spot, strike, t, rate, vol, is_call in cases:
        alone = black_scholes_delta(spot, strike, t, rate, vol, is_call)
        greeks = black_scholes_greeks(spot, strike, t, rate, vol, is_call)["delta"]
        assert alone.shape == greeks.shape
        assert alone.tobytes() == greeks.tobytes()


# --- determinism -------------------------------------------------------------------------

def test_chain_is_deterministic_across_fresh_markets():
    first = SampleMarket(seed=42, cache=None).option_chain("SPY").chain("2019-03-25")
    second = SampleMarket(seed=42, cache=None).option_chain("SPY").chain("2019-03-25")
    pd.testing.assert_frame_equal(first, second)


def test_chain_is_deterministic_across_bundled_instances(bundled_market):
    fresh = BundledMarket(cache=None).option_chain("SP500").chain(SP500_DATE)
    pd.testing.assert_frame_equal(fresh, bundled_market.option_chain("SP500").chain(SP500_DATE))


def test_quote_prices_match_quote_exactly(sample_market):
    chain = sample_market.option_chain("SPY")
    day = sample_market.bars("SPY").index[-300]
    frame = chain.chain(day)
    for _, row in frame.iloc[:: max(len(frame) // 25, 1)].iterrows():
        slow = chain.quote(day, row["expiry"], row["strike"], row["right"])
        fast = chain.quote_prices(day, row["expiry"], row["strike"], row["right"])
        assert fast == (slow["bid"], slow["ask"], slow["mid"])
        assert fast == (row["bid"], row["ask"], row["mid"])
    with pytest.raises(KeyError, match="no bar"):
        chain.quote_prices("1990-01-02", row["expiry"], row["strike"], "P")


def test_quotes_of_a_day_do_not_depend_on_later_bars(sample_market):
    """The classic lookahead test: the same chain on bars cut at a day, and on bars whose
    later sessions are calmer, quotes that day and every day before it alike (the long-run
    vol was once the median over the whole series, later bars included)."""
    from feeds.chain import OptionChain

    bars = sample_market.bars("SPY")
    cut = pd.Timestamp("2015-06-15")
    calmer = bars.copy()
    calmer.loc[calmer.index > cut, "atm_iv"] *= 0.6
    full, short, other = (OptionChain("SPY", b, seed=7) for b in
                          (bars, bars.loc[:cut], calmer))
    assert full.long_run_vol(bars.index[-1]) != other.long_run_vol(bars.index[-1])
    for day in (pd.Timestamp("2015-01-02"), cut):
        frame = full.chain(day)
        for chain in (short, other):
            pd.testing.assert_frame_equal(chain.chain(day), frame)
            assert chain.long_run_vol(day) == full.long_run_vol(day)
        expiry = frame["expiry"].iloc[len(frame) // 3]
        strikes, calls = frame["strike"].to_numpy()[:6], np.array([True, False] * 3)
        lives = [c.life_table(day.date(), expiry.date(), strikes, calls) for c in (full, other)]
        first = lives[0][0]
        stop = int(full._sessions()[1].searchsorted(np.datetime64(cut.date()), side="right"))
        for key in ("bid", "ask", "mid"):
            np.testing.assert_array_equal(lives[0][1][key][:, :stop - first],
                                          lives[1][1][key][:, :stop - first])


def test_the_long_run_vol_is_the_median_of_the_vols_known_that_day():
    from feeds.chain import LONG_RUN_DEFAULT, long_run_levels

    iv = pd.Series([np.nan, 0.30, 0.10, np.nan, 0.20, 0.50])
    np.testing.assert_allclose(long_run_levels(iv),
                               [LONG_RUN_DEFAULT, 0.30, 0.20, 0.20, 0.20, 0.25])
