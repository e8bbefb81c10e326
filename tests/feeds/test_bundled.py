"""Bundled real index data (arch.data): spans, aliases, VIX-based IV and the T-bill rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from arch.data import frenchdata, nasdaq, sp500, vix

from core.errors import DataError
from feeds.bundled import BundledMarket
from feeds.cache import ParquetCache


@pytest.fixture(scope="module")
def french() -> pd.DataFrame:
    return frenchdata.load()


def _french_rf(french: pd.DataFrame, yyyymm: int) -> float:
    """Fama-French RF (monthly, percent) of month ``yyyymm``, found by the raw integer."""
    rows = np.flatnonzero(french.index.asi8 == yyyymm)
    assert len(rows) == 1
    return float(french["RF"].iloc[rows[0]])


@pytest.mark.parametrize("symbol", ["SP500", "NASDAQ"])
def test_span_and_row_count(bundled_market, symbol):
    bars = bundled_market.bars(symbol)
    assert len(bars) == 5031
    assert bars.index[0] == pd.Timestamp("1999-01-04")
    assert bars.index[-1] == pd.Timestamp("2018-12-31")
    assert bars.index.is_monotonic_increasing and bars.index.is_unique
    assert bars.index.tz is None
    assert (bars.index == bars.index.normalize()).all()


@pytest.mark.parametrize(("symbol", "loader"), [("SP500", sp500), ("NASDAQ", nasdaq)])
def test_prices_are_the_raw_arch_data(bundled_market, symbol, loader):
    raw = loader.load()
    bars = bundled_market.bars(symbol)
    for column in ("Open", "High", "Low", "Close", "Volume"):
        np.testing.assert_array_equal(bars[column.lower()].to_numpy(),
                                      raw[column].to_numpy(dtype=float))
    assert (bars["low"] <= bars["high"]).all()


@pytest.mark.parametrize(("alias", "canonical"),
                         [("SPX", "SP500"), ("^GSPC", "SP500"), ("^IXIC", "NASDAQ"),
                          ("comp", "NASDAQ"), ("sp500", "SP500")])
def test_aliases(bundled_market, alias, canonical):
    pd.testing.assert_frame_equal(bundled_market.bars(alias), bundled_market.bars(canonical))


def test_sp500_and_nasdaq_differ(bundled_market):
    assert not np.allclose(bundled_market.bars("SP500")["close"],
                           bundled_market.bars("NASDAQ")["close"])


def test_unknown_symbol_lists_available(bundled_market):
    with pytest.raises(DataError) as info:
        bundled_market.bars("SPY")
    assert "SP500" in str(info.value) and "NASDAQ" in str(info.value)


def test_window_outside_span_raises(bundled_market):
    with pytest.raises(DataError, match="SP500"):
        bundled_market.bars("SPX", start="2020-01-01")


def test_window_is_inclusive(bundled_market):
    window = bundled_market.bars("SP500", start="2015-06-15", end="2015-06-19")
    assert list(window.index) == list(pd.date_range("2015-06-15", "2015-06-19"))


def test_atm_iv_is_vix_in_2015(bundled_market):
    vix_close = vix.load()["vix"]
    day = pd.Timestamp("2015-06-15")
    expected = float(vix_close.loc[day]) / 100.0
    assert bundled_market.bars("SP500").loc[day, "atm_iv"] == pytest.approx(expected, rel=1e-12)


def test_atm_iv_is_vix_wherever_vix_exists(bundled_market):
    vix_close = vix.load()["vix"]
    vix_close.index = pd.DatetimeIndex(vix_close.index).normalize()
    bars = bundled_market.bars("SP500")
    common = bars.index.intersection(vix_close.index)
    assert len(common) > 1000
    np.testing.assert_allclose(bars.loc[common, "atm_iv"], vix_close.loc[common] / 100.0,
                               rtol=1e-12)


@pytest.mark.parametrize("symbol", ["SP500", "NASDAQ"])
def test_atm_iv_finite_and_plausible(bundled_market, symbol):
    iv = bundled_market.bars(symbol)["atm_iv"]
    assert np.isfinite(iv).all()
    assert (iv >= 0.05).all() and (iv < 2.0).all()
    # the 2008 crisis is far more volatile than the calm of 2017
    assert iv.loc["2008-10"].mean() > 2 * iv.loc["2017"].mean()


@pytest.mark.parametrize(("day", "yyyymm"), [("1999-01-15", 199901), ("2007-03-20", 200703)])
def test_risk_free_rate_is_french_rf(bundled_market, french, day, yyyymm):
    expected = _french_rf(french, yyyymm) / 100.0 * 12.0
    for symbol in ("SP500", "NASDAQ"):
        rate = bundled_market.bars(symbol).loc[pd.Timestamp(day), "risk_free_rate"]
        assert rate == pytest.approx(expected, rel=1e-12)


def test_risk_free_rate_constant_within_month_and_finite(bundled_market):
    rate = bundled_market.bars("SP500")["risk_free_rate"]
    assert np.isfinite(rate).all()
    per_month = rate.groupby(rate.index.to_period("M")).nunique()
    assert (per_month == 1).all()


def test_option_chain_builds(bundled_market):
    day = pd.Timestamp("2015-06-15")
    frame = bundled_market.option_chain("SPX").chain(day)
    assert len(frame) > 100
    assert frame["symbol"].str.startswith("SP500").all()
    assert (frame["underlying"] == bundled_market.bars("SP500").loc[day, "close"]).all()
    assert (frame["expiry"] > day).all()


def test_cached_bundled_matches_uncached(tmp_path, bundled_market):
    cache = ParquetCache(tmp_path)
    first = BundledMarket(cache=cache).bars("NASDAQ")
    assert len(list(tmp_path.rglob("*.parquet"))) == 1
    second = BundledMarket(cache=cache).bars("NASDAQ")
    pd.testing.assert_frame_equal(first, bundled_market.bars("NASDAQ"), check_freq=False)
    pd.testing.assert_frame_equal(second, first, check_freq=False)
