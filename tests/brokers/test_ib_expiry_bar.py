"""The IB ledger estimates an expired spread's settlement by the simulated broker's rule
(``expiry_bar``): from the close of the expiry's last session, never a close dated after
the expiry, and on intraday paper bars from the session's last bar, not its first. Driven
on a real backtrader feed of UTC instants, as ``IBData`` holds them."""

from __future__ import annotations

import datetime as dt

import backtrader as bt
import pandas as pd
import pytest

from brokers.ib_spread_ledger import expiry_bar


def _bars(stamps_new_york: list[str], closes: list[float]) -> pd.DataFrame:
    index = (pd.DatetimeIndex(stamps_new_york).tz_localize("America/New_York")
             .tz_convert("UTC").tz_localize(None))  # UTC instants, as IBData's line
    return pd.DataFrame({"open": closes, "high": closes, "low": closes, "close": closes,
                         "volume": 100.0}, index=index)


def _on_last_bar(frame: pd.DataFrame, expiry: dt.date) -> tuple[dt.date, float]:
    class Probe(bt.Strategy):
        def next(self):
            self.found = expiry_bar(self.data, expiry)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(Probe)
    return cerebro.run()[0].found


# 5-minute bars of Thursday 2024-02-08 and Friday 2024-02-09 (closes 96, then 100 at
# Friday's open falling to 93 at its close), then Monday 2024-02-12's first bar at 80
THURSDAY = ["2024-02-08 15:55"]
FRIDAY = ["2024-02-09 09:30", "2024-02-09 12:00", "2024-02-09 15:55"]
MONDAY = ["2024-02-12 09:30"]


@pytest.mark.parametrize("expiry", [dt.date(2024, 2, 9), dt.date(2024, 2, 10)])
def test_intraday_bars_settle_from_the_sessions_last_bar(expiry):
    """Friday's own expiry, and a Saturday's (monthly contracts before 2015): Friday's
    last close, 93; it read Friday's first bar (100) and, for Saturday, Monday's (80)."""
    frame = _bars(THURSDAY + FRIDAY + MONDAY, [96.0, 100.0, 97.0, 93.0, 80.0])
    assert _on_last_bar(frame, expiry) == (dt.date(2024, 2, 9), 93.0)


def test_a_missing_expiry_session_settles_from_the_last_close_before_it():
    """No Friday bar in the data: Thursday's close, booked on Monday (it read Monday's)."""
    frame = _bars(THURSDAY + MONDAY, [96.0, 80.0])
    assert _on_last_bar(frame, dt.date(2024, 2, 9)) == (dt.date(2024, 2, 12), 96.0)


def test_daily_bars_settle_on_the_expiry_session():
    frame = _bars(["2024-02-08 16:00", "2024-02-09 16:00", "2024-02-12 16:00"],
                  [96.0, 93.0, 80.0])
    assert _on_last_bar(frame, dt.date(2024, 2, 9)) == (dt.date(2024, 2, 9), 93.0)
