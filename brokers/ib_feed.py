"""Live bars from IB as a backtrader feed: historical backfill, then live bars.

``IBData`` first delivers completed historical bars (``reqHistoricalData``) so indicators
warm up, then live bars, one of two ways:

* ``live='realtime'``: IB's 5-second real-time bars, resampled to ``bar_size`` (a bar is
  delivered as soon as the 5-second bar that ends its period arrives, or when a bar of a
  later period shows up); a daily bar is built from the session's 5-second bars and
  delivered with the one ending the session (13:00 on half-days), or, with ``decide_at``
  (e.g. ``"15:45"``), built from the 5-second bars up to that time and delivered then
  (later 5-second bars of that date make no second bar). When the 5-second bar that ends
  a bar never comes (none follows the close with regular hours), the bar goes out on the
  feed's clock, IB's time as its 5-second bars tell it, ``close_grace`` (10, ``paper
  --close-grace``; 0 to below ``CLOSE_GRACE_LIMIT``) seconds after its end, never before
  (``_close_by_clock``). A bar already forming when the
  feed starts (a mid-session start) begins as IB's bar so far, which the 5-second bars
  continue (its open, high/low over both, volume added), so it is the whole bar, not just
  the part seen since start;
* ``live='keep_up'``: ``reqHistoricalData(keepUpToDate=True)`` bars of ``bar_size``; a bar
  is delivered when IB starts the next one.

Time (``brokers.bar_times``): the datetime line holds each bar's true instant (UTC, as
backtrader expects), so ``data.datetime.datetime(0)`` is the bar's time in ``tz``
(America/New_York by default) whatever the season: intraday bars are stamped with their
start, daily bars with their session's close or the decision time. ``tz`` only changes
what is shown: ``exchange_date()`` is the bar's New York date (a daily bar's session date)
in any zone, which the broker, the warm-up and the models date bars by; ``date(0)`` equals
it only in New York (a session's close is the next morning in Tokyo).

Bars travel from the store's loop thread through a queue; ``_load`` waits on it at most
``qcheck`` seconds, so backtrader's loop keeps turning (broker notifications) without any
``sleep``. After a reconnect the store re-subscribes: keep_up bars come back with their
recent history; real-time bars first re-fetch the bars missed while disconnected from
historical data (completed ones are delivered, the one forming is continued by the
5-second bars; a bar half built from 5-second bars before the drop is replaced by IB's
complete one). Bars at or before the last delivered one are dropped, so nothing is
delivered twice and nothing is missing. The feed has every line of
``feeds.MarketData`` (extra lines read NaN) so all our indicators accept it.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import math
import queue
import time
from time import monotonic
from zoneinfo import ZoneInfo

import backtrader as bt
from ib_async import Stock

from brokers.bar_times import (
    EXCHANGE_TZ,
    REGULAR_CLOSE,
    REGULAR_OPEN,
    BarClock,
    exchange_date,
    from_epoch,
    now_local,
    parse_decide_at,
    to_num,
)
from brokers.ib_store import HistoryTimeout, IBError, IBStore
from feeds.base import EXTRA_COLUMNS

BAR_SECONDS = {"5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30, "1 min": 60,
               "2 mins": 120, "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900,
               "20 mins": 1200, "30 mins": 1800, "1 hour": 3600, "2 hours": 7200,
               "3 hours": 10800, "4 hours": 14400, "8 hours": 28800, "1 day": 86400}
_DAY = 86400
log = logging.getLogger("btml.ib")
#: ``close_grace`` must stay below the shortest night, from a regular session's close
#: (16:00) to the next open (09:30), 17 h 30 min: a grace that long could never let a bar
#: out on the clock before the next session, whose first 5-second bar closes it anyway
CLOSE_GRACE_LIMIT = _DAY - (dt.datetime.combine(dt.date.min, REGULAR_CLOSE)
                            - dt.datetime.combine(dt.date.min, REGULAR_OPEN)).seconds


def check_close_grace(seconds: float) -> float:
    """``seconds`` as a ``close_grace``, else ValueError naming it (``close_grace=...``):
    a finite number from 0 (the bar goes out at its end on the feed's clock, a late last
    5-second bar is then lost) to below ``CLOSE_GRACE_LIMIT``. The paper settings and the
    feed refuse the same values with it."""
    if not (isinstance(seconds, int | float) and math.isfinite(seconds)
            and 0 <= seconds < CLOSE_GRACE_LIMIT):
        raise ValueError(f"close_grace={seconds!r} is invalid: must be a number of seconds "
                         f"from 0 to below {CLOSE_GRACE_LIMIT} (17 h 30 min, the night from "
                         f"a 16:00 close to the next 09:30 open: a longer grace would hold "
                         f"the day's bar until the next session)")
    return float(seconds)


class _Realtime:
    """A real-time subscription: the 5-second bar list once started, and the catch-up
    task that starts it after a reconnect."""

    def __init__(self):
        self.bars = None
        self.task: asyncio.Task | None = None


class IBData(bt.feed.DataBase):
    """Backfilled live bars of one stock; ``dataname`` is the IB symbol (e.g. 'SPY')."""

    lines = EXTRA_COLUMNS
    params = (
        ("store", None),
        ("bar_size", "1 day"),
        ("backfill", "1 Y"),
        ("live", "realtime"),
        ("what", "TRADES"),
        ("use_rth", True),
        ("tz", "America/New_York"),
        ("decide_at", None),
        ("max_live_bars", None),
        ("qcheck", 0.5),
        ("close_grace", 10.0),
    )

    def __init__(self):
        if self.p.bar_size not in BAR_SECONDS:
            raise ValueError(f"bar_size must be one of {', '.join(BAR_SECONDS)}, "
                             f"got {self.p.bar_size!r}")
        if self.p.live not in ("realtime", "keep_up"):
            raise ValueError(f"live must be 'realtime' or 'keep_up', got {self.p.live!r}")
        self.seconds = BAR_SECONDS[self.p.bar_size]
        check_close_grace(self.p.close_grace)
        ZoneInfo(self.p.tz)  # an unknown zone fails here, not in backtrader's display
        decide_at = parse_decide_at(self.p.decide_at)
        if decide_at is not None and (self.seconds < _DAY or self.p.live != "realtime"):
            raise ValueError("decide_at needs bar_size '1 day' and live 'realtime' (the day's "
                             "bar is built from 5-second bars)")
        self.clock = BarClock(self.seconds, self.p.use_rth, decide_at)
        self.backfilling = False
        self.live_bars = 0
        self.last_bar_received: float | None = None
        #: ``time.perf_counter()`` when the last bar was handed to backtrader (the status
        #: line's decision latency counts from here)
        self.filled_at = 0.0
        #: the feed's clock: (epoch of IB's time, ``monotonic()`` then), set by each
        #: 5-second bar as it arrives (its end) or at start (the machine's time); and how
        #: often it was read to close a bar whose last 5-second bar did not come
        self._heard: tuple[float, float] | None = None
        self.clock_checks = 0

    def islive(self) -> bool:
        return True

    def exchange_date(self, ago: int = 0) -> dt.date:
        """The New York date of bar ``ago`` (its session's date), whatever ``tz`` shows."""
        return exchange_date(self, ago)

    def haslivedata(self) -> bool:
        return bool(self._backfill) or not self._queue.empty()

    # ------------------------------------------------------------------ start / stop
    def start(self):
        super().start()
        store: IBStore = self.p.store
        self._queue: queue.Queue = queue.Queue()
        self._backfill: collections.deque = collections.deque()
        self._pending: list | None = None  # the bar being built from 5-second bars
        self._last_dt: dt.datetime | None = None
        self._announced_live = False
        self.contract = store.qualify(Stock(self.p.dataname, "SMART", "USD"))[0]
        history = store.historical_bars(self.contract, self.p.backfill, self.p.bar_size,
                                        self.p.what, self.p.use_rth)
        if not history:  # the indicators would start cold and trade on it: refuse
            hours = "regular hours" if self.p.use_rth else "all hours"
            raise IBError(f"IB sent no historical bars of {self.p.dataname} for the backfill "
                          f"({self.p.backfill} of {self.p.bar_size} {self.p.what} bars, "
                          f"{hours}): check its market data permissions, that --backfill "
                          f"covers trading sessions and that TWS/Gateway's historical data "
                          f"farm (HMDS) is connected")
        now = now_local()
        self._heard = (now.replace(tzinfo=EXCHANGE_TZ).timestamp(), monotonic())
        for bar in history:
            when, complete = self.clock.history(bar.date)
            if complete <= now:
                self._backfill.append((when, bar.open, bar.high, bar.low, bar.close,
                                       bar.volume))
            elif self.p.live == "realtime":
                # IB's bar so far (a mid-session start): the 5-second bars continue it, as
                # after a reconnect; without it the bar would hold only what came since start
                self._queue.put(self._forming(bar, now))
            # keep_up: IB's keepUpToDate stream sends the forming bar whole itself
        self.put_notification(self.DELAYED)
        self._sub = store.subscribe(self._subscribe, self._unsubscribe)

    def stop(self):
        super().stop()
        if getattr(self, "_sub", None) is not None:
            self.p.store.unsubscribe(self._sub)
            self._sub = None

    def _subscribe(self, ib):
        """On the store's loop: start the live subscription, hook it to our queue. After
        a reconnect (a bar was delivered already) real-time bars first catch up on the
        bars missed while disconnected, from historical data."""
        if self.p.live == "realtime":
            handle = _Realtime()
            if self._last_dt is None:
                handle.bars = self._realtime(ib)
            else:
                handle.task = asyncio.ensure_future(self._catch_up(ib, handle))
            return handle
        return asyncio.ensure_future(self._keep_up(ib))

    def _realtime(self, ib):
        bars = ib.reqRealTimeBars(self.contract, 5, self.p.what, self.p.use_rth)
        bars.updateEvent += self._on_realtime
        return bars

    async def _catch_up(self, ib, handle: _Realtime) -> None:
        """Queue the completed bars after the last delivered one (and the bar now forming,
        to continue from), then start the 5-second bars again."""
        since = self._last_dt
        now = now_local()
        seconds = max((now - since).total_seconds(), 0.0) + 2 * self.seconds
        duration = (f"{math.ceil(seconds / _DAY) + 1} D" if self.seconds >= _DAY
                    or seconds > _DAY else f"{math.ceil(seconds)} S")
        try:
            bars = await self.p.store.fetch_history(self.contract, duration, self.p.bar_size,
                                                    self.p.what, self.p.use_rth)
        except Exception as exc:  # the gap stays; live bars must go on regardless
            log.warning("%s: could not re-fetch the bars missed while disconnected: %r",
                        self.p.dataname, exc)
            bars = []
        for bar in bars:
            when, complete = self.clock.history(bar.date)
            if complete > now:  # the bar forming: 5-second bars continue it
                self._queue.put(self._forming(bar, now))
            else:
                self._queue.put(("bar", when, bar.open, bar.high, bar.low, bar.close,
                                 bar.volume))
        handle.bars = self._realtime(ib)

    def _forming(self, bar, now: dt.datetime) -> tuple:
        """The queue item of IB's bar still forming at ``now`` (at start or after a
        reconnect): a ``seed`` the 5-second bars continue (``_ingest`` keeps its open, takes
        the max/min of the highs/lows, the last close, and adds their volume to IB's, which
        holds only the trades before the request, so nothing is counted twice), or a whole
        ``bar`` when it is a daily bar whose decision time has already passed."""
        kind, when = "seed", self.clock.seed_stamp(bar.date)
        if self.clock.daily and when <= now:  # its decision time passed meanwhile
            kind = "bar"
        return (kind, when, bar.open, bar.high, bar.low, bar.close, bar.volume)

    def _unsubscribe(self, ib, handle) -> None:
        if self.p.live == "realtime":
            if handle.task is not None and not handle.task.done():
                handle.task.cancel()
            if handle.bars is not None:
                ib.cancelRealTimeBars(handle.bars)
        elif not handle.done():
            handle.cancel()
        elif not handle.cancelled() and handle.exception() is None:
            ib.cancelHistoricalData(handle.result())

    async def _keep_up(self, ib):
        duration = f"{max(2 * self.seconds, 60)} S" if self.seconds < _DAY else "5 D"
        bars = await ib.reqHistoricalDataAsync(self.contract, "", duration, self.p.bar_size,
                                               self.p.what, self.p.use_rth,
                                               keepUpToDate=True)
        for bar in bars[:-1]:  # completed ones; anything already delivered is dropped later
            self._queue.put(("bar", self.clock.history(bar.date)[0], bar.open, bar.high,
                             bar.low, bar.close, bar.volume))
        bars.updateEvent += self._on_keep_up
        return bars

    def _on_realtime(self, bars, has_new: bool) -> None:
        b = bars[-1]
        self._heard = (b.time.timestamp() + 5, monotonic())  # IB's time: the bar's end
        self._queue.put(("5s", b.time.timestamp(), b.open_, b.high, b.low, b.close, b.volume))
        del bars[:-1]  # ib_async keeps every bar otherwise

    def _on_keep_up(self, bars, has_new: bool) -> None:
        if has_new and len(bars) >= 2:
            b = bars[-2]
            self._queue.put(("bar", self.clock.history(b.date)[0], b.open, b.high, b.low,
                             b.close, b.volume))

    # ------------------------------------------------------------------ bars
    def _load(self):
        if self._backfill:
            self.backfilling = True
            return self._fill(*self._backfill.popleft())
        self.backfilling = False
        if not self._announced_live:
            self._announced_live = True
            self.put_notification(self.LIVE)
        if self.p.max_live_bars is not None and self.live_bars >= self.p.max_live_bars:
            return False
        if self.p.store.gave_up:  # no bar will ever come: stop the run with the reason
            raise IBError(self.p.store.gave_up)
        wait = self._qcheck
        while True:
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                bar = self._close_by_clock()
                if bar is None:
                    return None
                self.live_bars += 1
                return self._fill(*bar)
            wait = 0
            bar = self._ingest(item)
            if bar is not None:
                self.live_bars += 1
                return self._fill(*bar)

    def _ingest(self, item) -> tuple | None:
        """A completed bar from a queue item, if the item completes one."""
        kind, *values = item
        when = values[0]
        if kind in ("bar", "seed"):
            if self._delivered(when):
                return None
            if self._pending is not None and self._same_or_before(self._pending[0], when):
                self._pending = None  # a bar built from 5-second bars before a drop
            if kind == "seed":  # the bar forming at a reconnect: 5-second bars continue it
                self._pending = list(values)
                return None
            return tuple(values)
        epoch, o, h, lo, c, v = values
        self.last_bar_received = epoch
        stamp, place = self.clock.place(from_epoch(epoch))
        if self._delivered(stamp):
            return None
        done = None
        if self._pending is not None and (stamp > self._pending[0] or place == "after"):
            done, self._pending = tuple(self._pending), None
        if place == "after":  # past the day's cut: it only closes the day's bar
            return done
        if self._pending is None:
            self._pending = [stamp, o, h, lo, c, v]
        else:
            p = self._pending
            p[2], p[3], p[4], p[5] = max(p[2], h), min(p[3], lo), c, p[5] + v
        if done is None and place == "last":
            done, self._pending = tuple(self._pending), None
        return done

    def _close_by_clock(self) -> tuple | None:
        """The bar being built from 5-second bars, once the feed's clock says it is over:
        IB sent no 5-second bar that ends it (none comes after the close with regular
        hours, so a missing 15:59:55 bar held the day's bar until the next session). The
        clock is IB's time as its bars tell it (the end of the last 5-second bar, plus
        the time since it came), so it never runs ahead of TWS; the bar goes out
        ``close_grace`` seconds after its end (the cut: the session's close from the
        exchange calendar, 13:00 on a half day, or ``decide_at``), time for a late last
        5-second bar to arrive. Not while the connection is down or the subscription is
        catching up: the bars re-fetched after a reconnect complete it instead."""
        self.clock_checks += 1
        heard, handle = self._heard, getattr(getattr(self, "_sub", None), "handle", None)
        if self._pending is None or heard is None or self.p.live != "realtime" or \
                getattr(handle, "bars", None) is None or \
                not self.p.store.connected.is_set():
            return None
        end = self.clock.slot(self._pending[0])[1].replace(tzinfo=EXCHANGE_TZ).timestamp()
        now = heard[0] + (monotonic() - heard[1])
        if now < end + self.p.close_grace:
            return None
        done, self._pending = tuple(self._pending), None
        log.info("%s: the bar of %s closed on the clock (IB sent no 5-second bar ending it)",
                 self.p.dataname, done[0])
        return done

    def _same_or_before(self, a: dt.datetime, b: dt.datetime) -> bool:
        """``a`` is not after ``b``: for daily bars compare dates, as one date's bar may be
        stamped at the decision time (live) or at the close (IB's history)."""
        return a.date() <= b.date() if self.clock.daily else a <= b

    def _delivered(self, when: dt.datetime) -> bool:
        return self._last_dt is not None and self._same_or_before(when, self._last_dt)

    def _fill(self, when, o, h, lo, c, v) -> bool:
        self._last_dt = when
        self.lines.datetime[0] = to_num(when)
        self.lines.open[0], self.lines.high[0], self.lines.low[0] = o, h, lo
        self.lines.close[0], self.lines.volume[0] = c, v
        self.lines.openinterest[0] = 0.0
        for name in EXTRA_COLUMNS:
            getattr(self.lines, name)[0] = math.nan
        self.filled_at = time.perf_counter()
        return True


def session_minute_bars(store: IBStore, symbol: str, session, now: bool = False,
                        tz: str = "America/New_York"):
    """One session's 1-minute TRADES bars (regular hours) of ``symbol`` as a DataFrame
    (open, high, low, close, volume) indexed by the bar's start, tz-naive ``tz`` time.

    ``session`` is the date; ``now`` asks for the bars IB has so far (the session is today),
    else the request ends at the session's close. Only bars of that date are kept. Raises
    ``IBError`` (unknown contract, pacing, no answer in time)."""
    import pandas as pd

    from feeds.calendar import nyse

    day = pd.Timestamp(session).normalize()
    contract = store.qualify(Stock(symbol, "SMART", "USD"))[0]
    end = "" if now else nyse().session_close(day).to_pydatetime()
    try:
        bars = store.historical_bars(contract, "1 D", "1 min", "TRADES", True, end=end)
    except HistoryTimeout as exc:
        raise IBError(f"IB sent no 1-min bars of {symbol} for {day:%Y-%m-%d} within "
                      f"{store.settings.request_timeout:g} s") from exc
    zone = ZoneInfo(tz)
    rows = {}
    for bar in bars:
        when = bar.date
        if not isinstance(when, dt.datetime):  # a daily bar: not a minute of the session
            continue
        if when.tzinfo is not None:
            when = when.astimezone(zone).replace(tzinfo=None)
        rows[pd.Timestamp(when)] = (bar.open, bar.high, bar.low, bar.close, bar.volume)
    frame = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["open", "high", "low", "close", "volume"])
    frame.index = pd.DatetimeIndex(frame.index, name="time")
    return frame[frame.index.normalize() == day].sort_index().astype(float)
