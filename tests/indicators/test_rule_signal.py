"""The rule baseline: causal, identical under every engine setting, formulas as documented."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from core.domain import CALL_CREDIT_SPREAD, HOLD, PUT_CREDIT_SPREAD
from feeds.btfeed import make_feed
from indicators import RuleSignal

ENGINE_SETTINGS = [
    pytest.param(dict(preload=True, runonce=True), id="preload-runonce"),
    pytest.param(dict(preload=True, runonce=False), id="preload-next"),
    pytest.param(dict(preload=False, runonce=False), id="streaming"),
    pytest.param(dict(preload=True, runonce=False, exactbars=1), id="exactbars"),
]


class Record(bt.Strategy):
    def __init__(self):
        self.signal = RuleSignal(self.data)
        self.rows = []

    def prenext(self):
        self.next()

    def next(self):
        self.rows.append((self.data.datetime.date(0), self.signal.signal[0],
                          self.signal.direction[0], self.signal.confidence[0]))


def signal_lines(bars: pd.DataFrame, **engine) -> pd.DataFrame:
    cerebro = bt.Cerebro(stdstats=False, **engine)
    cerebro.adddata(make_feed(bars, "SPY"))
    cerebro.addstrategy(Record)
    rows = cerebro.run()[0].rows
    frame = pd.DataFrame(rows, columns=["date", "signal", "direction", "confidence"])
    return frame.set_index("date")


@pytest.fixture(scope="module")
def bars(sample_market):
    return sample_market.bars("SPY", "2019-01-01", "2020-06-30")


@pytest.mark.parametrize("engine", ENGINE_SETTINGS)
def test_causal_appending_bars_changes_nothing_before(bars, engine):
    short = signal_lines(bars.iloc[:200], **engine)
    long = signal_lines(bars, **engine)
    common = long.loc[short.index]
    pd.testing.assert_frame_equal(short, common)


@pytest.mark.parametrize("engine", ENGINE_SETTINGS[1:])
def test_every_engine_setting_gives_the_same_lines(bars, engine):
    reference = signal_lines(bars, **ENGINE_SETTINGS[0].values[0])
    pd.testing.assert_frame_equal(signal_lines(bars, **engine), reference)


def wilder(values: pd.Series, period: int) -> pd.Series:
    """Wilder's smoothing as backtrader's SMMA does it: seeded by the first simple mean."""
    out = pd.Series(np.nan, index=values.index)
    start = values.first_valid_index()
    i0 = values.index.get_loc(start) + period - 1
    level = values.iloc[i0 - period + 1:i0 + 1].mean()
    out.iloc[i0] = level
    for i in range(i0 + 1, len(values)):
        level += (values.iloc[i] - level) / period
        out.iloc[i] = level
    return out


def test_lines_follow_the_documented_formulas(bars):
    """Recompute the rule independently with pandas and compare bar by bar."""
    lines = signal_lines(bars).iloc[60:]  # past the 50-bar warm-up
    close, high, low = bars["close"], bars["high"], bars["low"]
    fast, slow = close.rolling(20).mean(), close.rolling(50).mean()
    delta = close.diff()
    rs = wilder(delta.clip(lower=0), 14) / wilder((-delta).clip(lower=0), 14)
    rsi = 100 - 100 / (1 + rs)
    true_range = pd.concat([high, close.shift()], axis=1).max(axis=1) - pd.concat(
        [low, close.shift()], axis=1).min(axis=1)
    atr = wilder(true_range.iloc[1:], 14).reindex(close.index)
    up = (fast > slow) & (close > slow) & (rsi < 70)
    down = (fast < slow) & (close < slow) & (rsi > 30)
    direction = pd.Series(np.where(up, 1.0, np.where(down, -1.0, 0.0)), index=close.index)
    strength = ((fast - slow).abs() / (2 * atr)).clip(upper=1.0)
    confidence = strength.where(up | down, 0.0)
    dates = pd.DatetimeIndex(pd.to_datetime(lines.index))
    np.testing.assert_array_equal(lines["direction"].to_numpy(), direction.reindex(dates))
    np.testing.assert_allclose(lines["confidence"].to_numpy(), confidence.reindex(dates),
                               rtol=1e-9, atol=1e-12)
    signal = lines["signal"].to_numpy()
    got = lines["direction"].to_numpy()
    assert set(np.unique(signal)) <= {HOLD, CALL_CREDIT_SPREAD, PUT_CREDIT_SPREAD}
    assert ((signal == PUT_CREDIT_SPREAD) == (got == 1)).all()
    assert ((signal == CALL_CREDIT_SPREAD) == (got == -1)).all()
    assert (got == 1).any() and (got == -1).any() and (got == 0).any()


def test_warm_up_bars_have_no_signal(bars):
    lines = signal_lines(bars)
    assert lines["signal"].iloc[:49].isna().all()
    assert lines["signal"].iloc[60:].notna().all()
