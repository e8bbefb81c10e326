"""Bar times on IB, in the paper command's default zone (America/New_York): what the
strategy sees is the exchange's wall-clock time of each bar, the datetime line holds the
bar's true instant, across DST changes, for minute, hourly and daily bars (half-days
included), in realtime and keep_up modes; backfill, live bars and the journal agree.

The fake TWS gets epochs computed from New York wall-clock times with zoneinfo; the
assertions compare what the strategy sees with those epochs."""

from __future__ import annotations

import datetime as dt
import json

import backtrader as bt
import pytest

from brokers.bar_times import BarClock, session_hours
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    NEW_YORK,
    PaperRun,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    ny_epoch,
    ny_time,
)


def ny(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=NEW_YORK)


def seen(data, n: int) -> list[tuple]:
    """The last ``n`` bars as the strategy sees them: (wall-clock time, date, instant as
    epoch seconds, open, high, low, close, volume)."""
    out = []
    for ago in range(n - 1, -1, -1):
        instant = bt.num2date(data.datetime[-ago]).replace(tzinfo=dt.UTC).timestamp()
        out.append((data.datetime.datetime(-ago), data.datetime.date(-ago), round(instant),
                    data.open[-ago], data.high[-ago], data.low[-ago], data.close[-ago],
                    data.volume[-ago]))
    return out


@pytest.fixture
def tws():
    with FakeTWS() as fake:
        fake.add_stock("SPY", 756733, price=100.0)
        yield fake


def scripted(tws, n_live: int, first_day: dt.date, **settings) -> PaperRun:
    return PaperRun(tws, [(first_day, 0, 0, 0, 0, 0)], [None] * n_live, strategy="scripted",
                    actions={}, settings={"trade_start": first_day, **settings})


def push_minute(tws, minute: dt.datetime, price: float) -> int:
    """Twelve 5-second bars of one New York minute; returns the minute's epoch."""
    for k in range(12):
        tws.push_bar("SPY", ny_epoch(minute + dt.timedelta(seconds=5 * k)), price,
                     price + 1.0, price - 1.0, price + 0.5, 1.0)
    return ny_epoch(minute)


@pytest.mark.parametrize(("before", "after", "utc_hours"), [
    # second Sunday of March: EST (UTC-5) on Friday, EDT (UTC-4) on Monday
    (dt.date(2024, 3, 8), dt.date(2024, 3, 11), (20, 13)),
    # first Sunday of November: EDT on Friday, EST on Monday
    (dt.date(2024, 11, 1), dt.date(2024, 11, 4), (19, 14)),
])
def test_minute_bars_across_a_dst_change(tws, ib_log, before, after, utc_hours):
    """Friday's 15:59 bar and Monday's 09:30 bar: the strategy sees 15:59 and 09:30 on both
    sides of the change, and the instants are the fake's epochs (UTC hours shift by one)."""
    history = [(ny(dt.datetime.combine(before, dt.time(15, 0)) + dt.timedelta(minutes=i)),
                100.0, 101.0, 99.0, 100.5, 10.0) for i in range(59)]  # 15:00 .. 15:58
    tws.set_history("SPY", history)
    friday = dt.datetime.combine(before, dt.time(15, 59))
    monday = dt.datetime.combine(after, dt.time(9, 30))
    with scripted(tws, 2, before, bar_size="1 min") as run:
        first = push_minute(tws, friday, 200.0)
        run.wait_bars(1, "Friday's last minute")
        second = push_minute(tws, monday, 300.0)
        run.join()
    data = run.datas[0]
    assert seen(data, 3) == [
        (friday - dt.timedelta(minutes=1), before, first - 60, 100.0, 101.0, 99.0, 100.5, 10.0),
        (friday, before, first, 200.0, 201.0, 199.0, 200.5, 12.0),
        (monday, after, second, 300.0, 301.0, 299.0, 300.5, 12.0)]
    assert (ny_time(first), ny_time(second)) == (friday, monday)
    hours = tuple(dt.datetime.fromtimestamp(e, dt.UTC).hour for e in (first, second))
    assert hours == utc_hours


def test_hourly_bars_start_at_the_open_in_new_york_time(tws, ib_log):
    """IB's hourly regular-hours bars are stamped 09:30, 10:00, ..., 15:00 (New York): the
    backfill shows them so, and the live bars built from 5-second bars match: the first
    hour (09:30-10:00) is delivered with its 09:59:55 bar, the last one with 15:59:55."""
    day, live_day = dt.date(2024, 7, 1), dt.date(2024, 7, 2)
    stamps = [dt.datetime.combine(day, dt.time(9, 30))] + [
        dt.datetime.combine(day, dt.time(h)) for h in range(10, 16)]
    tws.set_history("SPY", [(ny(t), 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 50.0)
                            for i, t in enumerate(stamps)])
    at = lambda h, m, s=0: dt.datetime.combine(live_day, dt.time(h, m, s))  # noqa: E731
    with scripted(tws, 3, live_day, bar_size="1 hour") as run:
        for t, price in ((at(9, 30), 200.0), (at(9, 45), 205.0), (at(9, 59, 55), 202.0)):
            tws.push_bar("SPY", ny_epoch(t), price, price + 1, price - 1, price, 1.0)
        run.wait_bars(1, "the 09:30 hour")
        for t, price in ((at(10, 0), 210.0), (at(10, 59, 55), 211.0)):
            tws.push_bar("SPY", ny_epoch(t), price, price + 1, price - 1, price, 1.0)
        run.wait_bars(2, "the 10:00 hour")
        for t, price in ((at(15, 0), 220.0), (at(15, 59, 55), 221.0)):
            tws.push_bar("SPY", ny_epoch(t), price, price + 1, price - 1, price, 1.0)
        run.join()
    bars = seen(run.datas[0], 5)
    assert [b[0] for b in bars] == [at(14, 0) - dt.timedelta(days=1),
                                    at(15, 0) - dt.timedelta(days=1), at(9, 30), at(10, 0),
                                    at(15, 0)]
    assert [b[2] for b in bars] == [ny_epoch(b[0]) for b in bars]
    assert bars[2][3:] == (200.0, 206.0, 199.0, 202.0, 3.0)
    assert bars[4][3:] == (220.0, 222.0, 219.0, 221.0, 2.0)


def test_half_day_daily_bar_is_stamped_at_the_13_00_close(tws, ib_log):
    """The day after Thanksgiving closes at 13:00: the daily bar built from the 5-second
    bars reaches the strategy with the 12:59:55 bar, dated that day at 13:00; backfill
    daily bars carry their own session's close (16:00, and 13:00 on the eve of
    Independence Day)."""
    days = [dt.date(2024, 7, 3), dt.date(2024, 11, 26), dt.date(2024, 11, 27)]
    tws.set_history("SPY", [(d, 100.0, 101.0, 99.0, 100.5, 1e6) for d in days])
    half = dt.date(2024, 11, 29)
    assert session_hours(half)[1] == dt.datetime(2024, 11, 29, 13)
    at = lambda h, m, s=0: ny_epoch(dt.datetime.combine(half, dt.time(h, m, s)))  # noqa: E731
    with scripted(tws, 1, half, bar_size="1 day") as run:
        tws.push_bar("SPY", at(9, 30), 500.0, 501.0, 499.0, 500.5, 100.0)
        tws.push_bar("SPY", at(11, 0), 500.5, 510.0, 500.0, 509.0, 100.0)
        tws.push_bar("SPY", at(12, 59, 55), 509.0, 509.5, 495.0, 496.0, 100.0)
        run.join()
    bars = seen(run.datas[0], 4)
    assert [(b[0], b[1]) for b in bars] == [
        (dt.datetime(2024, 7, 3, 13), dt.date(2024, 7, 3)),
        (dt.datetime(2024, 11, 26, 16), dt.date(2024, 11, 26)),
        (dt.datetime(2024, 11, 27, 16), dt.date(2024, 11, 27)),
        (dt.datetime(2024, 11, 29, 13), half)]
    assert bars[-1][2] == at(13, 0)
    assert bars[-1][3:] == (500.0, 510.0, 495.0, 496.0, 300.0)
    assert any(e.startswith("2024-11-29 13:00:00 SPY 496.00 ") for e in run.events)


def test_keep_up_minute_bars_in_new_york_time(tws, ib_log):
    """keepUpToDate updates carry 'YYYYMMDD HH:MM:SS US/Eastern' (as TWS sends them): the
    bar of 10:30 New York time is seen at 10:30, in summer (EDT) as in winter (EST)."""
    minute = dt.datetime(2024, 7, 2, 10, 30)
    tws.set_history("SPY", [(ny(minute - dt.timedelta(minutes=1)), 100.0, 101.0, 99.0,
                             100.5, 5.0)])
    with scripted(tws, 2, minute.date(), bar_size="1 min", live="keep_up") as run:
        for close in (150.0, 152.0):  # the 10:30 bar, updated twice
            tws.push_bar("SPY", ny_epoch(minute), 150.0, 152.0, 149.0, close, 30.0)
        tws.push_bar("SPY", ny_epoch(minute + dt.timedelta(minutes=1)), 151.0, 151.0,
                     151.0, 151.0, 1.0)
        run.wait_bars(1, "10:30 delivered when 10:31 starts")
        tws.push_bar("SPY", ny_epoch(minute + dt.timedelta(minutes=2)), 153.0, 153.0,
                     153.0, 153.0, 1.0)
        run.join()
    assert [b[:3] for b in seen(run.datas[0], 3)] == [
        (minute - dt.timedelta(minutes=1), minute.date(), ny_epoch(minute) - 60),
        (minute, minute.date(), ny_epoch(minute)),
        (minute + dt.timedelta(minutes=1), minute.date(), ny_epoch(minute) + 60)]


def test_keep_up_daily_bars_are_dated_their_session(tws, ib_log):
    """keepUpToDate daily bars (dated YYYYMMDD): the day's bar, delivered when IB starts the
    next one, is the session's: stamped at its 16:00 close, ``date(0)`` that day."""
    tws.set_history("SPY", [(dt.date(2024, 1, 2), 100.0, 101.0, 99.0, 100.5, 1e6)])
    day = dt.date(2024, 1, 3)
    with scripted(tws, 1, day, bar_size="1 day", live="keep_up") as run:
        for close in (470.0, 471.0):
            tws.push_bar("SPY", ny_epoch(dt.datetime(2024, 1, 3, 10)), 469.0, 472.0, 468.0,
                         close, 1e6)
        tws.push_bar("SPY", ny_epoch(dt.datetime(2024, 1, 4, 9, 30)), 471.0, 471.0, 471.0,
                     471.0, 1.0)
        run.join()
    assert [b[:3] for b in seen(run.datas[0], 2)] == [
        (dt.datetime(2024, 1, 2, 16), dt.date(2024, 1, 2), ny_epoch(dt.datetime(2024, 1, 2, 16))),
        (dt.datetime(2024, 1, 3, 16), day, ny_epoch(dt.datetime(2024, 1, 3, 16)))]


def test_backfill_live_bars_and_the_journal_agree(tws, ib_log):
    """One timeline: the backfill's last 5-second bar is 09:59:55, the live bars 10:00:00
    and 10:00:05 (New York); the order sent on the 10:00:00 bar is journaled with that bar's
    time, and its fill carries the fake's clock (10:00:05, the end of that bar) as its
    instant."""
    start = dt.datetime(2024, 1, 2, 10)
    tws.set_history("SPY", [(ny(start - dt.timedelta(seconds=5 * k)), 470.0, 470.5, 469.5,
                             470.0, 100.0) for k in range(60, 0, -1)])
    actions = {0: lambda s: s.buy(size=10)}
    with PaperRun(tws, [(start.date(), 0, 0, 0, 0, 0)], [None] * 2, strategy="scripted",
                  actions=actions, settings={"trade_start": start.date()}) as run:
        for k in range(2):
            tws.push_bar("SPY", ny_epoch(start + dt.timedelta(seconds=5 * k)), 471.0, 471.5,
                         470.5, 471.0, 10.0)
            if k == 0:
                run.wait(lambda: "Completed" in run.statuses(), what="the fill")
        run.join()
    assert [b[:3] for b in seen(run.datas[0], 3)] == [
        (start - dt.timedelta(seconds=5), start.date(), ny_epoch(start) - 5),
        (start, start.date(), ny_epoch(start)),
        (start + dt.timedelta(seconds=5), start.date(), ny_epoch(start) + 5)]
    journal = run.broker.journal
    [order] = journal.orders()
    assert json.loads(order["detail"])["bar"] == "2024-01-02 10:00:00"
    [fill] = journal.fills()
    assert dt.datetime.fromisoformat(fill["time"]).timestamp() == ny_epoch(start) + 5
    assert ny_time(dt.datetime.fromisoformat(fill["time"]).timestamp()) == \
        start + dt.timedelta(seconds=5)
    executed = [o for o in run.orders if o.status == o.Completed][0]
    assert bt.num2date(executed.executed.dt, tz=NEW_YORK) == start


def test_bar_clock_slots():
    """The clock without a socket: minute and hourly slots, the daily cut (close, half-day
    close, decision time, which never passes the close)."""
    minute = BarClock(60)
    assert minute.place(dt.datetime(2024, 1, 2, 10, 0, 55)) == (
        dt.datetime(2024, 1, 2, 10), "last")
    hourly = BarClock(3600)
    assert hourly.slot(dt.datetime(2024, 1, 2, 9, 31)) == (
        dt.datetime(2024, 1, 2, 9, 30), dt.datetime(2024, 1, 2, 10))
    assert BarClock(3600, use_rth=False).slot(dt.datetime(2024, 1, 2, 9, 31))[0] == \
        dt.datetime(2024, 1, 2, 9)
    assert BarClock(10800).slot(dt.datetime(2024, 1, 2, 15, 5)) == (
        dt.datetime(2024, 1, 2, 15), dt.datetime(2024, 1, 2, 16))
    daily = BarClock(86400, decide_at=dt.time(15, 45))
    assert daily.place(dt.datetime(2024, 1, 2, 15, 44, 55)) == (
        dt.datetime(2024, 1, 2, 15, 45), "last")
    assert daily.place(dt.datetime(2024, 1, 2, 15, 45))[1] == "after"
    assert daily.cutoff(dt.date(2024, 11, 29)) == dt.datetime(2024, 11, 29, 13)
    assert daily.history(dt.date(2024, 11, 29)) == (dt.datetime(2024, 11, 29, 13),) * 2
