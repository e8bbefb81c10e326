"""Bars per second of a portfolio credit-spread backtest (every symbol in one account)
against the same symbols run one by one (the default per-symbol backtest).

Ten symbols: the sample market has eight, so the bench writes them and two more (SPY and
QQQ of another seed, named DIA and XLF) as CSV files and runs both modes on that one
``CsvMarket`` (chains priced from realized volatility). RuleSignal, CreditSpreadStrategy
on the OptionsBroker and every analyzer of a report run (the portfolio run adds the
per-symbol P&L attribution). A bar is one symbol's session, so both count the same bars.
One untimed warm-up run first; printed in one run, best of N.

Usage: python bench/bench_portfolio.py [--symbols SPY,QQQ,...] [--years 5] [--repeats 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import best_seconds  # noqa: E402
from engine.backtest import BacktestSettings, run_symbol  # noqa: E402
from engine.portfolio import run_portfolio  # noqa: E402
from feeds.csv_source import CsvMarket  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402

#: the CSV files of the bench: file name -> (sample market seed, its symbol)
TEN = {**{s: (42, s) for s in ("SPY", "QQQ", "IWM", "AAPL", "MSFT", "GOOGL", "AMZN", "TSLA")},
       "DIA": (43, "SPY"), "XLF": (43, "QQQ")}


def ten_symbol_market(folder: Path, years: int) -> CsvMarket:
    """The ten symbols' last ``years`` + 1 years of daily bars as CSV files in ``folder``."""
    markets = {seed: SampleMarket(seed=seed) for seed, _ in TEN.values()}
    for name, (seed, symbol) in TEN.items():
        bars = markets[seed].bars(symbol)
        bars = bars[bars.index >= bars.index[-1] - pd.DateOffset(years=years + 1)]
        bars[["open", "high", "low", "close", "volume"]].to_csv(folder / f"{name}.csv",
                                                                index_label="date")
    return CsvMarket(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", default=",".join(TEN),
                        help="a subset of the ten (default: all)")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench(ten_symbol_market(Path(folder), args.years), args.symbols.split(","),
              args.years, args.repeats)


def bench(market: CsvMarket, symbols: list[str], years: int, repeats: int) -> None:
    end = min(market.bars(s).index[-1] for s in symbols)
    start = end - pd.DateOffset(years=years)
    bars = sum(len(market.bars(s, start, end)) for s in symbols)
    settings = BacktestSettings(start=start, end=end, strategy="credit-spread", progress=False)

    def alone() -> list:
        return [run_symbol(market, s, settings) for s in symbols]

    def together():
        return run_portfolio(market, symbols, settings)

    together()  # warm-up, untimed: reads the files, builds the chains' inputs
    single, results = timed(alone, repeats)
    joint, portfolio = timed(together, repeats)
    spreads_alone = sum(len(r.spreads) for r in results)
    print(f"bars: {bars:,} ({len(symbols)} symbols, {start:%Y-%m-%d}..{end:%Y-%m-%d}, "
          f"+60 warm-up sessions each), best of {repeats}")
    print(f"{len(symbols)} single-symbol runs (each the full cash): {bars / single:,.0f} bars/s "
          f"({single:.2f} s, {spreads_alone} spreads)")
    print(f"one portfolio run (one account):     {bars / joint:,.0f} bars/s "
          f"({joint:.2f} s, {len(portfolio.spreads)} spreads, PORTFOLIO return "
          f"{100 * portfolio.metrics['total_return']:.2f}%)")
    print(f"ratio portfolio / single-symbol runs: {single / joint:.2f}x the speed")


def timed(fn, repeats: int):
    """Best seconds of ``repeats`` calls of ``fn`` (``bench.timing.best_seconds``) and what
    the last call returned."""
    out = []
    seconds = best_seconds(lambda: out.append(fn()), repeats)
    return seconds, out[-1]


if __name__ == "__main__":
    main()
