"""Option chains from Polygon contracts and option bars (fake API on 127.0.0.1), the chain
snapshot, the implied-volatility inversion, and ``run.py backtest --source polygon`` end to
end with credit spreads."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import run
from core.errors import DataError
from feeds.cache import ParquetCache
from feeds.chain import CHAIN_COLUMNS
from feeds.polygon import PolygonSource
from feeds.polygon_options import ChainWindow, polygon_ticker, quote_spread
from feeds.rate_limit import ApiError, RetryPolicy
from pricing.black_scholes import black_scholes_greeks, black_scholes_price
from pricing.contracts import strike_step
from pricing.implied_vol import implied_volatility
from tests.fakes.fake_polygon import FakeClock, FakePolygon

NOW = pd.Timestamp("2026-11-20 21:00", tz="America/New_York")
DAY = pd.Timestamp("2024-03-01")
CONTRACTS = "/v3/reference/options/contracts"


@pytest.fixture(scope="module")
def server():
    with FakePolygon(page_size=120) as fake:
        yield fake


@pytest.fixture(scope="module")
def source(server, tmp_path_factory):
    cache = ParquetCache(tmp_path_factory.mktemp("polygon-options"))
    src = PolygonSource(server.api_key, base=server.base, cache=cache, now=NOW,
                        clock=FakeClock(), policy=RetryPolicy(attempts=2))
    src.bars("SPY", None, "2024-06-28")
    return src


@pytest.fixture(scope="module")
def chain(source):
    return source.option_chain("SPY")


# ---------------------------------------------------------------------- implied volatility
def test_inversion_recovers_the_volatility_of_a_whole_grid():
    strike = np.linspace(60, 160, 41)
    years = np.array([7, 30, 90, 365]) / 365.0
    k, t = np.meshgrid(strike, years)
    vol = 0.15 + 0.3 * np.abs(np.log(k / 100.0))
    is_call = k >= 100
    price = black_scholes_price(100.0, k, t, 0.04, vol, is_call)
    iv = implied_volatility(price, 100.0, k, t, 0.04, is_call)
    vega = black_scholes_greeks(100.0, k, t, 0.04, vol, is_call)["vega"]
    sensitive = vega > 1e-4  # where the price says anything about volatility
    assert iv.shape == price.shape and sensitive.sum() > 100
    np.testing.assert_allclose(iv[sensitive], vol[sensitive], atol=1e-5)
    np.testing.assert_allclose(black_scholes_price(100.0, k, t, 0.04, iv, is_call)[sensitive],
                               price[sensitive], atol=1e-6)


def test_prices_outside_the_no_arbitrage_bounds_have_no_volatility():
    iv = implied_volatility([4.0, 101.0, 0.0, np.nan, 5.0], 100.0, [96.0, 100.0, 100.0, 100.0,
                                                                    100.0],
                            [0.1, 0.1, 0.1, 0.1, 0.0], 0.0, True)
    # below intrinsic, above the spot, zero, missing, expired
    assert np.isnan(iv).all()


# ---------------------------------------------------------------------- the chain
def test_chain_has_the_columns_and_contracts_of_the_window(chain, server):
    frame = chain.chain(DAY)
    assert list(frame.columns) == list(CHAIN_COLUMNS)
    spot = float(server.market.bars("SPY").at[DAY, "c"])
    assert frame["underlying"].eq(spot).all()
    # one expiry, the listed one closest to the middle of 30-45 days
    assert frame["expiry"].nunique() == 1
    listed = [e for e in server.market.expiries(DAY) if 30 <= (e - DAY).days <= 45]
    best = min(listed, key=lambda e: (abs((e - DAY).days - 37.5), e))
    assert frame["expiry"].iloc[0] == best
    step = strike_step(spot)
    assert np.allclose(frame["strike"] / step, np.round(frame["strike"] / step))
    puts, calls = frame[frame["right"] == "P"], frame[frame["right"] == "C"]
    assert (puts["strike"] <= spot + step).all() and (calls["strike"] >= spot - step).all()
    assert len(puts) >= 8 and len(calls) >= 8
    assert (frame["bid"] <= frame["mid"]).all() and (frame["mid"] <= frame["ask"]).all()
    assert (frame["ask"] > frame["bid"]).all()
    assert (puts["delta"] < 0).all() and (calls["delta"] > 0).all()
    assert frame["open_interest"].isna().all()
    assert frame["symbol"].str.fullmatch(r"SPY\d{6}[CP]\d{8}").all()  # no adjusted ones


def test_contracts_are_asked_as_of_the_chain_date(chain, server):
    chain.chain(DAY)
    asked = [r.query for r in server.paths(CONTRACTS) if r.query.get("as_of") == "2024-03-01"]
    assert asked, "no contract list as of the chain's date"
    query = asked[0]
    assert query["underlying_ticker"] == "SPY"
    assert query["expiration_date.gte"] == "2024-03-31"
    assert query["expiration_date.lte"] == "2024-04-15"
    assert float(query["strike_price.gte"]) < 500 < float(query["strike_price.lte"])
    assert query["expired"] == "true"  # those expiries have passed by now
    assert any("cursor" in r.query for r in server.paths(CONTRACTS))  # pages of 120 followed


def test_traded_contracts_are_priced_from_their_close_and_invert_to_the_surface(chain, server):
    frame = chain.chain(DAY)
    spot = float(server.market.closes("SPY").loc[DAY])
    for _, row in frame.iterrows():
        value = server.market.option_value("SPY", row["expiry"], row["right"], row["strike"],
                                           DAY)
        if row["volume"] > 0:  # it traded that day: mid is the close, to the cent
            assert row["mid"] == pytest.approx(round(value, 2), abs=1e-9)
            if row["mid"] >= 0.5:  # enough price for the volatility to be well defined
                surface = server.market.surface(spot, row["strike"], 0.16)
                assert row["iv"] == pytest.approx(surface, abs=0.01)


def test_untraded_day_keeps_the_contracts_last_implied_volatility(chain, server):
    frame = chain.chain(DAY)
    expiry = frame["expiry"].iloc[0]
    for day in pd.bdate_range(DAY, expiry - pd.Timedelta(days=7))[1:]:
        for _, row in frame.iterrows():
            ticker = polygon_ticker("SPY", expiry, row["right"], row["strike"])
            bars = chain.data.bars(ticker, expiry)
            if day in chain.bars.index and day not in bars.index:
                past = chain._iv_history(ticker)
                past = past[(past.index < day) & past.notna()]
                if past.empty:
                    continue
                quote = chain.quote(day, expiry, row["strike"], row["right"])
                spot = float(chain.bars.at[day, "close"])
                years = (expiry - day).days / 365.0
                rate = float(chain.rates.rate(day, years))
                assert quote["iv"] == pytest.approx(past.iloc[-1])
                assert quote["mid"] == pytest.approx(float(black_scholes_price(
                    spot, row["strike"], years, rate, past.iloc[-1], row["right"] == "C")))
                assert quote["volume"] == 0
                return
    pytest.fail("the fake market has no untraded day in the chain")


def test_quote_of_a_traded_day_equals_the_chain_row(chain):
    frame = chain.chain(DAY)
    row = frame.iloc[3]
    quote = chain.quote(DAY, row["expiry"], row["strike"], row["right"])
    for column in ("bid", "ask", "mid", "iv", "delta", "symbol"):
        assert quote[column] == row[column]


def test_chains_are_lazy_and_cached(source, chain, server, tmp_path):
    frame = chain.chain(DAY)
    seen = server.count()
    chain.chain(DAY)
    row = frame.iloc[-1]
    chain.quote(DAY + pd.Timedelta(days=4), row["expiry"], row["strike"], row["right"])
    assert server.count() == seen  # in memory
    again = PolygonSource(server.api_key, base=server.base, cache=source.store.cache, now=NOW)
    again.bars("SPY", None, "2024-06-28")
    pd.testing.assert_frame_equal(again.option_chain("SPY").chain(DAY), chain.chain(DAY))
    assert server.count() == seen  # from the Parquet cache


def test_chains_use_unadjusted_closes(chain, server):
    raw = [r for r in server.paths("/v2/aggs/ticker/SPY/") if r.query.get("adjusted") == "false"]
    assert raw, "the chain's spot must come from unadjusted bars"


def test_no_contract_in_the_window_is_a_clear_error(server):
    src = PolygonSource(server.api_key, base=server.base, now=NOW,
                        chain_window=ChainWindow(dte_min=200, dte_max=210))
    src.bars("SPY", "2024-01-02", "2024-03-28")
    with pytest.raises(DataError, match="no SPY option contracts on 2024-03-01 with 200-210"):
        src.option_chain("SPY").chain(DAY)


@pytest.mark.parametrize("field, value", [("expiration_date", "2024-13-01"),
                                          ("strike_price", None), ("ticker", None)])
def test_a_contract_that_cannot_be_named_dated_or_priced_is_an_error(server, field, value):
    contract = {"ticker": "O:SPY240412P00500000", "expiration_date": "2024-04-12",
                "strike_price": 500, "contract_type": "put", "shares_per_contract": 100,
                field: value}
    server.fail(CONTRACTS, 200, {"status": "OK", "results": [contract]})
    src = PolygonSource(server.api_key, base=server.base, now=NOW)
    src.bars("SPY", "2024-01-02", "2024-03-28")
    with pytest.raises(ApiError, match="SPY option contract on 2024-03-01 without a usable"):
        src.option_chain("SPY").chain(DAY)


def test_spread_model():
    bid, ask = quote_spread(np.array([0.10, 2.0, 50.0]))
    np.testing.assert_allclose(bid, [0.09, 1.95, 49.5])
    np.testing.assert_allclose(ask, [0.11, 2.05, 50.5])


# ---------------------------------------------------------------------- snapshot
def test_chain_snapshot_uses_quotes_and_fills_missing_greeks(server):
    src = PolygonSource(server.api_key, base=server.base,
                        now=pd.Timestamp("2024-06-28 21:00", tz="America/New_York"))
    seen = server.count("/v3/snapshot/")
    frame = src.chain_snapshot("SPY", dte_min=20, dte_max=30, strike_min=420, strike_max=560)
    pages = server.count("/v3/snapshot/") - seen
    assert pages == -(-len(frame) // 120) > 1  # every page of 120 (the server's cap) followed
    assert list(frame.columns[:len(CHAIN_COLUMNS)]) == list(CHAIN_COLUMNS)
    assert frame["quoted"].all() and (frame["ask"] >= frame["bid"]).all()
    assert frame["delta"].notna().all()  # greeks left out for deep contracts were computed
    deep = frame[np.abs(np.log(frame["strike"] / frame["underlying"])) > 0.2]
    assert len(deep) > 0
    assert frame["updated"].iloc[0] == pd.Timestamp("2024-06-28 16:00")
    with pytest.raises(DataError, match="HTTP 404"):
        src.chain_snapshot("ZZZZ")


# ---------------------------------------------------------------------- end to end
WINDOW = ["--start-date", "2024-01-02", "--end-date", "2024-02-29"]


def test_backtest_with_polygon_credit_spreads_end_to_end(monkeypatch, tmp_path, capsys, caplog):
    with FakePolygon() as fake:
        monkeypatch.setenv("POLYGON_API_KEY", fake.api_key)
        monkeypatch.setenv("POLYGON_API_BASE", fake.base)
        monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
        monkeypatch.delenv("UNUSUAL_WHALES_API_KEY", raising=False)
        argv = ["backtest", "--source", "polygon", "--symbols", "SPY", *WINDOW,
                "--strategy", "credit-spread", "--no-report", "--cache-dir", str(tmp_path)]
        assert run.main(argv) == 0
        out, _ = capsys.readouterr()
        sent = fake.count()
    # (a second run sending nothing: test_data_cli.py, after a data fetch)
    assert re.search(r"^SPY: Return: -?\d+\.\d\d%$", out, re.MULTILINE)
    assert "Source: polygon: real daily bars" in out
    assert "SIMULATED by the sample market" in out and "UNUSUAL_WHALES_API_KEY" in out
    assert "SIMULATED" in caplog.text  # also a warning on stderr, not only the summary
    trades = int(re.search(r"^SPY\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)", out, re.MULTILINE).group(1))
    assert trades > 0  # spreads were opened and closed on the Polygon chain
    assert sent > 20 and fake.count("/v3/reference/options/contracts") > 0
