"""The line recorder reads its rows from the buffers at the end of a run (issue 16): the
rows must be the ones reading each line's ``[0]`` on every bar gives, also for symbols on
different calendars (a symbol without a bar shows its last one again) and in a run that
is not run-once, where the recorder reads bar by bar."""

from __future__ import annotations

import backtrader as bt
import pandas as pd
import pytest

from analyzers import LineRecorder
from feeds.btfeed import make_feed
from indicators.rule_signal import RuleSignal


class PerBarRecorder(bt.Analyzer):
    """The recorder as it was: every value read through ``line[0]`` on every bar."""

    params = (("data_lines", ("close",)),)

    def start(self):
        self.rows = []

    def next(self):
        for data in self.strategy.datas:
            if len(data) == 0:
                continue
            row = {"date": data.datetime.date(0), "symbol": data._name}
            for name in self.p.data_lines:
                row[name] = getattr(data.lines, name)[0]
            for indicator in self.strategy.getindicators():
                if indicator.data is not data:
                    continue
                for alias in indicator.lines.getlinealiases():
                    row[f"{type(indicator).__name__}.{alias}"] = getattr(indicator.lines,
                                                                         alias)[0]
            self.rows.append(row)

    def get_analysis(self):
        return pd.DataFrame(self.rows)


class Signals(bt.Strategy):
    def __init__(self):
        self.signals = [RuleSignal(data) for data in self.datas]
        self.slow = bt.ind.SMA(self.data0.close, period=30)


def _recorded(frames: dict, **cerebro_kwargs) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    cerebro = bt.Cerebro(stdstats=False, **cerebro_kwargs)
    for name, bars in frames.items():
        cerebro.adddata(make_feed(bars, name))
    cerebro.addstrategy(Signals)
    lines = ("close", "put_call_ratio")
    cerebro.addanalyzer(LineRecorder, _name="lines", data_lines=lines)
    cerebro.addanalyzer(PerBarRecorder, _name="reference", data_lines=lines)
    strategy = cerebro.run()[0]
    return (strategy.analyzers.lines.get_analysis(),
            strategy.analyzers.reference.get_analysis(), strategy.analyzers.lines)


@pytest.fixture(scope="module")
def frames(sample_market):
    spy = sample_market.bars("SPY").iloc[2000:2300]
    qqq = sample_market.bars("QQQ").iloc[2000:2300]
    gap = qqq[[i % 5 != 2 for i in range(len(qqq))]]  # lacks every fifth session
    return {"SPY": spy, "GAP": gap}


def test_rows_from_buffers_equal_rows_read_per_bar(frames):
    fast, reference, recorder = _recorded(frames)
    assert recorder._from_buffers  # the run took the fast path
    assert len(fast) == 2 * 300 and fast["RuleSignal.direction"].abs().sum() > 0
    pd.testing.assert_frame_equal(fast, reference, check_exact=True)


def test_stale_bars_repeat_the_last_bar(frames):
    fast, _, _ = _recorded(frames)
    gap = fast[fast["symbol"] == "GAP"]
    assert gap["date"].duplicated().sum() == 300 - len(frames["GAP"])


def test_not_run_once_reads_bar_by_bar(frames):
    fast, reference, recorder = _recorded(frames, runonce=False)
    assert not recorder._from_buffers
    pd.testing.assert_frame_equal(fast, reference, check_exact=True)
