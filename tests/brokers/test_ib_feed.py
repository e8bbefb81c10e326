"""The IB feed: 5-second bars resampled, keepUpToDate bars, and pacing (error 162).

Times are New York wall-clock times (the feed's default zone); the fake TWS gets epochs
computed from them with zoneinfo and sends historical bars with their zone, as TWS does."""

from __future__ import annotations

import datetime as dt

import pytest
from ib_async import Stock

from brokers.ib_store import IBError, IBStore
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    FAST,
    NEW_YORK,
    PaperRun,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    ny_epoch,
)

START = dt.datetime(2024, 1, 2, 9, 30)  # New York time


def ny(when: dt.datetime) -> dt.datetime:
    """A naive New York time as the aware datetime the fake TWS sends with its zone."""
    return when.replace(tzinfo=NEW_YORK)


def minute_history(n: int = 60) -> list[tuple]:
    return [(ny(START + dt.timedelta(minutes=i)), 100.0 + i % 5,
             101.0 + i % 5, 99.0 + i % 5, 100.5 + i % 5, 500.0) for i in range(n)]


def bars_of(data, n: int) -> list[tuple]:
    """The last ``n`` bars the feed delivered: (datetime, open, high, low, close, volume)."""
    out = []
    for ago in range(n - 1, -1, -1):
        out.append((data.datetime.datetime(-ago), data.open[-ago], data.high[-ago],
                    data.low[-ago], data.close[-ago], data.volume[-ago]))
    return out


@pytest.fixture
def tws():
    with FakeTWS() as fake:
        fake.add_stock("SPY", 756733, price=100.0)
        fake.set_history("SPY", minute_history())
        yield fake


def test_realtime_5s_bars_resampled_to_minutes(tws, ib_log):
    history = [(START.date(), 0, 0, 0, 0, 0)]
    settings = {"bar_size": "1 min", "trade_start": START.date()}
    minute = START + dt.timedelta(minutes=60)
    with PaperRun(tws, history, [None, None], strategy="scripted", actions={},
                  settings=settings) as run:
        for k in range(12):  # 10:30:00 .. 10:30:55: the bar closes on the 12th
            price = 200.0 + 0.1 * k
            tws.push_bar("SPY", ny_epoch(minute + dt.timedelta(seconds=5 * k)), price,
                         210.0 if k == 4 else price + 0.5, 190.0 if k == 7 else price - 0.5,
                         price + 0.25, 10.0)
        run.wait_bars(1, "the 10:30 bar as soon as its last 5-second bar arrived")
        for k in range(12, 24):
            tws.push_bar("SPY", ny_epoch(minute + dt.timedelta(seconds=5 * k)), 300.0, 301.0,
                         299.0, 300.5, 1.0)
        run.join()
    first, second = bars_of(run.datas[0], 2)
    assert first[0] == minute
    assert first[1:] == pytest.approx((200.0, 210.0, 190.0, 201.35, 120.0))
    assert second == (minute + dt.timedelta(minutes=1), 300.0, 301.0, 299.0, 300.5, 12.0)
    assert len(run.datas[0]) == 62  # 60 backfilled minutes + 2 live ones


def test_keep_up_to_date_bars_close_when_the_next_one_starts(tws, ib_log):
    history = [(START.date(), 0, 0, 0, 0, 0)]
    settings = {"bar_size": "1 min", "live": "keep_up", "trade_start": START.date()}
    minute = START + dt.timedelta(minutes=60)
    with PaperRun(tws, history, [None, None], strategy="scripted", actions={},
                  settings=settings) as run:
        for close in (150.0, 152.0, 151.0):  # the 10:30 bar, updated three times
            tws.push_bar("SPY", ny_epoch(minute), 150.0, 152.0, 149.0, close, 30.0)
        tws.push_bar("SPY", ny_epoch(minute + dt.timedelta(minutes=1)), 151.0, 151.0,
                     151.0, 151.0, 1.0)
        run.wait_bars(1, "10:30 delivered when 10:31 starts")
        tws.push_bar("SPY", ny_epoch(minute + dt.timedelta(minutes=2)), 153.0, 153.0,
                     153.0, 153.0, 1.0)
        run.join()
    assert bars_of(run.datas[0], 2) == [
        (minute, 150.0, 152.0, 149.0, 151.0, 30.0),
        (minute + dt.timedelta(minutes=1), 151.0, 151.0, 151.0, 151.0, 1.0)]


def test_realtime_bars_missed_while_disconnected_are_refetched(tws, ib_log):
    """Real-time mode: after a reconnect (forced here by error 1101) the minutes missed
    while disconnected come from historical data before 5-second bars resume; the minute
    half built from 5-second bars before the drop is replaced by IB's complete bar; no
    minute is delivered twice or missing."""
    ib_log.allow(r"Error 1101", r"Peer closed connection", r"API connection failed")
    history = [(START.date(), 0, 0, 0, 0, 0)]
    settings = {"bar_size": "1 min", "trade_start": START.date()}
    minute = START + dt.timedelta(minutes=60)  # 10:30, the first live minute
    with PaperRun(tws, history, [None] * 5, strategy="scripted", actions={},
                  settings=settings) as run:
        for k in range(12):  # 10:30 complete
            tws.push_bar("SPY", ny_epoch(minute + dt.timedelta(seconds=5 * k)), 200.0,
                         201.0, 199.0, 200.5, 1.0)
        run.wait_bars(1, "the 10:30 bar")
        for k in range(6):  # half of 10:31, then the link goes
            tws.push_bar("SPY", ny_epoch(minute + dt.timedelta(minutes=1, seconds=5 * k)),
                         900.0, 901.0, 899.0, 900.5, 1.0)
        missed = [(ny(minute + dt.timedelta(minutes=m)),
                   300.0 + m, 302.0 + m, 298.0 + m, 301.0 + m, 50.0) for m in (1, 2, 3)]
        tws.set_history("SPY", minute_history() + missed)  # what IB has meanwhile
        tws.send_error(-1, 1101, "Connectivity between IB and Trader Workstation has been "
                                 "restored - data lost.")
        tws.wait_until(lambda: tws.connects == 2 and tws.subscribers("SPY") == 1,
                       what="reconnected and re-subscribed")
        run.wait_bars(4, "the three missed minutes")
        for k in range(12):  # 10:34 from 5-second bars again
            tws.push_bar("SPY", ny_epoch(minute + dt.timedelta(minutes=4, seconds=5 * k)),
                         400.0, 401.0, 399.0, 400.5, 2.0)
        run.join()
    assert sum(f[0] == "20" for _, f in tws.received) == 2  # backfill + catch-up
    assert bars_of(run.datas[0], 5) == [
        (minute, 200.0, 201.0, 199.0, 200.5, 12.0),
        (minute + dt.timedelta(minutes=1), 301.0, 303.0, 299.0, 302.0, 50.0),
        (minute + dt.timedelta(minutes=2), 302.0, 304.0, 300.0, 303.0, 50.0),
        (minute + dt.timedelta(minutes=3), 303.0, 305.0, 301.0, 304.0, 50.0),
        (minute + dt.timedelta(minutes=4), 400.0, 401.0, 399.0, 400.5, 24.0)]
    assert len(run.datas[0]) == 65  # 60 backfilled minutes + 5 live ones, none twice


def test_pacing_error_162_backs_off_then_gives_up_clearly(tws, ib_log):
    ib_log.allow(r"Error 162", r"Error 200")
    store = IBStore(port=tws.port, client_id=5, **FAST).start()
    try:
        [spy] = store.qualify(Stock("SPY", "SMART", "USD"))
        tws.history_errors["SPY"] = [162, 162]
        bars = store.historical_bars(spy, "3600 S", "1 min")
        assert len(bars) == 60
        assert sum(f[0] == "20" for _, f in tws.received) == 3
        tws.history_errors["SPY"] = [162] * 4
        with pytest.raises(IBError, match="refused 4 times with error 162"):
            store.historical_bars(spy, "3600 S", "1 min")
        with pytest.raises(IBError, match="no .*contract for QQQQ STK"):
            store.qualify(Stock("QQQQ", "SMART", "USD"))
    finally:
        store.stop()
