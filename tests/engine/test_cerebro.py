"""``RunCerebro`` skips backtrader's writers' report when no writer was added (it asks
every analyzer for its analysis, which nothing would read) and keeps it when one was."""

import backtrader as bt
import pandas as pd

from engine.cerebro import RunCerebro


class CountingAnalyzer(bt.Analyzer):
    """Counts the calls of ``get_analysis``."""

    def start(self):
        self.asked = 0

    def get_analysis(self):
        self.asked += 1
        return {"bars": len(self.strategy)}


def run(writer: bool):
    index = pd.bdate_range("2024-01-02", periods=30, tz=None)
    bars = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0},
                        index=index)
    cerebro = RunCerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=bars))
    cerebro.addstrategy(bt.Strategy)
    cerebro.addanalyzer(CountingAnalyzer, _name="counting")
    if writer:
        cerebro.addwriter(bt.WriterStringIO)
    strategy = cerebro.run()[0]
    return cerebro, strategy.analyzers.counting


def test_without_a_writer_no_analyzer_is_asked_when_the_run_stops():
    _, analyzer = run(writer=False)
    assert analyzer.asked == 0
    assert analyzer.get_analysis() == {"bars": 30}


def test_a_writer_still_gets_every_analysis():
    cerebro, analyzer = run(writer=True)
    assert analyzer.asked == 1
    written = cerebro.runwriters[0].out.getvalue()
    assert "- counting:" in written and "- bars: 30" in written
