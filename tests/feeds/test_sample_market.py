"""The embedded sample market: determinism, calendar, OHLC sanity, regimes and flow columns."""

from __future__ import annotations

import calendar

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest

import feeds.sample_market as sample_module
from core.domain import REGIME_NAMES
from core.errors import DataError
from feeds.base import EXTRA_COLUMNS, OHLCV
from feeds.sample_market import SampleMarket, SymbolProfile

REQUIRED_SYMBOLS = ("SPY", "QQQ", "AAPL", "MSFT", "GOOGL", "AMZN", "TSLA")


@pytest.fixture(scope="module")
def all_bars(sample_market) -> dict[str, pd.DataFrame]:
    return {symbol: sample_market.bars(symbol) for symbol in sample_market.symbols()}


@pytest.fixture(scope="module")
def regime_stats(spy) -> pd.DataFrame:
    """Per-regime mean and annualised volatility of SPY daily log returns (computed here)."""
    log_ret = np.log(spy["close"]).diff()
    frame = pd.DataFrame({"ret": log_ret, "regime": spy["true_regime"]}).dropna()
    stats = frame.groupby("regime")["ret"].agg(["mean", "std", "count"])
    stats["ann_vol"] = stats["std"] * np.sqrt(252)
    return stats


# --- determinism -------------------------------------------------------------------------

def test_same_seed_gives_identical_bars(spy):
    fresh = SampleMarket(seed=42, cache=None)
    pd.testing.assert_frame_equal(fresh.bars("SPY"), spy)
    assert fresh.bars("TSLA").equals(SampleMarket(seed=42).bars("TSLA"))


def test_different_seed_gives_different_closes(spy):
    other = SampleMarket(seed=43, cache=None).bars("SPY")
    assert other.index.equals(spy.index)
    differs = ~np.isclose(other["close"].to_numpy(), spy["close"].to_numpy())
    assert differs.mean() > 0.99


def test_generating_other_symbols_first_does_not_change_bars():
    first = SampleMarket(seed=42, cache=None)
    spy_first = first.bars("SPY").copy()
    later = SampleMarket(seed=42, cache=None)
    for symbol in ("TSLA", "AAPL", "QQQ"):
        later.bars(symbol)
    pd.testing.assert_frame_equal(later.bars("SPY"), spy_first)


def test_adding_a_symbol_to_the_universe_does_not_change_bars(monkeypatch, spy):
    extra = SymbolProfile("XYZ", 50.0, 0.8, 0.3, 10e6)
    monkeypatch.setattr(sample_module, "SYMBOLS", (extra, *sample_module.SYMBOLS))
    market = SampleMarket(seed=42, cache=None)
    assert "XYZ" in market.symbols()
    xyz = market.bars("XYZ")
    assert len(xyz) == len(spy)
    pd.testing.assert_frame_equal(market.bars("SPY"), spy)


# --- calendar and symbols ----------------------------------------------------------------

def test_bars_are_exactly_the_nyse_sessions_over_15_years(all_bars, spy):
    first, last = spy.index[0], spy.index[-1]
    assert (last - first).days >= 15 * 365
    xnys = xcals.get_calendar("XNYS", start="2005-01-03", end="2026-12-31")
    expected = pd.DatetimeIndex(xnys.sessions_in_range(first, last)).tz_localize(None)
    assert len(expected) > 15 * 250
    for symbol, bars in all_bars.items():
        assert bars.index.equals(expected), symbol
        assert bars.index.is_monotonic_increasing and bars.index.is_unique


def test_all_required_symbols_present(sample_market, all_bars):
    assert set(REQUIRED_SYMBOLS) <= set(sample_market.symbols())
    for symbol in REQUIRED_SYMBOLS:
        assert len(all_bars[symbol]) > 3000


def test_symbols_are_not_copies_of_each_other(all_bars):
    returns = pd.DataFrame({s: np.log(b["close"]).diff() for s, b in all_bars.items()}).dropna()
    corr = returns.corr().to_numpy()
    off_diagonal = corr[~np.eye(len(corr), dtype=bool)]
    # one market factor drives them all (positive correlation) but each has its own noise
    assert (off_diagonal > 0.2).all()
    assert (off_diagonal < 0.999).all()


# --- OHLC sanity ------------------------------------------------------------------------

@pytest.mark.parametrize("symbol", REQUIRED_SYMBOLS)
def test_ohlc_sanity(all_bars, symbol):
    bars = all_bars[symbol]
    o, h, lo, c, v = (bars[col].to_numpy() for col in OHLCV)
    assert np.isfinite(np.stack([o, h, lo, c, v])).all()
    assert (lo <= np.minimum(o, c)).all()
    assert (h >= np.maximum(o, c)).all()
    assert (lo > 0).all()
    assert (v > 0).all()


# --- regimes -----------------------------------------------------------------------------

def test_every_regime_occurs(spy):
    counts = spy["true_regime"].value_counts()
    assert set(counts.index) == set(range(len(REGIME_NAMES)))
    assert (counts >= 50).all()


def test_true_regime_matches_market_true_regimes(sample_market, spy):
    regimes = sample_market.true_regimes()
    assert regimes.index.equals(spy.index)
    assert (regimes.to_numpy() == spy["true_regime"].to_numpy()).all()


def test_all_symbols_share_one_regime_path(all_bars, spy):
    for bars in all_bars.values():
        assert (bars["true_regime"].to_numpy() == spy["true_regime"].to_numpy()).all()


def test_high_volatility_regimes_are_more_volatile(regime_stats):
    vol = regime_stats["ann_vol"]
    assert min(vol[3], vol[4]) > max(vol[0], vol[1], vol[2])


def test_low_volatility_uptrend_has_lowest_volatility(regime_stats):
    vol = regime_stats["ann_vol"]
    assert vol.idxmin() == 0


def test_downtrend_has_lowest_negative_mean(regime_stats):
    mean = regime_stats["mean"]
    assert mean[3] < 0
    assert all(mean[3] < mean[k] for k in (0, 1, 2, 4))


def test_rally_has_highest_mean(regime_stats):
    mean = regime_stats["mean"]
    assert mean.idxmax() == 4


def test_consolidation_mean_between_downtrend_and_momentum(regime_stats):
    mean = regime_stats["mean"]
    assert mean[3] < mean[2] < mean[1]


def test_regimes_are_sticky(spy):
    regime = spy["true_regime"]
    run_id = (regime != regime.shift()).cumsum()
    runs = regime.groupby(run_id).agg(["first", "size"])
    assert runs["size"].mean() > 5
    assert len(runs) > 10  # it does switch, more than a handful of times
    # each state on its own is sticky too, not only on average
    per_regime = runs.groupby("first")["size"].mean()
    assert (per_regime > 5).all(), per_regime.to_dict()


# --- flow and calendar columns ------------------------------------------------------------

def test_put_call_ratio_higher_in_downtrend_than_momentum(spy):
    pcr = spy.groupby("true_regime")["put_call_ratio"].mean()
    assert pcr[3] > pcr[1]


def test_put_call_ratio_is_put_over_call_volume(spy):
    expected = spy["put_volume"] / spy["call_volume"].clip(lower=1.0)
    np.testing.assert_allclose(spy["put_call_ratio"], expected, rtol=1e-12)


def test_atm_iv_higher_in_high_volatility_regimes(spy):
    iv = spy.groupby("true_regime")["atm_iv"].mean()
    assert iv[3] > iv[0]
    assert iv[4] > iv[0]


def test_cpi_release_one_session_per_month(spy):
    flags = spy["cpi_release"]
    assert set(np.unique(flags)) == {0.0, 1.0}
    per_month = flags.groupby(spy.index.to_period("M")).sum()
    assert (per_month == 1).all()
    # the first session on or after the 12th: day >= 12, and no earlier session of the
    # month is on or after the 12th
    released = spy.index[flags == 1.0]
    assert (released.day >= 12).all()
    for day in released[:24]:
        same_month = spy.index[(spy.index.to_period("M") == day.to_period("M"))]
        assert same_month[same_month.day >= 12][0] == day


def test_cpi_release_examples_by_hand(spy):
    flagged = set(spy.index[spy["cpi_release"] == 1.0])
    # 2008-01-12 was a Saturday -> Monday 14th; 2009-01-12 was a Monday
    assert calendar.weekday(2008, 1, 12) == calendar.SATURDAY
    assert pd.Timestamp("2008-01-14") in flagged
    assert calendar.weekday(2009, 1, 12) == calendar.MONDAY
    assert pd.Timestamp("2009-01-12") in flagged


def _last_tuesday(year: int, month: int) -> int:
    weeks = calendar.monthcalendar(year, month)
    return max(week[calendar.TUESDAY] for week in weeks)


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2008, 1, "2008-01-29"),
        (2020, 3, "2020-03-31"),
        (2024, 12, "2024-12-31"),
        # 25 December is the last Tuesday but a holiday: the release is the Tuesday before
        (2018, 12, "2018-12-18"),
        (2012, 12, "2012-12-18"),
    ],
)
def test_consumer_confidence_last_tuesday_session(spy, year, month, expected):
    in_month = spy.loc[f"{year}-{month:02d}"]
    flagged = in_month.index[in_month["consumer_confidence_release"] == 1.0]
    assert list(flagged) == [pd.Timestamp(expected)]
    last_tuesday = pd.Timestamp(year, month, _last_tuesday(year, month))
    if last_tuesday in spy.index:
        assert flagged[0] == last_tuesday
    else:
        assert flagged[0] == last_tuesday - pd.Timedelta(days=7)


def test_consumer_confidence_every_month_on_a_tuesday(spy):
    flags = spy["consumer_confidence_release"]
    per_month = flags.groupby(spy.index.to_period("M")).sum()
    assert (per_month == 1).all()
    released = spy.index[flags == 1.0]
    assert (released.day_of_week == 1).all()
    # no later Tuesday session in the same month
    tuesdays = spy.index[spy.index.day_of_week == 1]
    for day in released:
        later = tuesdays[(tuesdays > day) & (tuesdays.to_period("M") == day.to_period("M"))]
        assert len(later) == 0, day


def test_extra_columns_present_and_finite(all_bars):
    for symbol, bars in all_bars.items():
        missing = [c for c in EXTRA_COLUMNS if c not in bars.columns]
        assert not missing, (symbol, missing)
        values = bars.loc[:, list(EXTRA_COLUMNS)].to_numpy(dtype=float)
        assert np.isfinite(values).all(), symbol


def test_option_volumes_are_whole_and_nonnegative(spy):
    for col in ("call_volume", "put_volume", "open_interest"):
        values = spy[col].to_numpy()
        assert (values >= 0).all()
        assert (values == np.round(values)).all()


def test_iv_columns_in_plausible_range(spy):
    for col in ("atm_iv", "call_iv", "put_iv"):
        assert spy[col].between(0.02, 2.0).all(), col
    # skew: out-of-the-money puts trade at a higher volatility than calls
    assert (spy["put_iv"] > spy["call_iv"]).mean() > 0.95


# --- errors ------------------------------------------------------------------------------

def test_unknown_symbol_raises_data_error_listing_symbols(sample_market):
    with pytest.raises(DataError) as info:
        sample_market.bars("NOPE")
    message = str(info.value)
    assert "NOPE" in message
    for symbol in REQUIRED_SYMBOLS:
        assert symbol in message


def test_unknown_symbol_option_chain_raises(sample_market):
    with pytest.raises(DataError):
        sample_market.option_chain("NOPE")


def test_lowercase_symbol_is_accepted(sample_market, spy):
    assert sample_market.bars("spy") is not None
    assert sample_market.bars("spy").index.equals(spy.index)


@pytest.mark.parametrize(
    ("start", "end"),
    [("2030-01-01", None), (None, "2001-01-01"), ("1990-01-01", "1995-12-31")],
)
def test_window_outside_range_raises(sample_market, start, end):
    with pytest.raises(DataError, match="SPY"):
        sample_market.bars("SPY", start=start, end=end)


def test_window_inside_range_is_inclusive(sample_market):
    window = sample_market.bars("SPY", start="2015-03-02", end="2015-03-06")
    assert list(window.index) == list(pd.date_range("2015-03-02", "2015-03-06"))
