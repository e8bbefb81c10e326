"""Trading sessions and listed option expiries from exchange-calendars (NYSE)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

CALENDAR_START = "1995-01-03"
CALENDAR_END = "2030-12-31"


@lru_cache(maxsize=1)
def nyse():
    """The NYSE calendar over the span every source in this project needs."""
    return xcals.get_calendar("XNYS", start=CALENDAR_START, end=CALENDAR_END)


def sessions(start, end) -> pd.DatetimeIndex:
    """NYSE sessions between ``start`` and ``end`` inclusive, tz-naive."""
    out = nyse().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    return pd.DatetimeIndex(out).tz_localize(None)


@lru_cache(maxsize=1)
def _session_array() -> np.ndarray:
    return pd.DatetimeIndex(nyse().sessions).tz_localize(None).values.astype("datetime64[D]")


#: the exchange's zone, and its regular open and close where the calendar has no session
EXCHANGE_TZ = "America/New_York"
_REGULAR = {"open": "09:30", "close": "16:00"}


def session_instants(days, at: str) -> pd.DatetimeIndex:
    """The instants (UTC) the NYSE sessions of ``days`` open or close (``at``), half-days'
    13:00 close included: when a daily bar's market order fills (the open) or its quotes
    and settlements are taken (the close). A day the calendar does not list as a session
    gets the regular 09:30 / 16:00 New York time. The index keeps the name of ``days``."""
    dates = pd.DatetimeIndex(days)
    if dates.tz is not None:
        dates = dates.tz_convert(EXCHANGE_TZ).tz_localize(None)
    day = dates.normalize().to_numpy().astype("datetime64[D]")
    listed, instants = _session_times(at)
    where = np.minimum(np.searchsorted(listed, day), len(listed) - 1)
    found = listed[where] == day
    out = np.where(found, instants[where], np.datetime64("NaT", "ns"))
    if not found.all():  # off the calendar: the regular time in New York
        regular = (pd.DatetimeIndex(day[~found]) + pd.Timedelta(_REGULAR[at] + ":00"))
        out[~found] = regular.tz_localize(EXCHANGE_TZ).tz_convert("UTC").tz_localize(
            None).to_numpy()
    return pd.DatetimeIndex(out, name=dates.name).tz_localize("UTC")


@lru_cache(maxsize=2)
def _session_times(at: str) -> tuple[np.ndarray, np.ndarray]:
    """The calendar's sessions (days) and their open or close instants (UTC, naive ns)."""
    times = nyse().opens if at == "open" else nyse().closes
    days = pd.DatetimeIndex(times.index).tz_localize(None).to_numpy().astype("datetime64[D]")
    return days, times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype(
        "datetime64[ns]")


def expiry_for_friday(friday: np.datetime64) -> np.datetime64:
    """Options expiring on a Friday holiday expire on the session before it (e.g. Good Friday)."""
    days = _session_array()
    if friday < days[0] or friday > days[-1]:
        return friday  # outside the calendar's span no holiday is known: keep the Friday
    i = np.searchsorted(days, friday, side="right") - 1
    return days[i]


@lru_cache(maxsize=4096)
def last_session(day: dt.date) -> dt.date:
    """The last NYSE session on or before ``day``: the day itself on a session, else the
    session before it (a Saturday's Friday, Good Friday's Thursday). An option dated on a
    day the exchange is closed last trades, and settles from the close of, that session.
    Outside the calendar's span the day is kept (no holiday is known there)."""
    return np.datetime64(expiry_for_friday(np.datetime64(day, "D")), "D").item()


def day64(value) -> np.datetime64:
    """``value`` (a date, a timestamp, a datetime64 or a date string) as the day it falls
    on, a ``datetime64[D]``; dates and datetime64 values without going through pandas (the
    option chain asks this for every quote)."""
    if type(value) is dt.date or isinstance(value, np.datetime64):
        return np.datetime64(value, "D")
    return np.datetime64(pd.Timestamp(value).date(), "D")


@lru_cache(maxsize=8192)
def listed_expiries(date: pd.Timestamp, weekly_days: int = 63, monthly_days: int = 200) -> tuple:
    """Expiries listed on ``date``: every Friday up to ``weekly_days`` out, and the monthly
    (third Friday) expiries up to ``monthly_days`` out. Returns sorted ``datetime64[D]``."""
    today = day64(date)
    # 1970-01-02 was a Friday: day-of-week offsets count from it
    first_friday = today + ((np.datetime64("1970-01-02") - today).astype(int) % 7)
    if first_friday == today:
        first_friday = today + 7  # same-day expiries are not offered to new positions
    fridays = first_friday + 7 * np.arange(0, monthly_days // 7 + 1)
    fridays = fridays[fridays <= today + monthly_days]
    day_of_month = (fridays - fridays.astype("datetime64[M]")).astype(int) + 1
    third_friday = (day_of_month >= 15) & (day_of_month <= 21)
    kept = fridays[(fridays <= today + weekly_days) | third_friday]
    # expiry_for_friday of every kept Friday at once (a new backtest day asks for this once,
    # and a Python call per Friday was most of it)
    days = _session_array()
    inside = (kept >= days[0]) & (kept <= days[-1])
    before = days[np.maximum(np.searchsorted(days, kept, side="right") - 1, 0)]
    expiries = np.unique(np.where(inside, before, kept))
    return tuple(expiries[expiries > today])
