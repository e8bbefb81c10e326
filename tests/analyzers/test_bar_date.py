"""``bar_date`` gives what backtrader's ``line.date(0)`` gives: daily bars (the fast path),
intraday bars and bars of a feed with a timezone (backtrader's path)."""

from __future__ import annotations

import backtrader as bt
import pandas as pd
import pytz

from analyzers.bar_date import bar_date, number_date


def _dates(numbers, tz=None):
    line = bt.LineBuffer()
    line._settz(tz)
    out = []
    for number in numbers:
        line.forward()
        line[0] = number
        out.append((bar_date(line), line.date(0)))
        out.append((number_date(number, tz), line.date(0)))
    return out


def test_daily_intraday_and_timezone_dates_equal_backtraders():
    days = pd.bdate_range("1999-12-27", periods=30)
    minutes = pd.date_range("2024-03-08 23:58", periods=5, freq="min")  # across midnight
    numbers = [bt.date2num(t) for t in [*days.to_pydatetime(), *minutes.to_pydatetime()]]
    numbers.append(float(int(numbers[0])) - 1e-12)  # a hair before midnight
    for tz in (None, pytz.timezone("America/New_York")):
        pairs = _dates(numbers, tz)
        assert all(ours == theirs for ours, theirs in pairs), tz
    eastern = _dates(numbers[:1], pytz.timezone("America/New_York"))[0][0]
    assert eastern == (days[0] - pd.Timedelta(days=1)).date()  # midnight UTC: day before
