"""The backtrader feed: OHLCV and every extra column as lines, NaN for missing columns."""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from feeds.base import EXTRA_COLUMNS, OHLCV
from feeds.btfeed import MarketData, make_feed

RECORDED = ("close", "open", "high", "low", "volume", "put_call_ratio", "atm_iv", "risk_free_rate",
            "cpi_release")


class Recorder(bt.Strategy):
    """Writes what the strategy sees on each bar into ``self.seen``."""

    def __init__(self):
        self.seen = []

    def next(self):
        data = self.datas[0]
        row = {"date": pd.Timestamp(bt.num2date(data.datetime[0]).date())}
        for name in RECORDED:
            row[name] = getattr(data, name)[0]
        self.seen.append(row)


def _run(bars: pd.DataFrame, name: str) -> pd.DataFrame:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(bars, name))
    cerebro.addstrategy(Recorder)
    strategy = cerebro.run()[0]
    assert strategy.datas[0]._name == name
    return pd.DataFrame(strategy.seen).set_index("date")


@pytest.fixture(scope="module")
def sample_window(spy) -> pd.DataFrame:
    return spy.iloc[1000:1030].copy()


def test_lines_equal_frame_columns(sample_window):
    seen = _run(sample_window, "SPY")
    assert list(seen.index) == list(sample_window.index)
    for name in RECORDED:
        np.testing.assert_allclose(seen[name].to_numpy(), sample_window[name].to_numpy(),
                                   rtol=1e-12, err_msg=name)
    # the values vary bar to bar (not one value repeated)
    assert seen["put_call_ratio"].nunique() > 20


def test_missing_extra_column_is_nan(bundled_market):
    bars = bundled_market.bars("SP500", start="2015-06-01", end="2015-07-15")
    assert "put_call_ratio" not in bars.columns
    seen = _run(bars, "SP500")
    assert len(seen) == len(bars)
    assert seen["put_call_ratio"].isna().all()
    assert seen["cpi_release"].isna().all()
    np.testing.assert_allclose(seen["close"].to_numpy(), bars["close"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(seen["atm_iv"].to_numpy(), bars["atm_iv"].to_numpy(), rtol=1e-12)


def test_true_regime_is_not_a_line(sample_window):
    assert "true_regime" in sample_window.columns
    aliases = MarketData.lines.getlinealiases()
    assert "true_regime" not in aliases
    for name in (*EXTRA_COLUMNS, *OHLCV):
        assert name in aliases
    feed = make_feed(sample_window, "SPY")
    assert not hasattr(feed.lines, "true_regime")
    assert not hasattr(feed, "true_regime")


def test_make_feed_does_not_touch_the_input(sample_window):
    before = sample_window.copy()
    _run(sample_window, "SPY")
    pd.testing.assert_frame_equal(sample_window, before)


def test_missing_ohlcv_column_is_refused(sample_window):
    with pytest.raises(ValueError, match="volume"):
        make_feed(sample_window.drop(columns=["volume"]), "SPY")


@pytest.mark.parametrize("bad", ["empty", "nan_close", "inf_close"])
def test_empty_or_non_finite_bars_are_refused(sample_window, bad):
    frame = sample_window.copy()
    if bad == "empty":
        frame = frame.iloc[:0]
    else:
        frame.iloc[5, frame.columns.get_loc("close")] = math.nan if bad == "nan_close" else np.inf
    with pytest.raises(ValueError, match="SPY"):
        make_feed(frame, "SPY")
