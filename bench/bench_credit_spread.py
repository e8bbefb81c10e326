"""Bars per second of a credit-spread backtest vs the equity backtest on the same bars.

Both runs use the sample market, RuleSignal and every analyzer of a report run; the only
difference is the strategy and broker: CreditSpreadStrategy on the OptionsBroker (chain
quotes per request, fills, marks of every open leg each bar, expiry settlement, the spread
analyzer) vs EquityStrategy on backtrader's BackBroker. Printed in one run, best of N, the
two timed in turns (equity, credit spread, equity, ...) so that load from other jobs reaches
both alike; every timed credit-spread run must give the first run's results exactly
(``check_same``).

Usage: python bench/bench_credit_spread.py [--symbols SPY,QQQ] [--years 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import best_wall_and_cpu_interleaved  # noqa: E402
from engine.backtest import BacktestSettings, run_symbol  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402

#: issue 16: the credit-spread backtest at least this share of the equity one's speed
GOAL = 0.7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", default="SPY,QQQ")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    market = SampleMarket(seed=42)
    symbols = args.symbols.split(",")
    end = market.bars(symbols[0]).index[-1]
    start = end - pd.DateOffset(years=args.years)
    bars = sum(len(market.bars(s, start, end)) for s in symbols)

    def run(strategy: str) -> list:
        settings = BacktestSettings(start=start, end=end, strategy=strategy, progress=False)
        return [run_symbol(market, s, settings) for s in symbols]

    first = run("credit-spread")  # also warms the caches
    spreads_made = sum(len(r.spreads) for r in first)
    repeats: list[list] = []
    best = best_wall_and_cpu_interleaved(
        {"equity": lambda: run("equity"), "credit": lambda: repeats.append(run("credit-spread"))},
        args.repeats)
    (equity, equity_cpu), (spread, spread_cpu) = best["equity"], best["credit"]
    check_same(first, repeats)
    print(f"bars: {bars:,} ({len(symbols)} symbols, {start:%Y-%m-%d}..{end:%Y-%m-%d}, "
          f"+60 warm-up sessions each), best of {args.repeats} in turns; {spreads_made} spreads "
          "traded")
    print(f"equity        (EquityStrategy, BackBroker):            {bars / equity:,.0f} bars/s "
          f"({equity:.2f} s)")
    print(f"credit spread (CreditSpreadStrategy, OptionsBroker):  {bars / spread:,.0f} bars/s "
          f"({spread:.2f} s)")
    print(f"ratio credit spread / equity: {equity / spread:.2f}x the speed "
          f"(issue 16's goal: {GOAL:.1f}x)")
    print(f"CPU seconds of this process, least of the same runs: equity {equity_cpu:.2f} s, "
          f"credit spread {spread_cpu:.2f} s, ratio {equity_cpu / spread_cpu:.2f}x")
    print(f"every timed credit-spread run gave the first run's results ({args.repeats} checked)")


def check_same(first: list, repeats: list[list]) -> None:
    """Fail the bench when a timed run's results differ from the first (cold) run's: the
    per-run caches (the chains', the broker's per-bar quotes, the analyzers' frames) must
    change speed only, never a number."""
    for results in repeats:
        for a, b in zip(first, results, strict=True):
            if a.metrics != b.metrics:
                raise SystemExit(f"error: {a.symbol}: metrics differ between runs")
            for name in ("trades", "spreads", "positions", "transactions"):
                pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name),
                                              check_exact=True, obj=f"{a.symbol} {name}")


if __name__ == "__main__":
    main()
