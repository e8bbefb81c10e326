"""When a live IB bar starts, ends and is stamped, in the exchange's time.

IB stamps bars three ways (``shared/IB_PROTOCOL.md``, historicalData): intraday bars as
``YYYYMMDD HH:MM:SS <zone>`` (ib_async turns them into aware datetimes), 5-second
real-time bars as epoch seconds, and daily bars as a bare ``YYYYMMDD`` date. The feed works
in naive New York wall-clock time (the exchange's clock: sessions, DST and half-days come
from exchange-calendars) and stores the true instant in backtrader's datetime line (UTC, as
backtrader expects; ``data.datetime.datetime(0)`` converts it back to the feed's ``tz``).

A bar is stamped with its start (intraday) and a daily bar with its session's close
(16:00, 13:00 on a half-day), so ``date(0)`` of a daily bar is its session date. With a
decision time (``decide_at``) a live daily bar is cut at that time instead and stamped with
it. Intraday bars of regular-hours data are cut to the session: the bar holding the open
is stamped at the open (IB's hourly bars start 09:30), the bar holding the close ends there.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import backtrader as bt
import pandas as pd

from core.errors import DataError

#: the time zone of the exchange calendar the feed follows (NYSE)
EXCHANGE_TZ = ZoneInfo("America/New_York")
REGULAR_OPEN = dt.time(9, 30)
REGULAR_CLOSE = dt.time(16, 0)
_DAY = 86400
_FIVE = dt.timedelta(seconds=5)


def parse_decide_at(value: str | dt.time | None) -> dt.time | None:
    """``decide_at`` as a time: ``HH:MM`` strictly after the 09:30 open and at most the
    16:00 close (New York time). None stays None (decide at the close)."""
    if value is None or isinstance(value, dt.time):
        when = value
    else:
        try:
            when = dt.datetime.strptime(str(value).strip(), "%H:%M").time()
        except ValueError:
            raise DataError(f"--decide-at must be HH:MM (New York time), e.g. 15:45; "
                            f"got {value!r}") from None
    if when is not None and not REGULAR_OPEN < when <= REGULAR_CLOSE:
        raise DataError(f"--decide-at {when:%H:%M} is outside regular hours: give a time "
                        f"after 09:30 and at most 16:00 (New York time)")
    return when


@lru_cache(maxsize=4096)
def session_hours(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The regular session of ``day`` as naive New York times (open, close): from the NYSE
    calendar on a session (13:00 close on half-days), 09:30-16:00 on any other day (tests
    and dates beyond the calendar's span)."""
    from feeds.calendar import nyse

    regular = (dt.datetime.combine(day, REGULAR_OPEN), dt.datetime.combine(day, REGULAR_CLOSE))
    calendar = nyse()
    stamp = pd.Timestamp(day)
    if not calendar.first_session <= stamp <= calendar.last_session or \
            not calendar.is_session(stamp):
        return regular
    return (local(calendar.session_open(stamp).to_pydatetime()),
            local(calendar.session_close(stamp).to_pydatetime()))


def local(when: dt.datetime) -> dt.datetime:
    """Naive New York wall-clock time of ``when``; a naive time is taken as New York time
    already (IB's old ``YYYYMMDD  HH:MM:SS`` format carries no zone)."""
    return when.astimezone(EXCHANGE_TZ).replace(tzinfo=None) if when.tzinfo else when


def exchange_date(data, ago: int = 0) -> dt.date:
    """The New York date of the instant of ``data``'s bar ``ago`` (a feed whose datetime
    line holds UTC instants, as ``IBData``'s does). ``data.datetime.date(ago)`` is the date
    in the feed's display zone (``--timezone``): in Tokyo a session's 16:00 close is the
    next morning, and bars from 10:00 New York on fall on the next date. Session dates,
    expiries, days to expiry and daily-loss days are New York dates, so they come from
    here whatever the display zone."""
    instant = bt.num2date(data.datetime[ago]).replace(tzinfo=dt.UTC)
    return local(instant).date()


def from_epoch(epoch: float) -> dt.datetime:
    """Naive New York wall-clock time of an epoch (a real-time bar's start)."""
    return local(dt.datetime.fromtimestamp(epoch, dt.UTC))


def now_local() -> dt.datetime:
    return dt.datetime.now(EXCHANGE_TZ).replace(tzinfo=None)


def to_num(when: dt.datetime) -> float:
    """Backtrader's datetime number of a naive New York time: the instant, in UTC."""
    return bt.date2num(when.replace(tzinfo=EXCHANGE_TZ))


class BarClock:
    """Which bar a 5-second bar belongs to, and when IB's own bars are stamped and complete,
    for one bar size (seconds), regular hours or not, and an optional daily decision time."""

    def __init__(self, seconds: int, use_rth: bool = True, decide_at: dt.time | None = None):
        self.seconds = seconds
        self.daily = seconds >= _DAY
        self.use_rth = use_rth
        self.decide_at = decide_at

    def cutoff(self, day: dt.date) -> dt.datetime:
        """When the live daily bar of ``day`` is cut: the close, or the decision time."""
        close = session_hours(day)[1]
        if self.decide_at is None:
            return close
        return min(close, dt.datetime.combine(day, self.decide_at))

    def slot(self, start: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """(stamp, end) of the live bar that a bar starting at ``start`` falls in."""
        if self.daily:
            cut = self.cutoff(start.date())
            return cut, cut
        midnight = dt.datetime.combine(start.date(), dt.time())
        offset = (start - midnight).total_seconds()
        begin = midnight + dt.timedelta(seconds=offset - offset % self.seconds)
        end = begin + dt.timedelta(seconds=self.seconds)
        stamp = begin
        if self.use_rth:
            opens, closes = session_hours(start.date())
            if begin < opens < end:
                stamp = opens
            if begin < closes < end:
                end = closes
        return stamp, end

    def place(self, start: dt.datetime) -> tuple[dt.datetime, str]:
        """Where the 5-second bar starting at ``start`` goes: (stamp of its live bar, and
        'in' (inside it), 'last' (the bar that ends it) or 'after' (it ends past the daily
        cut: it belongs to no bar))."""
        stamp, end = self.slot(start)
        finish = start + _FIVE
        if finish > end and self.daily:
            return stamp, "after"
        return stamp, "last" if finish >= end else "in"

    def history(self, date) -> tuple[dt.datetime, dt.datetime]:
        """(stamp, complete-at) of one of IB's bars of this size: a daily bar (a date) is
        stamped and complete at its session's close, an intraday one at its own time and
        complete at its slot's end."""
        if not isinstance(date, dt.datetime):
            close = session_hours(date)[1]
            return close, close
        when = local(date)
        return when, self.slot(when)[1]

    def seed_stamp(self, date) -> dt.datetime:
        """Stamp of IB's bar still forming (at start or after a reconnect), which
        5-second bars continue: a daily one carries the day's cut time."""
        if not isinstance(date, dt.datetime):
            return self.cutoff(date)
        return local(date)
