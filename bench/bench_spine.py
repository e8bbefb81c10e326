"""Bars per second of our backtest spine vs plain backtrader, on the same bars, in one run.

ours:  sample feed (all extra lines) + RuleSignal + EquityStrategy + every analyzer of a
       report run (Returns, SharpeRatio, DrawDown, TradeAnalyzer, pyfolio items,
       PortfolioPositions, TradeList, LineRecorder), results collected
plain: backtrader PandasData (OHLCV) + SMA(10)/SMA(50) crossover strategy, no analyzers

The two are timed in turns (ours, plain, ours, ...) and the best of each is kept, so load
from other jobs on a shared machine reaches both alike.

Usage: python bench/bench_spine.py [--symbols SPY,QQQ,...] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import backtrader as bt
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import best_seconds_interleaved  # noqa: E402
from engine.backtest import BacktestSettings, run_symbol  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402


class SmaCross(bt.Strategy):
    params = (("fast", 10), ("slow", 50))

    def __init__(self):
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast),
                                      bt.ind.SMA(period=self.p.slow))

    def next(self):
        if self.cross[0] > 0 and not self.position:
            self.order_target_percent(target=0.95)
        elif self.cross[0] < 0 and self.position:
            self.close()


def plain_backtrader(bars: pd.DataFrame) -> None:
    cerebro = bt.Cerebro(stdstats=False)
    ohlcv = bars[["open", "high", "low", "close", "volume"]]
    cerebro.adddata(bt.feeds.PandasData(dataname=ohlcv, openinterest=None))
    cerebro.addstrategy(SmaCross)
    cerebro.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", default="SPY,QQQ,AAPL,MSFT")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    market = SampleMarket(seed=42)
    symbols = args.symbols.split(",")
    frames = {s: market.bars(s) for s in symbols}
    bars_total = sum(len(f) for f in frames.values())
    start, end = frames[symbols[0]].index[60], frames[symbols[0]].index[-1]
    settings = BacktestSettings(start=start, end=end, progress=False)

    run_symbol(market, symbols[0], settings)  # warm: imports, caches
    best = best_seconds_interleaved(
        {"ours": lambda: [run_symbol(market, s, settings) for s in symbols],
         "plain": lambda: [plain_backtrader(frames[s]) for s in symbols]}, args.repeats)
    ours, plain = best["ours"], best["plain"]
    print(f"bars: {bars_total:,} ({len(symbols)} symbols x {bars_total // len(symbols):,} "
          f"sessions), best of {args.repeats}, taken in turns")
    print(f"ours  (sample feed + RuleSignal + EquityStrategy + analyzers): "
          f"{bars_total / ours:,.0f} bars/s ({ours:.2f} s)")
    print(f"plain (backtrader SMA 10/50 crossover):                       "
          f"{bars_total / plain:,.0f} bars/s ({plain:.2f} s)")
    print(f"ratio ours / plain: {plain / ours:.2f}x the speed of plain backtrader")


if __name__ == "__main__":
    main()
