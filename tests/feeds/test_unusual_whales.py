"""The Unusual Whales client (httpx) against the fake UW API on 127.0.0.1, the daily flow
features and their no-lookahead join, the errors the issue lists, and the flow columns of
Polygon bars with and without an Unusual Whales key."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from feeds.cache import ParquetCache
from feeds.calendar import sessions
from feeds.polygon import polygon_from_environment
from feeds.polygon_flow import FLOW_COLUMNS, SampleFlow, UnusualWhalesFlow, available_from
from feeds.rate_limit import ApiError, RateLimiter, RetryPolicy
from feeds.unusual_whales import UnusualWhalesClient, to_number, to_timestamp
from tests.fakes.fake_polygon import FakeClock, FakePolygon
from tests.fakes.fake_unusual_whales import FakeUnusualWhales

NOW = pd.Timestamp("2024-06-28 21:00", tz="America/New_York")
DARKPOOL = "/api/darkpool/"


@pytest.fixture(scope="module")
def server():
    with FakeUnusualWhales() as fake:
        yield fake


def client_for(server, **options) -> UnusualWhalesClient:
    """A client with small pages (to make the fake server page) unless told otherwise."""
    options.setdefault("clock", FakeClock())
    options.setdefault("policy", RetryPolicy(attempts=3, backoff=1.0))
    options.setdefault("page_sizes", {"darkpool": 4, "flow-alerts": 2})
    return UnusualWhalesClient(server.api_key, base=server.base, **options)


def full_pages(server) -> UnusualWhalesClient:
    return client_for(server, page_sizes={})


def bars_for(start, end, volume=5e7) -> pd.DataFrame:
    return pd.DataFrame({"volume": volume}, index=sessions(start, end))


# ---------------------------------------------------------------------- parsing
def test_decimal_strings_become_numbers():
    assert to_number("186705") == 186705.0 and to_number("-1291692.4942") == -1291692.4942
    assert to_number(3) == 3.0
    for missing in (None, "", "n/a", True):
        assert np.isnan(to_number(missing))


@pytest.mark.parametrize("text", ["2023-12-12 16:35:52.168490+00:00",
                                  "2023-12-12T16:35:52.168490Z",
                                  "2023-12-12T11:35:52.168490-05:00",
                                  1702398952168, 1702398952])
def test_every_timestamp_style_is_the_same_utc_instant(text):
    stamp = to_timestamp(text)
    assert stamp.tz is not None
    assert stamp.floor("s") == pd.Timestamp("2023-12-12 16:35:52", tz="UTC")


# ---------------------------------------------------------------------- endpoints
def test_dark_pool_prints_are_paged_back_with_older_than(server):
    client = client_for(server)
    before = server.count(DARKPOOL + "SPY")
    prints = client.darkpool("SPY", "2024-03-04")
    expected = server.darkpool("SPY", pd.Timestamp("2024-03-04"))
    pages = server.paths(DARKPOOL + "SPY")[before:]
    assert len(prints) == len(expected) > 4
    # pages of 4, each after the first one repeating the print at its boundary, the last
    # one short
    assert len(pages) == 2 + (len(expected) - 4) // 3
    assert "older_than" not in pages[0].query and all("older_than" in p.query
                                                      for p in pages[1:])
    assert sorted(prints["size"]) == sorted(float(r["size"]) for r in expected)
    assert prints["executed_at"].dt.tz is not None
    assert prints["canceled"].sum() == 1


class SameSecondPrints(FakeUnusualWhales):
    """Dark-pool prints stamped to the second, three in each second (a block split into
    prints), as UW's live sample writes ``executed_at``; ``inclusive`` answers
    ``older_than`` with the rows at that instant too (the spec does not say which)."""

    def __init__(self, inclusive: bool = False):
        super().__init__()
        self.inclusive = inclusive

    def darkpool(self, ticker, day):
        rows = super().darkpool(ticker, day)
        first = pd.Timestamp(f"{day:%Y-%m-%d} 10:00", tz="America/New_York")
        for i, row in enumerate(rows):
            when = (first + pd.Timedelta(seconds=i // 3)).tz_convert("UTC")
            row["executed_at"] = f"{when:%Y-%m-%dT%H:%M:%SZ}"
        return rows

    def _older_than(self, rows, stamp, query, default, maximum):
        if self.inclusive and query.get("older_than"):
            query = {**query, "older_than": str(int(query["older_than"]) + 1)}
        return super()._older_than(rows, stamp, query, default, maximum)


@pytest.mark.parametrize("inclusive", [False, True], ids=["older-than-strict",
                                                          "older-than-inclusive"])
def test_prints_sharing_a_second_across_a_page_boundary_all_come_back_once(inclusive):
    with SameSecondPrints(inclusive) as fake:
        day = next(d for d in sessions("2024-03-04", "2024-03-29")
                   if len(fake.darkpool("SPY", d)) >= 10)
        expected = fake.darkpool("SPY", day)
        prints = client_for(fake).darkpool("SPY", day)  # pages of 4: boundaries mid-second
    assert len(prints) == len(expected)
    assert sorted(prints["premium"]) == sorted(float(r["premium"]) for r in expected)


def test_a_full_page_within_one_millisecond_is_an_error_not_a_loop():
    with SameSecondPrints() as fake:
        page = [{"ticker": "SPY", "executed_at": "2024-03-04T15:00:00Z", "size": n}
                for n in range(4)]
        fake.fail(DARKPOOL + "SPY", 200, {"data": page}, times=2)
        with pytest.raises(ApiError, match="did not move back in time .more than 4 rows"):
            client_for(fake).darkpool("SPY", "2024-03-04")


@pytest.mark.parametrize("body, what", [
    ({"data": {"call_volume": 1}}, "where a list of rows belongs"),
    ({"data": ["SPY", 1]}, "where a list of rows belongs"),
    ({"data": [{"date": "2024-13-45", "call_volume": 1}]}, "date is '2024-13-45', not a date"),
    ({"data": [{"call_volume": 1}]}, "date is None, not a date"),
])
def test_a_malformed_answer_is_an_api_error_not_a_traceback(server, body, what):
    server.fail("/api/stock/SPY/options-volume", 200, body)
    with pytest.raises(ApiError, match=what):
        client_for(server).options_volume("SPY")


@pytest.mark.parametrize("path, field, call", [
    ("/api/option-trades/flow-alerts", "created_at",
     lambda c: c.flow_alerts("SPY", pd.Timestamp("2024-03-04 05:00", tz="UTC"),
                             pd.Timestamp("2024-03-05 05:00", tz="UTC"))),
    ("/api/market/market-tide", "timestamp", lambda c: c.market_tide("2024-03-04")),
    (DARKPOOL + "SPY", "executed_at", lambda c: c.darkpool("SPY", "2024-03-04")),
])
@pytest.mark.parametrize("stamp", [None, "yesterday", "NaT"])
def test_a_row_without_a_readable_time_is_an_error_not_left_out(server, path, field, call,
                                                                 stamp):
    """A flow alert with an unreadable ``created_at`` was left out of its day's count in
    silence; a tide reading without its time sorted last and became the closing tide."""
    good = {field: "2024-03-04T15:00:00Z", "total_premium": "1000", "size": 10,
            "net_call_premium": "5", "net_put_premium": "1"}
    server.fail(path, 200, {"data": [good, {**good, field: stamp}]})
    with pytest.raises(ApiError, match=f"{path} with a row whose {field} is {stamp!r}, not a"):
        call(client_for(server))


def test_flow_alerts_of_a_day_in_both_timestamp_styles(server):
    client = client_for(server)
    day = next(d for d in sessions("2024-03-01", "2024-03-29")
               if len(server.flow_alerts("SPY", d)) >= 2)
    start = day.tz_localize("America/New_York").tz_convert("UTC")
    alerts = client.flow_alerts("SPY", start, start + pd.Timedelta(days=1))
    expected = server.flow_alerts("SPY", day)
    assert len(alerts) == len(expected)
    assert sorted(alerts["total_premium"]) == sorted(float(r["total_premium"]) for r in expected)
    query = server.paths("/api/option-trades/flow-alerts")[-1].query
    assert query["ticker_symbol"] == "SPY" and int(query["newer_than"]) == start.value // 10**6


def test_options_volume_tide_and_insider_are_typed(server):
    client = client_for(server)
    volume = client.options_volume("SPY", limit=3)
    assert list(volume["date"]) == list(sessions("2024-06-26", "2024-06-28"))
    row = server.options_volume("SPY", pd.Timestamp("2024-06-28"))
    assert volume["call_premium"].iloc[-1] == float(row["call_premium"])
    tide = client.market_tide("2024-03-04")
    assert tide["timestamp"].iloc[0] == pd.Timestamp("2024-03-04 14:30", tz="UTC")
    insider = client.insider_buy_sells("SPY")
    assert insider["filing_date"].is_monotonic_increasing
    assert (insider["sells_notional"] <= 0).all()


# ---------------------------------------------------------------------- errors
def test_429_honours_retry_after_then_succeeds(server):
    clock = FakeClock()
    server.fail(DARKPOOL + "QQQ", 429, {"message": "Too many requests"}, {"Retry-After": "3"})
    prints = client_for(server, clock=clock).darkpool("QQQ", "2024-03-05")
    assert len(prints) > 0 and clock.sleeps == [3.0]


def test_429_that_persists_names_the_api_and_the_limit(server):
    clock = FakeClock()
    server.fail(DARKPOOL + "QQQ", 429, {"message": "Too many requests"}, times=3)
    limiter = RateLimiter(120, 60.0, clock=clock)
    with pytest.raises(ApiError) as info:
        client_for(server, clock=clock, limiter=limiter).darkpool("QQQ", "2024-03-06")
    message = str(info.value)
    assert info.value.status == 429 and info.value.api == "Unusual Whales"
    assert "Unusual Whales rate limit" in message and "120 requests per 60 s" in message
    assert "UNUSUAL_WHALES_RATE_LIMIT" in message
    assert clock.sleeps == [1.0, 2.0]


def test_429_asking_longer_than_the_client_waits_stops_at_once_saying_so(server):
    clock = FakeClock()
    server.fail(DARKPOOL + "QQQ", 429, {"message": "Daily request limit reached"},
                {"Retry-After": "5400"})
    with pytest.raises(ApiError, match=r"after 1 attempt .the server asks to wait 5400 s"):
        client_for(server, clock=clock).darkpool("QQQ", "2024-03-12")
    assert clock.sleeps == []


def test_server_errors_are_retried(server):
    clock = FakeClock()
    server.fail(DARKPOOL + "QQQ", 500, '"Something went wrong"', times=2)
    assert len(client_for(server, clock=clock).darkpool("QQQ", "2024-03-07")) > 0
    assert clock.sleeps == [1.0, 2.0]
    server.fail(DARKPOOL + "QQQ", 503, "", times=3)
    with pytest.raises(ApiError, match="server error HTTP 503.*after 3 attempts"):
        client_for(server).darkpool("QQQ", "2024-03-08")


def test_timeouts_are_retried_then_reported():
    with FakeUnusualWhales() as fake:
        fake.slow("/api/market", 1.0)
        client = UnusualWhalesClient(fake.api_key, base=fake.base, timeout=0.2,
                                     policy=RetryPolicy(attempts=2, backoff=0.0))
        with pytest.raises(ApiError, match="no answer within 0.2 s after 2 attempts"):
            client.market_tide("2024-03-04")
        assert fake.count("/api/market") == 2
        fake.delays.clear()


def test_a_body_that_is_not_json_is_an_error(server):
    server.fail("/api/stock/SPY/options-volume", 200, "<html>upstream</html>")
    with pytest.raises(ApiError, match="not JSON"):
        client_for(server).options_volume("SPY")


def test_bad_key_points_to_the_variable_and_hides_the_key(server):
    client = UnusualWhalesClient("uw-wrong-key-777888", base=server.base)
    with pytest.raises(ApiError) as info:
        client.options_volume("SPY")
    assert info.value.status == 401 and "UNUSUAL_WHALES_API_KEY" in str(info.value)
    assert "uw-wrong-key-777888" not in str(info.value)


def test_unknown_ticker_is_a_clear_error(server):
    with pytest.raises(ApiError, match="HTTP 422.*Invalid path input: ZZZZ.*unknown ticker"):
        client_for(server).darkpool("ZZZZ", "2024-03-04")


def test_missing_optional_fields_become_nan(server):
    server.fail(DARKPOOL + "QQQ", 200, {"data": [{"ticker": "QQQ", "size": 100,
                                                  "executed_at": "2024-03-11T15:00:00Z"}]})
    prints = client_for(server).darkpool("QQQ", "2024-03-11")
    assert np.isnan(prints["premium"].iloc[0]) and prints["size"].iloc[0] == 100.0
    assert not prints["canceled"].iloc[0]


# ---------------------------------------------------------------------- features, causally
def test_a_days_values_arrive_on_the_next_session():
    daily = pd.DataFrame({"call_volume": [10.0, 20.0, 5.0], "put_call_ratio": [1.0, 2.0, 3.0]},
                         index=pd.DatetimeIndex(["2024-03-07", "2024-03-08", "2024-03-09"]))
    joined = available_from(daily, sessions("2024-03-07", "2024-03-12"))
    # Thursday's on Friday; Friday's and a Saturday filing both on Monday
    assert np.isnan(joined.loc["2024-03-07", "call_volume"])
    assert joined.loc["2024-03-08", "call_volume"] == 10.0
    assert joined.loc["2024-03-11", "call_volume"] == 25.0
    assert joined.loc["2024-03-11", "put_call_ratio"] == 3.0
    assert np.isnan(joined.loc["2024-03-12", "call_volume"])


def test_flow_columns_are_causal_and_match_the_api(server, tmp_path):
    flow = UnusualWhalesFlow(full_pages(server), cache=ParquetCache(tmp_path),
                             flow_sessions=1000, now=NOW)
    long = flow.columns("SPY", bars_for("2024-04-01", "2024-06-28"))
    short = UnusualWhalesFlow(full_pages(server), flow_sessions=1000, now=NOW).columns(
        "SPY", bars_for("2024-04-01", "2024-05-31"))
    pd.testing.assert_frame_equal(short, long.loc[short.index])  # later data changes nothing
    day, next_day = pd.Timestamp("2024-05-14"), pd.Timestamp("2024-05-15")
    row = server.options_volume("SPY", day)
    assert long.at[next_day, "call_volume"] == row["call_volume"]
    assert long.at[next_day, "put_call_ratio"] == pytest.approx(
        row["put_volume"] / row["call_volume"])
    assert long.at[next_day, "open_interest"] == row["call_open_interest"] + \
        row["put_open_interest"]
    prints = [p for p in server.darkpool("SPY", day) if not p["canceled"]]
    volume = sum(p["size"] for p in prints)
    assert long.at[next_day, "dark_pool_volume"] == volume
    assert long.at[next_day, "dark_pool_ratio"] == pytest.approx(volume / 5e7)
    blocks = sum(p["size"] for p in prints if p["size"] >= 10_000 or float(p["premium"]) >= 2e5)
    assert long.at[next_day, "block_trade_ratio"] == pytest.approx(blocks / volume)
    alerts = server.flow_alerts("SPY", day)
    assert long.at[next_day, "flow_alert_count"] == len(alerts)
    assert long.at[next_day, "flow_alert_premium"] == sum(float(a["total_premium"])
                                                          for a in alerts)
    tide = server.tide(day)[-1]
    assert long.at[next_day, "market_tide"] == pytest.approx(
        float(tide["net_call_premium"]) - float(tide["net_put_premium"]))
    filing = next(r for r in server.insider("SPY") if "2024-05-01" <= r["filing_date"] < "2024-06")
    filed = pd.Timestamp(filing["filing_date"])
    after = long.index[long.index > filed][0]
    assert long.at[after, "insider_net_buying"] == pytest.approx(
        float(filing["purchases_notional"]) + float(filing["sells_notional"]))
    assert long.at[filed, "insider_net_buying"] == 0.0  # not on the filing day itself
    assert long["unusual_score"].dropna().ge(0).all() and long["unusual_score"].notna().any()


def test_a_bars_flow_columns_do_not_depend_on_where_its_data_ends(server):
    """The per-day endpoints cover the last sessions before now, not before the bars'
    end: a training run, a backtest and premarket scoring see the same values on a day (the
    window used to follow the bars' end, so a day had dark pool and tide in one and NaN in
    the other)."""
    def flow():
        return UnusualWhalesFlow(full_pages(server), flow_sessions=20, now=NOW)

    full = flow().columns("SPY", bars_for("2024-04-01", "2024-06-28"))
    cut = flow().columns("SPY", bars_for("2024-04-01", "2024-06-14"))
    pd.testing.assert_frame_equal(cut, full.loc[cut.index])
    recent = flow().recent_sessions()
    assert len(recent) == 20 and recent[-1] == pd.Timestamp("2024-06-27")
    shown = full["dark_pool_ratio"].dropna().index  # each day's on the next session
    assert shown.min() == recent[1] and shown.max() == pd.Timestamp("2024-06-28")


def test_flow_columns_come_from_the_cache_the_second_time(server, tmp_path):
    bars = bars_for("2024-05-01", "2024-06-28")
    first = UnusualWhalesFlow(full_pages(server), cache=ParquetCache(tmp_path),
                              flow_sessions=20, now=NOW)
    expected = first.columns("SPY", bars)
    assert first.requests > 40
    again = UnusualWhalesFlow(full_pages(server), cache=ParquetCache(tmp_path),
                              flow_sessions=20, now=NOW)
    pd.testing.assert_frame_equal(again.columns("SPY", bars), expected)
    assert again.requests == 0


def test_uw_key_never_reaches_logs_errors_or_cache(tmp_path, caplog):
    key = "uw-secret-5a4b3c2d1e0f"
    caplog.set_level(logging.DEBUG)
    with FakeUnusualWhales(api_key=key) as fake:
        client = UnusualWhalesClient(key, base=fake.base, clock=FakeClock(),
                                     policy=RetryPolicy(attempts=2))
        UnusualWhalesFlow(client, cache=ParquetCache(tmp_path), flow_sessions=5,
                          now=NOW).columns("SPY", bars_for("2024-06-03", "2024-06-28"))
        fake.fail("/api/market", 500, {"msg": f"token {key} rejected"}, times=2)
        with pytest.raises(ApiError) as info:
            client.market_tide("2024-03-04")
        assert fake.paths()[0].headers["authorization"] == f"Bearer {key}"
    assert key not in str(info.value) and "***" in str(info.value)
    assert key not in caplog.text and "HTTP Request" in caplog.text  # httpx's own lines
    for path in tmp_path.rglob("*.parquet"):
        assert key.encode() not in path.read_bytes()


# ---------------------------------------------------------------------- polygon bars
def test_polygon_bars_get_real_flow_columns_with_a_uw_key(tmp_path):
    with FakePolygon() as polygon, FakeUnusualWhales() as uw:
        env = {"POLYGON_API_KEY": polygon.api_key, "POLYGON_API_BASE": polygon.base,
               "UNUSUAL_WHALES_API_KEY": uw.api_key, "UNUSUAL_WHALES_API_BASE": uw.base,
               "UNUSUAL_WHALES_RATE_LIMIT": "100000", "UNUSUAL_WHALES_FLOW_SESSIONS": "15"}
        source = polygon_from_environment(cache=ParquetCache(tmp_path), env=env, now=NOW)
        source.flow.last_complete = pd.Timestamp("2024-06-28")
        bars = source.bars("SPY", "2024-05-01", "2024-06-28")
        assert uw.count() > 30
    assert "from Unusual Whales" in source.describe() and "SIMULATED" not in source.describe()
    for column in (*FLOW_COLUMNS, "flow_alert_count", "dark_pool_volume", "market_tide"):
        assert column in bars and bars[column].iloc[-10:].notna().all(), column
    row = uw.options_volume("SPY", pd.Timestamp("2024-06-27"))
    assert bars.at[pd.Timestamp("2024-06-28"), "put_volume"] == row["put_volume"]
    assert bars.at[pd.Timestamp("2024-06-28"), "dark_pool_ratio"] == pytest.approx(
        bars.at[pd.Timestamp("2024-06-28"), "dark_pool_volume"]
        / bars.at[pd.Timestamp("2024-06-27"), "volume"])


def test_without_a_uw_key_the_sample_markets_flow_is_used_and_said(caplog, tmp_path):
    with FakePolygon() as polygon:
        env = {"POLYGON_API_KEY": polygon.api_key, "POLYGON_API_BASE": polygon.base}
        source = polygon_from_environment(seed=42, env=env, now=NOW,
                                          cache=ParquetCache(tmp_path))
        assert isinstance(source.flow, SampleFlow)
        bars = source.bars("SPY", "2024-03-01", "2024-03-28")
    assert "SIMULATED by the sample market (seed 42)" in source.describe()
    assert "no UNUSUAL_WHALES_API_KEY" in caplog.text
    from feeds.sample_market import SampleMarket
    sample = SampleMarket(seed=42, cache=ParquetCache(tmp_path)).bars("SPY", "2024-03-01",
                                                                      "2024-03-28")
    pd.testing.assert_frame_equal(bars[list(FLOW_COLUMNS)], sample[list(FLOW_COLUMNS)],
                                  check_freq=False)
    assert not np.allclose(bars["close"], sample["close"])  # prices are Polygon's, not sample's


def test_a_fetch_of_flow_days_shows_progress_when_asked(server, tmp_path, capsys):
    """``data fetch`` turns the bars on: one per endpoint, so minutes of paced requests
    on a cold cache are never silent; off (the default) nothing is printed."""
    bars = bars_for("2024-05-01", "2024-06-28")
    quiet = UnusualWhalesFlow(full_pages(server), flow_sessions=5, now=NOW)
    quiet.columns("SPY", bars)
    assert capsys.readouterr().err == ""
    flow = UnusualWhalesFlow(full_pages(server), flow_sessions=5, now=NOW)
    flow.progress = True
    flow.columns("SPY", bars)
    err = capsys.readouterr().err
    for name in ("SPY flow-alerts", "SPY darkpool", "market market-tide"):
        assert f"{name} (Unusual Whales):   0%| " in err and "0/5" in err
