"""The sample market's minute bars: seeded, a full regular session, pinned to the daily bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from feeds.sample_market import SampleMarket, session_minutes

WEEK = ("2025-11-24", "2025-12-02")  # includes the 13:00 close of 2025-11-28


@pytest.fixture(scope="module")
def minutes(sample_market):
    return sample_market.minute_bars("AAPL", *WEEK)


def test_same_seed_same_minutes_other_seed_other_minutes(minutes):
    again = SampleMarket(seed=42).minute_bars("AAPL", *WEEK)
    pd.testing.assert_frame_equal(minutes, again)
    other = SampleMarket(seed=7).minute_bars("AAPL", *WEEK)
    assert not np.allclose(other["close"].to_numpy(), minutes["close"].to_numpy())


def test_one_session_alone_equals_its_part_of_a_range(sample_market, minutes):
    day = sample_market.minute_bars("AAPL", "2025-11-26", "2025-11-26")
    pd.testing.assert_frame_equal(day, minutes.loc["2025-11-26"])


def test_regular_session_minutes(minutes):
    per_day = minutes.groupby(minutes.index.normalize()).size()
    assert per_day.loc["2025-11-25"] == 390 and per_day.loc["2025-12-01"] == 390
    assert per_day.loc["2025-11-28"] == 210  # day after Thanksgiving: 13:00 close
    day = minutes.loc["2025-12-01"]
    assert day.index[0] == pd.Timestamp("2025-12-01 09:30")
    assert day.index[-1] == pd.Timestamp("2025-12-01 15:59")
    assert (np.diff(day.index.asi8) == 60 * 10**9).all()
    assert list(session_minutes("2025-12-01")) == list(day.index)


def test_minutes_aggregate_exactly_to_the_daily_bar(sample_market, minutes):
    daily = sample_market.bars("AAPL", *WEEK)
    grouped = minutes.groupby(minutes.index.normalize())
    assert list(grouped.groups) == list(daily.index)
    for day, bars in grouped:
        want = daily.loc[day]
        assert bars["open"].iloc[0] == want["open"]
        assert bars["close"].iloc[-1] == want["close"]
        assert bars["high"].max() == want["high"]  # touched, never exceeded
        assert bars["low"].min() == want["low"]
        assert bars["volume"].sum() == want["volume"]
        assert (bars["volume"] >= 0).all()
        # each minute opens at the previous minute's close, wicks around its body
        assert np.array_equal(bars["open"].to_numpy()[1:], bars["close"].to_numpy()[:-1])
        assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
        assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()


def test_the_path_moves_and_is_not_stuck_at_the_extremes(minutes):
    day = minutes.loc["2025-12-01"]
    at_extreme = (day["close"] == day["high"].max()) | (day["close"] == day["low"].min())
    assert at_extreme.sum() <= 3
    assert day["close"].nunique() > 350


def test_outside_the_sample_is_refused(sample_market):
    with pytest.raises(DataError, match="no AAPL bars"):
        sample_market.minute_bars("AAPL", "2026-02-02", "2026-02-06")
    with pytest.raises(DataError, match="not an NYSE session"):
        session_minutes("2025-12-25")
