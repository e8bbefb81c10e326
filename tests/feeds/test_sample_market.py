"""The embedded sample market: determinism, calendar, OHLC sanity, regimes and flow columns."""

from __future__ import annotations

import calendar

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import feeds.sample_market as sample_module
from bench.bench_world import measure, spread_returns
from core.domain import REGIME_NAMES
from core.errors import DataError
from feeds.base import EXTRA_COLUMNS, OHLCV
from feeds.cache import ParquetCache
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


# --- the option surface and quotes the world prices with ---------------------------------

CALM, STRESS = (0, 1, 2), (3, 4)


def _surface_points(market: SampleMarket, symbol: str, every: int = 20) -> pd.DataFrame:
    """Per sampled bar: the 30-day expiry's ATM put and 25-delta put (iv, width in cents,
    width over mid) and the ATM vol 90 days out, measured on the chain itself."""
    bars = market.bars(symbol)
    chain = market.option_chain(symbol)
    rows = []
    for day in bars.index[100::every]:
        frame = chain.chain(day)
        spot = float(frame["underlying"].iloc[0])
        dte = frame.groupby("expiry")["dte"].first()
        puts = frame[(frame["expiry"] == (dte - 30).abs().idxmin()) & (frame["right"] == "P")]
        atm = puts.iloc[int(np.argmin(np.abs(puts["strike"].to_numpy() - spot)))]
        p25 = puts.iloc[int(np.argmin(np.abs(puts["delta"].to_numpy() + 0.25)))]
        far = frame[(frame["expiry"] == (dte - 90).abs().idxmin()) & (frame["right"] == "P")]
        atm90 = far.iloc[int(np.argmin(np.abs(far["strike"].to_numpy() - spot)))]
        rows.append({
            "regime": int(bars.loc[day, "true_regime"]), "atm_dte": int(atm["dte"]),
            "skew_points": 100 * (p25["iv"] - atm["iv"]),
            "term_points": 100 * (atm90["iv"] - atm["iv"]),
            "atm_cents": 100 * (atm["ask"] - atm["bid"]),
            "p25_cents": 100 * (p25["ask"] - p25["bid"]),
            "atm_relative": (atm["ask"] - atm["bid"]) / atm["mid"],
        })
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def spy_surface(sample_market) -> pd.DataFrame:
    return _surface_points(sample_market, "SPY")


def test_surface_sample_is_around_30_days_and_covers_calm_and_stress(spy_surface):
    assert spy_surface["atm_dte"].between(23, 37).all()
    assert (spy_surface["regime"].isin(CALM)).sum() >= 100
    assert (spy_surface["regime"].isin(STRESS)).sum() >= 12


def test_25_delta_put_skew_is_4_to_8_points_and_steepens_in_stress(spy_surface):
    # real SPX at 30 days: the 25-delta put 4-8 vol points over the money, more in stress
    calm = spy_surface[spy_surface["regime"].isin(CALM)]["skew_points"].median()
    stress = spy_surface[spy_surface["regime"].isin(STRESS)]["skew_points"].median()
    assert 4.0 <= calm <= 6.0
    assert 5.5 <= stress <= 8.0
    assert stress > calm + 1.0
    assert spy_surface["skew_points"].quantile(0.05) > 3.0


def test_term_structure_upward_in_calm_inverted_in_stress(spy_surface):
    calmest = spy_surface[spy_surface["regime"] == 0]["term_points"]
    stress = spy_surface[spy_surface["regime"].isin(STRESS)]["term_points"]
    assert calmest.median() > 0.2
    assert (calmest > 0).mean() > 0.7
    assert stress.median() < -2.0
    assert (stress < 0).mean() > 0.9


def test_spy_quotes_are_cents_wide_and_widen_in_stress(spy_surface):
    calm = spy_surface[spy_surface["regime"].isin(CALM)]
    stress = spy_surface[spy_surface["regime"].isin(STRESS)]
    # SPY: a cent to a few cents near the money in calm markets
    assert 1.0 <= calm["atm_cents"].median() <= 3.0
    assert 1.0 <= calm["p25_cents"].median() <= 3.0
    assert calm["atm_relative"].median() < 0.005
    # stress: wider in cents and as a share of mid
    assert stress["atm_cents"].median() >= 2 * calm["atm_cents"].median()
    assert stress["atm_relative"].median() > 1.5 * calm["atm_relative"].median()
    assert stress["atm_cents"].max() <= 50.0  # never the dollar cap


def test_cheaper_symbol_quotes_are_cents_too(sample_market):
    qqq = _surface_points(sample_market, "QQQ", every=60)
    calm = qqq[qqq["regime"].isin(CALM)]
    assert 1.0 <= calm["atm_cents"].median() <= 3.0
    assert calm["atm_relative"].median() < 0.01


def test_variance_premium_is_realistic(spy):
    # implied over the realized volatility of the next 21 sessions: SPX's is about 1.2-1.3
    log_ret = np.log(spy["close"]).diff()
    forward_rv = log_ret[::-1].rolling(21).std()[::-1].shift(-1) * np.sqrt(252)
    ratio = spy["atm_iv"].mean() / forward_rv.mean()
    assert 1.1 < ratio < 1.45
    by_regime = spy["atm_iv"].groupby(spy["true_regime"]).mean() \
        / forward_rv.groupby(spy["true_regime"]).mean()
    assert (by_regime > 0.9).all(), by_regime.to_dict()


# --- the regimes drive the market; in the no-edge world they drive nothing ----------------

def _kruskal_by_regime(bars: pd.DataFrame) -> dict[str, float]:
    """p-value of a Kruskal-Wallis test that the regimes share one distribution, per column
    (returns, absolute returns, and the flow and option columns a model reads)."""
    log_ret = np.log(bars["close"]).diff()
    columns = {
        "return": log_ret, "abs_return": log_ret.abs(),
        "atm_iv": bars["atm_iv"], "iv_skew": bars["iv_skew"],
        "put_call_ratio": bars["put_call_ratio"], "dark_pool_ratio": bars["dark_pool_ratio"],
        "volume": np.log(bars["volume"]),
    }
    out = {}
    for name, values in columns.items():
        frame = pd.DataFrame({"v": values, "r": bars["true_regime"]}).dropna()
        groups = [g.to_numpy() for _, g in frame.groupby("r")["v"]]
        out[name] = float(stats.kruskal(*groups).pvalue)
    return out


def test_edge_world_regimes_differ_in_returns_vol_and_flow(spy):
    pvalues = _kruskal_by_regime(spy)
    assert all(p < 1e-6 for p in pvalues.values()), pvalues


@pytest.fixture(scope="module")
def no_edge() -> SampleMarket:
    return SampleMarket(seed=42, cache=None, world="no-edge")


def test_no_edge_world_keeps_calendar_symbols_and_regime_path(no_edge, spy):
    bars = no_edge.bars("SPY")
    assert bars.index.equals(spy.index)
    assert list(bars.columns) == list(spy.columns)
    assert (bars["true_regime"].to_numpy() == spy["true_regime"].to_numpy()).all()
    assert no_edge.name == "sample-noedge" and "without edge" in no_edge.describe()
    pd.testing.assert_frame_equal(SampleMarket(seed=42, world="no-edge").bars("SPY"), bars)


@pytest.mark.parametrize("symbol", ["SPY", "TSLA"])
def test_no_edge_world_regimes_are_indistinguishable(no_edge, symbol):
    pvalues = _kruskal_by_regime(no_edge.bars(symbol))
    # seven tests per symbol: none rejects "one distribution" even at 1 %
    assert all(p > 0.01 for p in pvalues.values()), pvalues


def test_no_edge_world_still_has_a_variance_premium_and_skew(no_edge):
    bars = no_edge.bars("SPY")
    realized = np.log(bars["close"]).diff().std() * np.sqrt(252)
    assert 1.1 < bars["atm_iv"].mean() / realized < 1.35
    surface = _surface_points(no_edge, "SPY", every=120)
    assert surface["skew_points"].between(4.0, 8.0).all()


def test_unknown_world_raises():
    with pytest.raises(DataError, match="no-edge"):
        SampleMarket(seed=42, world="flat")


def test_worlds_do_not_share_cache_entries(tmp_path):
    cache = ParquetCache(tmp_path)
    edge = SampleMarket(seed=42, cache=cache).bars("SPY")
    flat = SampleMarket(seed=42, cache=cache, world="no-edge").bars("SPY")
    assert not np.allclose(edge["atm_iv"].to_numpy(), flat["atm_iv"].to_numpy())
    again = SampleMarket(seed=42, cache=cache, world="no-edge").bars("SPY")
    pd.testing.assert_frame_equal(again, flat, check_freq=False)


# --- the edge, measured with the label code (bench/bench_world.py prints the full table) --

def test_world_edge_measure_on_a_known_frame():
    # regime 0: puts earn, regime 1: calls earn, regime 2: both lose (hold)
    regime = np.tile([0, 1, 2], 20)
    put = np.where(regime == 0, 0.10, -0.10)
    call = np.where(regime == 1, 0.05, -0.20)
    frame = pd.DataFrame({"regime": regime, "put": put, "call": call,
                          "label": np.where(regime == 0, 2, np.where(regime == 1, 1, 0))})
    edge = measure(frame)
    assert list(edge.per_regime["oracle"]) == ["put", "call", "hold"]
    assert edge.oracle_trades == 20  # second half: 10 bars of regime 0, 10 of regime 1
    assert edge.oracle_mean == pytest.approx(0.075)
    assert edge.foresight_mean == pytest.approx(0.075)
    assert edge.majority_share == pytest.approx(1 / 3)


def test_regimes_set_which_spread_earns_on_a_short_window(sample_market):
    # 2009-2011 has every state; each 4th bar, both spreads priced by training.labels
    returns = spread_returns(sample_market, "SPY", "2009-01-01", "2011-12-31", step=4)
    assert set(returns["regime"]) == set(range(len(REGIME_NAMES)))
    mean = returns.groupby("regime")[["put", "call"]].mean()
    # the uptrends favour the put spread, the downtrend the call spread (three years are
    # too few to rank the rarer states' spreads; bench/bench_world.py does it on 18)
    assert mean.loc[1, "put"] > mean.loc[1, "call"] + 0.1, mean
    assert mean.loc[3, "call"] > mean.loc[3, "put"] + 0.05, mean
    uptrend_put = returns[returns["regime"].isin((0, 1))]["put"].mean()
    assert uptrend_put > mean.loc[3, "put"] + 0.1, mean
    assert mean.loc[3, "call"] > mean.loc[1, "call"] + 0.1, mean
    # selling the wrong side of a strong trend loses after costs
    assert mean.loc[1, "call"] < -0.1 and mean.loc[3, "put"] < -0.05
    edge = measure(returns)
    assert edge.foresight_mean > 0.1  # the label's upper bound is far above any oracle
    assert edge.majority_share < 0.6


def test_bars_cached_by_an_edited_generator_are_drawn_again(tmp_path, monkeypatch):
    """The cache key holds a hash of the generator's code, so a cache left by an older
    generator (same GENERATOR_VERSION) is never read back as today's market."""
    import feeds.sample_market as sample_market

    SampleMarket(seed=42, cache=ParquetCache(tmp_path)).bars("SPY")
    stale = next(tmp_path.rglob("*.parquet"))
    old = pd.read_parquet(stale)
    old["close"] = 1.0  # what an older generator might have drawn
    old.to_parquet(stale)
    assert (SampleMarket(seed=42, cache=ParquetCache(tmp_path)).bars("SPY")["close"] == 1.0).all()
    monkeypatch.setattr(sample_market, "generator_fingerprint", lambda: "edited")
    fresh = SampleMarket(seed=42, cache=ParquetCache(tmp_path)).bars("SPY")
    assert not (fresh["close"] == 1.0).any()
    assert len(list(tmp_path.rglob("*.parquet"))) == 2
