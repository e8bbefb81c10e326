"""``feeds.calendar.session_instants``: the instant a daily bar's session opens or closes,
from the NYSE calendar in New York time, across DST changes and half-days."""

from __future__ import annotations

import pandas as pd

from feeds.calendar import session_instants

DAYS = pd.DatetimeIndex(["2024-03-08", "2024-03-11", "2024-11-29", "2024-12-25", "2040-01-03"],
                        name="date")


def test_opens_are_09_30_new_york_on_either_side_of_a_dst_change():
    opens = session_instants(DAYS, "open")
    assert opens.tz is not None and str(opens.tz) == "UTC" and opens.name == "date"
    assert list(opens.strftime("%Y-%m-%d %H:%M")) == [
        "2024-03-08 14:30", "2024-03-11 13:30", "2024-11-29 14:30", "2024-12-25 14:30",
        "2040-01-03 14:30"]
    assert set(opens.tz_convert("America/New_York").strftime("%H:%M")) == {"09:30"}


def test_closes_follow_half_days_and_default_to_16_00_off_the_calendar():
    """2024-11-29 (the day after Thanksgiving) closes at 13:00; Christmas is no session and
    2040 is past the calendar's span: both get the regular close."""
    closes = session_instants(DAYS, "close").tz_convert("America/New_York")
    assert list(closes.strftime("%Y-%m-%d %H:%M")) == [
        "2024-03-08 16:00", "2024-03-11 16:00", "2024-11-29 13:00", "2024-12-25 16:00",
        "2040-01-03 16:00"]


def test_a_day_with_a_time_or_a_zone_is_read_as_its_new_york_session():
    evening = pd.DatetimeIndex(["2024-03-11 23:30"]).tz_localize("America/New_York")
    assert session_instants(evening.tz_convert("UTC"), "open")[0] == pd.Timestamp(
        "2024-03-11 13:30", tz="UTC")
    assert len(session_instants(pd.DatetimeIndex([]), "close")) == 0
