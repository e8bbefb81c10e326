"""The date of the current bar, as ``line.date(0)`` gives it, without its cost on daily bars.

backtrader's ``num2date`` splits a date number into hours, minutes, seconds and
microseconds on every call, a tenth of an analyzer's per-bar time. A daily bar's number
is a whole day (midnight) and, without a timezone, its date is the day of that ordinal,
exactly what ``num2date`` returns for it; any other number (intraday bars, a feed with a
timezone) goes through backtrader's ``date(0)``.
"""

from __future__ import annotations

import datetime

import backtrader as bt


def bar_date(line) -> datetime.date:
    """``line.date(0)`` of a backtrader datetime line (a ``LineBuffer``)."""
    number = line[0]
    if line._tz is None and number.is_integer():
        return datetime.date.fromordinal(int(number))
    return line.date(0)


def number_date(number: float, tz=None) -> datetime.date:
    """``bt.num2date(number, tz=tz, naive=True).date()``: the date of a bar's number read
    from a buffer after the run (``tz``: the datetime line's ``_tz``)."""
    if tz is None and number.is_integer():
        return datetime.date.fromordinal(int(number))
    return bt.num2date(number, tz=tz, naive=True).date()
