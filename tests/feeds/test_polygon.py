"""Polygon daily bars through the real ``massive`` client against the fake API on 127.0.0.1:
pagination, timestamps, the cache, every error the issue lists, the free-tier limiter and
the keys that must never leak."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import DataError
from feeds.cache import ParquetCache
from feeds.calendar import sessions
from feeds.polygon import PolygonSource
from feeds.polygon_aggs import aggs_frame, last_complete_session
from feeds.polygon_fed import RateCurve, cpi_release_flags, estimated_release
from feeds.rate_limit import ApiError, RateLimiter, RetryPolicy, polygon_free_limiter
from tests.fakes.fake_polygon import FakeClock, FakePolygon

AGGS = "/v2/aggs/ticker/"
NOW = pd.Timestamp("2026-11-20 21:00", tz="America/New_York")


@pytest.fixture(scope="module")
def server():
    with FakePolygon(page_size=60) as fake:
        yield fake


@pytest.fixture
def clock():
    return FakeClock()


def make_source(server, tmp_path=None, **options) -> PolygonSource:
    options.setdefault("policy", RetryPolicy(attempts=3, backoff=1.0))
    options.setdefault("clock", FakeClock())
    cache = ParquetCache(tmp_path) if tmp_path is not None else None
    return PolygonSource(server.api_key, base=server.base, cache=cache, now=NOW, **options)


# ---------------------------------------------------------------------- bars
def test_daily_bars_follow_every_page_and_match_the_market(server):
    source = make_source(server)
    before = server.count(AGGS + "SPY/")
    bars = source.raw_bars("SPY", pd.Timestamp("2023-01-03"), pd.Timestamp("2024-06-28"))
    pages = server.paths(AGGS + "SPY/")[before:]
    # two yearly chunks of ~250 bars at 60 a page: several pages each, cursor pages included
    assert len(pages) >= 8
    assert sum("cursor" in p.query for p in pages) == len(pages) - 2
    assert all(p.query.get("adjusted") == "true" for p in pages if "cursor" not in p.query)
    expected = server.market.bars("SPY").loc["2023-01-03":"2024-06-28"]
    assert list(bars.index) == list(sessions("2023-01-03", "2024-06-28"))
    np.testing.assert_allclose(bars["close"].to_numpy(), expected["c"].to_numpy())
    np.testing.assert_allclose(bars["volume"].to_numpy(), expected["v"].to_numpy())


def test_millisecond_timestamps_become_new_york_session_dates():
    # 2020-01-02 00:00 New York = 05:00 UTC (winter); 2024-07-01 00:00 New York = 04:00 UTC
    aggs = [SimpleNamespace(timestamp=t, open=1, high=1, low=1, close=1, volume=1, vwap=1,
                            transactions=1) for t in (1577941200000, 1719806400000)]
    frame = aggs_frame(aggs, "day")
    assert list(frame.index) == [pd.Timestamp("2020-01-02"), pd.Timestamp("2024-07-01")]
    # a minute bar at 14:30 UTC in winter is 09:30 on the New York clock
    minute = aggs_frame([SimpleNamespace(**{**vars(aggs[0]), "timestamp": 1577975400000})],
                        "minute")
    assert minute.index[0] == pd.Timestamp("2020-01-02 09:30")


def test_bars_carry_the_rate_and_cpi_release_columns(server):
    source = make_source(server)
    bars = source.bars("SPY", "2024-01-02", "2024-06-28")
    day = pd.Timestamp("2024-03-05")
    previous = server.market.yields(pd.Timestamp("2024-03-04"))["yield_3_month"] / 100
    # the curve of the session before, continuously compounded
    assert bars.at[day, "risk_free_rate"] == pytest.approx(2 * np.log1p(previous / 2))
    released = bars.index[bars["cpi_release"] == 1.0]
    # December's CPI comes out in January ... May's in June
    assert list(released) == [estimated_release(p) for p in
                              pd.date_range("2023-12-01", "2024-05-01", freq="MS")]
    assert "put_call_ratio" not in bars  # no flow source given


def test_a_second_run_over_the_same_range_sends_no_request(server, tmp_path):
    first = make_source(server, tmp_path)
    bars = first.bars("SPY", "2024-01-02", "2024-06-28")
    assert first.requests > 0
    seen = server.count()
    again = make_source(server, tmp_path).bars("SPY", "2024-01-02", "2024-06-28")
    assert server.count() == seen
    pd.testing.assert_frame_equal(bars, again)


@pytest.mark.parametrize("other", [
    pd.DataFrame({"x": [1.0, 2.0]}),  # another frame put in the file's place
    pd.DataFrame({c: pd.Series(dtype=float) for c in ("open", "high", "low", "close",
                                                       "volume")}),  # columns, no dates
], ids=["other-columns", "no-date-index"])
def test_a_cached_file_of_other_data_is_fetched_again(server, tmp_path, caplog, other):
    bars = make_source(server, tmp_path).bars("SPY", "2024-01-02", "2024-06-28")
    for path in tmp_path.rglob("*.parquet"):  # readable Parquet: only the shape tells
        pq.write_table(pa.Table.from_pandas(other), path)
    seen = server.count()
    again = make_source(server, tmp_path).bars("SPY", "2024-01-02", "2024-06-28")
    pd.testing.assert_frame_equal(bars, again)
    assert server.count() > seen and "holds other data" in caplog.text


def test_runs_ending_on_other_days_of_a_year_share_its_cached_file(server, tmp_path):
    first = make_source(server, tmp_path)
    first.raw_bars("SPY", pd.Timestamp("2023-03-01"), pd.Timestamp("2023-06-30"))
    seen = server.count()
    again = make_source(server, tmp_path)
    bars = again.raw_bars("SPY", pd.Timestamp("2023-02-01"), pd.Timestamp("2023-09-29"))
    assert server.count() == seen and again.requests == 0
    assert list(bars.index) == list(sessions("2023-02-01", "2023-09-29"))
    assert [p.name.rsplit("-", 1)[0] for p in tmp_path.rglob("*.parquet")] == [
        "2023-01-01_2023-12-31"]  # the whole year, whatever end the runs asked for


def test_minute_bars_by_new_york_time(server, tmp_path):
    source = make_source(server, tmp_path)
    minutes = source.minute_bars("SPY", "2024-03-11", "2024-03-12")  # across the DST change
    assert len(minutes) == 780
    assert minutes.index[0] == pd.Timestamp("2024-03-11 09:30")
    assert minutes.index[-1] == pd.Timestamp("2024-03-12 15:59")


def test_last_complete_session_waits_for_the_evening():
    assert last_complete_session(pd.Timestamp("2024-03-12 10:00", tz="America/New_York")) \
        == pd.Timestamp("2024-03-11")
    assert last_complete_session(pd.Timestamp("2024-03-12 20:30", tz="America/New_York")) \
        == pd.Timestamp("2024-03-12")
    assert last_complete_session(pd.Timestamp("2024-03-11 08:00", tz="America/New_York")) \
        == pd.Timestamp("2024-03-08")  # Monday morning: Friday's bar


# ---------------------------------------------------------------------- economic data
def test_rate_curve_is_one_session_late_and_handles_missing_tenors():
    yields = pd.DataFrame({"yield_3_month": [5.0, 4.0], "yield_1_year": [4.0, np.nan]},
                          index=pd.DatetimeIndex(["2024-01-02", "2024-01-03"]))
    curve = RateCurve(yields)
    with pytest.raises(DataError, match="before 2024-01-02"):
        curve.rate("2024-01-02", 0.25)
    assert curve.rate("2024-01-03", 0.25) == pytest.approx(2 * np.log1p(0.025))
    # the 1-year tenor of the 3rd is missing: carried from the day before
    assert curve.rate("2024-01-04", 1.0) == pytest.approx(2 * np.log1p(0.02))
    assert curve.rate("2024-01-04", 0.1) == pytest.approx(2 * np.log1p(0.02))  # flat below


@pytest.mark.parametrize("path", ["/fed/v1/treasury-yields", "/fed/v1/inflation"])
def test_an_economic_row_without_its_date_is_an_error_not_nan_rates(server, path):
    server.fail(path, 200, {"status": "OK", "results": [{"yield_3_month": 5.0, "cpi": 310.0},
                                                        {"date": "2024-01-03",
                                                         "yield_3_month": "n/a"}]})
    with pytest.raises(ApiError, match=f"{path} with a row whose date is None"):
        make_source(server).bars("SPY", "2024-04-01", "2024-04-30")


@pytest.mark.parametrize("value", [530.0, -12.0])
def test_a_yield_no_treasury_ever_paid_is_an_error_not_a_rate(server, value):
    server.fail("/fed/v1/treasury-yields", 200, {"status": "OK", "results": [
        {"date": "2024-01-02", "yield_3_month": 5.2},
        {"date": "2024-01-03", "yield_3_month": value, "yield_1_year": 4.8}]})
    with pytest.raises(ApiError, match=f"yield_3_month = {value:g} % on 2024-01-03, outside"):
        make_source(server).bars("SPY", "2024-04-01", "2024-04-30")


def test_cpi_flags_skip_a_month_the_data_lacks():
    days = sessions("2025-10-01", "2026-01-30")
    periods = pd.DatetimeIndex(["2025-08-01", "2025-09-01", "2025-11-01"])  # no October
    flags = cpi_release_flags(periods, days)
    flagged = list(flags.index[flags == 1.0])
    assert estimated_release("2025-09-01") in flagged  # September's, in October
    assert estimated_release("2025-10-01") not in flagged  # never released
    assert estimated_release("2025-12-01") in flagged  # scheduled after the data ends


# ---------------------------------------------------------------------- errors
def test_unknown_symbol_with_empty_results_is_a_clear_error(server):
    with pytest.raises(DataError, match="no daily bars for ZZZZ.*unknown symbol"):
        make_source(server).bars("ZZZZ", "2024-01-02", "2024-02-28")


def test_unknown_symbol_answered_404_is_a_clear_error(server):
    server.unknown_as_404 = True
    try:
        with pytest.raises(ApiError, match="HTTP 404.*unknown symbol") as info:
            make_source(server).bars("ZZZZ", "2024-01-02", "2024-02-28")
    finally:
        server.unknown_as_404 = False
    assert info.value.status == 404 and info.value.api == "Polygon"


def test_not_a_ticker_is_refused_before_any_request(server):
    seen = server.count()
    with pytest.raises(DataError, match="not a stock ticker"):
        make_source(server).bars("SPY/../x")
    assert server.count() == seen


def test_bad_key_says_where_keys_go_without_the_key():
    with FakePolygon() as fake:
        source = PolygonSource("wrong-key-123456", base=fake.base, now=NOW)
        with pytest.raises(ApiError) as info:
            source.bars("SPY", "2024-01-02", "2024-02-28")
        assert info.value.status == 401
        assert "POLYGON_API_KEY" in str(info.value) and "Unknown API Key" in str(info.value)
        assert "wrong-key-123456" not in str(info.value)
        assert fake.count() == 1  # 401 is not retried


def test_plan_not_entitled_is_explained(server):
    server.fail(AGGS + "QQQ/", 403, {"status": "NOT_AUTHORIZED", "request_id": "x",
                                     "message": "You are not entitled to this data. Please "
                                                "upgrade your plan at https://massive.com/pricing"})
    with pytest.raises(ApiError, match="not entitled.*HTTP 403.*upgrade") as info:
        make_source(server).raw_bars("QQQ", pd.Timestamp("2024-01-02"), pd.Timestamp("2024-02-28"))
    assert info.value.status == 403


def test_429_with_retry_after_waits_as_told_then_succeeds(server):
    clock = FakeClock()
    server.fail(AGGS + "QQQ/", 429, {"status": "ERROR", "error": "You've exceeded the maximum "
                                     "requests per minute"}, {"Retry-After": "7"}, times=2)
    seen = server.count(AGGS + "QQQ/")
    bars = make_source(server, clock=clock).raw_bars("QQQ", pd.Timestamp("2022-02-01"),
                                                     pd.Timestamp("2022-02-28"))
    assert len(bars) == 19
    assert clock.sleeps == [7.0, 7.0]
    statuses = [r.status for r in server.paths(AGGS + "QQQ/")[seen:]]
    assert statuses[:3] == [429, 429, 200] and set(statuses[3:]) <= {200}  # then pages


def test_each_retry_and_rate_limit_wait_is_a_debug_line_without_the_key(server, caplog):
    """What ``-v`` shows of a slow fetch: every retry (why, how long) and every wait for
    the rate limit, never the key."""
    clock = FakeClock()
    server.fail(AGGS + "QQQ/", 429, {"status": "ERROR", "error": "too many"},
                {"Retry-After": "7"}, times=1)
    with caplog.at_level("DEBUG", logger="feeds.rate_limit"):
        source = make_source(server, clock=clock, free=True,
                             limiter=RateLimiter(1, 60.0, clock=clock, name="polygon-free"))
        source.raw_bars("QQQ", pd.Timestamp("2022-02-01"), pd.Timestamp("2022-02-28"))
    lines = [r.getMessage() for r in caplog.records if r.name == "feeds.rate_limit"]
    assert any("attempt 1 failed" in line and "429" in line and "retrying in 7.0 s" in line
               for line in lines), lines
    assert any(line.startswith("polygon-free: 1 requests per 60 s reached, waiting")
               for line in lines), lines
    assert server.api_key not in " ".join(lines)


def test_429_with_an_http_date_retry_after(server):
    clock = FakeClock(start=pd.Timestamp("2026-01-05 12:00:00", tz="UTC").timestamp())
    server.fail(AGGS + "QQQ/", 429, {"status": "ERROR", "error": "slow down"},
                {"Retry-After": "Mon, 05 Jan 2026 12:00:30 GMT"})
    make_source(server, clock=clock).raw_bars("QQQ", pd.Timestamp("2022-03-01"),
                                              pd.Timestamp("2022-03-04"))
    assert clock.sleeps == [30.0]


def test_429_asking_longer_than_the_client_waits_stops_at_once_saying_so(server):
    clock = FakeClock()
    server.fail(AGGS + "QQQ/", 429, {"status": "ERROR", "error": "daily quota reached"},
                {"Retry-After": "3600"})
    seen = server.count(AGGS + "QQQ/")
    with pytest.raises(ApiError) as info:
        make_source(server, clock=clock).raw_bars("QQQ", pd.Timestamp("2022-05-02"),
                                                  pd.Timestamp("2022-05-06"))
    message = str(info.value)
    assert "after 1 attempt " in message and "asks to wait 3600 s (Retry-After)" in message
    assert "honoured" not in message
    assert clock.sleeps == [] and server.count(AGGS + "QQQ/") - seen == 1


def test_429_without_retry_after_backs_off_then_names_the_limit(server):
    clock = FakeClock()
    server.fail(AGGS + "QQQ/", 429, {"status": "ERROR", "error": "You've exceeded the maximum "
                                     "requests per minute"}, times=3)
    seen = server.count(AGGS + "QQQ/")
    with pytest.raises(ApiError) as info:
        make_source(server, clock=clock).raw_bars("QQQ", pd.Timestamp("2022-04-01"),
                                                  pd.Timestamp("2022-04-29"))
    message = str(info.value)
    assert info.value.status == 429
    assert "Polygon rate limit" in message and "5 requests per minute" in message
    assert "--free" in message and "after 3 attempts" in message
    assert clock.sleeps == [1.0, 2.0]  # exponential back-off
    assert server.count(AGGS + "QQQ/") - seen == 3


def test_server_errors_are_retried(server):
    clock = FakeClock()
    server.fail(AGGS + "QQQ/", 502, "<html>Bad Gateway</html>", times=2)
    bars = make_source(server, clock=clock).raw_bars("QQQ", pd.Timestamp("2022-05-02"),
                                                     pd.Timestamp("2022-05-06"))
    assert len(bars) == 5 and clock.sleeps == [1.0, 2.0]
    server.fail(AGGS + "QQQ/", 500, {"status": "ERROR", "error": "internal"}, times=3)
    with pytest.raises(ApiError, match="server error HTTP 500.*after 3 attempts"):
        make_source(server, clock=FakeClock()).raw_bars("QQQ", pd.Timestamp("2022-05-09"),
                                                        pd.Timestamp("2022-05-13"))


def test_a_slow_server_times_out_with_a_clear_error():
    with FakePolygon() as fake:
        fake.slow(AGGS, 1.0)
        source = PolygonSource(fake.api_key, base=fake.base, now=NOW, timeout=0.2,
                               policy=RetryPolicy(attempts=2, backoff=0.0))
        with pytest.raises(ApiError, match="no answer within 0.2 s after 2 attempts"):
            source.raw_bars("SPY", pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-05"))
        fake.delays.clear()


def test_nothing_listening_is_a_failed_connection_not_a_time_out():
    """A refused connection fails at once: said as such (urllib3 files it under its
    TimeoutError, and the error read "no answer within 0.2 s" after 0 s)."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = PolygonSource("sk-test-1234", base=f"http://127.0.0.1:{port}", now=NOW,
                           timeout=0.2, policy=RetryPolicy(attempts=2, backoff=0.0))
    with pytest.raises(ApiError, match=r"connection failed \(NewConnectionError: the host "
                                       r"does not resolve or nothing listens there\) after 2"):
        source.raw_bars("SPY", pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-05"))


def test_a_body_that_is_not_json_is_an_error_not_an_empty_answer(server):
    server.fail(AGGS + "QQQ/", 200, "<html>maintenance</html>")
    with pytest.raises(ApiError, match="not JSON"):
        make_source(server).raw_bars("QQQ", pd.Timestamp("2022-06-01"),
                                     pd.Timestamp("2022-06-03"))


def test_missing_optional_fields_are_nan(server):
    server.fail(AGGS + "QQQ/", 200, {"ticker": "QQQ", "status": "OK", "resultsCount": 1,
                                     "results": [{"o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5,
                                                  "v": 1.029145e+06, "t": 1656648000000}]})
    bars = make_source(server).raw_bars("QQQ", pd.Timestamp("2022-07-01"),
                                        pd.Timestamp("2022-07-01"))
    assert bars.index[0] == pd.Timestamp("2022-07-01")
    assert bars.at[pd.Timestamp("2022-07-01"), "volume"] == 1029145.0
    assert np.isnan(bars["vwap"].iloc[0]) and np.isnan(bars["transactions"].iloc[0])


def test_an_unusable_bar_is_refused_with_its_date(server):
    server.fail(AGGS + "QQQ/", 200, {"ticker": "QQQ", "status": "OK", "resultsCount": 1,
                                     "results": [{"o": 1.0, "h": 0.5, "l": 0.9, "c": 1.0,
                                                  "v": 10, "t": 1656648000000}]})
    with pytest.raises(DataError, match="QQQ on 2022-07-01: unusable bar"):
        make_source(server).raw_bars("QQQ", pd.Timestamp("2022-07-01"),
                                     pd.Timestamp("2022-07-01"))


JULY_1, JULY_5 = 1656648000000, 1656648000000 + 4 * 86_400_000  # 2022, midnight New York


def qqq_bar(t, close=1.5, **fields) -> dict:
    return {"o": 1.0, "h": 2.0, "l": 0.5, "c": close, "v": 10, "t": t, **fields}


def qqq_bars(server, results) -> pd.DataFrame:
    server.fail(AGGS + "QQQ/", 200, {"ticker": "QQQ", "status": "OK", "results": results})
    return make_source(server).raw_bars("QQQ", pd.Timestamp("2022-07-01"),
                                        pd.Timestamp("2022-07-05"))


def test_bars_out_of_order_or_sent_twice_are_put_in_order_once(server):
    bars = qqq_bars(server, [qqq_bar(JULY_5), qqq_bar(JULY_1), qqq_bar(JULY_5)])
    assert list(bars.index) == [pd.Timestamp("2022-07-01"), pd.Timestamp("2022-07-05")]


def test_two_different_bars_for_one_session_are_refused_not_one_kept(server):
    with pytest.raises(DataError, match="QQQ: two different bars for 2022-07-01"):
        qqq_bars(server, [qqq_bar(JULY_1), qqq_bar(JULY_1, close=1.9)])


@pytest.mark.parametrize("body, message", [
    ({"status": "OK", "results": [{"o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 1}]},
     "bar 1 has no usable time .t=None."),
    ({"status": "OK", "results": [qqq_bar("yesterday")]}, "no usable time .t='yesterday'"),
    ({"status": "OK", "results": [qqq_bar(JULY_1, close="n/a")]},
     "QQQ on 2022-07-01: unusable bar"),
    ({"status": "OK", "results": {"o": 1.0}}, "'results' that are not a list of bars"),
    ({"status": "OK", "results": [1, 2]}, "'results' holding something other than objects"),
    ({"status": "OK", "results": "none"}, "'results' of type str"),
    (None, "JSON NoneType where an object belongs"),
    ([qqq_bar(JULY_1)], "JSON list where an object belongs"),
], ids=["no-t", "t-text", "price-text", "results-object", "results-numbers", "results-text",
        "null", "bare-list"])
def test_a_malformed_answer_is_a_clear_error_not_a_traceback(server, body, message):
    server.fail(AGGS + "QQQ/", 200, json.dumps(body))
    with pytest.raises(DataError, match=message):
        make_source(server).raw_bars("QQQ", pd.Timestamp("2022-07-01"),
                                     pd.Timestamp("2022-07-05"))


class RepeatingPages(FakePolygon):
    """Answers QQQ's bars with the same page and the same ``next_url`` for ever."""

    def route(self, path, query, headers):
        if not path.startswith(AGGS + "QQQ/"):
            return super().route(path, query, headers)
        return 200, {"status": "OK", "results": [qqq_bar(JULY_1)] * 50,
                     "next_url": f"{self.PUBLIC_HOST}{path}?cursor=c2FtZQ"}, {}


def test_a_next_url_that_repeats_for_ever_is_stopped():
    with RepeatingPages() as fake:
        with pytest.raises(DataError, match="more than 740 day bars of QQQ .*next_url"):
            make_source(fake).raw_bars("QQQ", pd.Timestamp("2022-07-01"),
                                       pd.Timestamp("2022-07-06"))  # (the 2022 file)
        assert fake.count(AGGS + "QQQ/") == 15


# ---------------------------------------------------------------------- free tier
def test_free_tier_limiter_keeps_every_minute_under_five_requests(server, tmp_path):
    clock = FakeClock()
    stamps = []
    limiter = RateLimiter(5, 60.0, clock=clock)
    acquire = limiter.acquire
    limiter.acquire = lambda: (acquire(), stamps.append(clock.monotonic()))[0]
    source = make_source(server, tmp_path, limiter=limiter, clock=clock, free=True)
    source.bars("SPY", "2021-01-04", "2024-06-28")  # 4 years x (bars, yields, inflation)
    sent = source.requests
    assert sent == limiter.acquired == len(stamps) > 10
    stamps = np.array(stamps)
    for t in stamps:
        assert ((stamps >= t) & (stamps < t + 60.0)).sum() <= 5
    assert clock.now - 1_700_000_000.0 >= (sent - 5) // 5 * 60.0


def test_free_tier_limiter_is_shared_by_the_whole_process(server):
    a = PolygonSource(server.api_key, base=server.base, free=True, now=NOW)
    b = PolygonSource(server.api_key, base=server.base, free=True, now=NOW)
    assert a.limiter is b.limiter is polygon_free_limiter()
    assert (a.limiter.calls, a.limiter.period) == (5, 60.0)
    assert "free tier" in a.describe()


def test_free_tier_history_stays_within_two_years(server):
    source = make_source(server, free=True, limiter=RateLimiter(1000, 1.0, clock=FakeClock()))
    start, end = source.window("SPY")
    assert end == pd.Timestamp("2026-11-20")
    assert start >= end - pd.DateOffset(years=2)


# ---------------------------------------------------------------------- keys never leak
def test_the_key_never_reaches_logs_errors_or_cache_files(tmp_path, caplog):
    key = "pk-secret-9f8e7d6c5b4a"
    caplog.set_level(logging.DEBUG)
    with FakePolygon(api_key=key, page_size=100) as fake:
        source = PolygonSource(key, base=fake.base, cache=ParquetCache(tmp_path), now=NOW,
                               clock=FakeClock(), policy=RetryPolicy(attempts=2))
        source.bars("SPY", "2024-01-02", "2024-03-28")
        source.option_chain("SPY").chain("2024-03-01")
        fake.fail(AGGS, 429, {"status": "ERROR", "error": "too many"}, times=5)
        fake.fail("/fed", 500, {"status": "ERROR", "error": f"echo {key}"}, times=5)
        errors = []
        for call in (lambda: source.raw_bars("QQQ", pd.Timestamp("2024-01-02"),
                                             pd.Timestamp("2024-01-05")),
                     lambda: source.rates("2019-01-02", "2019-03-01")):
            with pytest.raises(ApiError) as info:
                call()
            errors.append(str(info.value))
        sent = [r.headers.get("authorization") for r in fake.requests]
    assert sent[0] == f"Bearer {key}"  # the key was really used...
    assert "***" in errors[1]  # ...an error echoing it is masked
    assert not any(key in text for text in errors)
    assert key not in caplog.text and caplog.text  # urllib3 and our debug lines were captured
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert key.encode() not in path.read_bytes(), path
        assert key not in str(path)


# ---------------------------------------------------------------------- --source polygon
def test_make_source_builds_polygon_from_the_environment_without_a_request(server, monkeypatch,
                                                                           tmp_path):
    from feeds.sources import make_source

    monkeypatch.setenv("MASSIVE_API_KEY", server.api_key)
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("UNUSUAL_WHALES_API_KEY", raising=False)
    monkeypatch.setenv("POLYGON_API_BASE", server.base + "/")
    seen = server.count()
    source = make_source("polygon", cache=ParquetCache(tmp_path), free=True)
    assert isinstance(source, PolygonSource) and source.free
    assert source.client.BASE == server.base  # trailing slash dropped
    assert server.count() == seen  # nothing is fetched before bars are asked for
    assert source.check_symbol(" spy ") == "SPY"
