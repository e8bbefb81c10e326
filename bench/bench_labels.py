"""Strategy-label pricing: the numpy path against the pandas-chain path, same labels.

Labels trade every bar's put and call spread by the strategy's rules (training/labels.py),
so a first ``train`` on 15 years prices tens of thousands of spreads. The numpy path picks
legs with ``OptionChain.listed``/``strikes_and_deltas`` and prices a spread's whole life
with one ``life_table`` call for both legs; the pandas path (the path before issue 16) builds the
day's whole chain frame to pick legs and quotes one leg a day. Both run here on the same
bars, and the script checks that they give the same labels before printing ms per bar.

Usage: python bench/bench_labels.py [--symbol SPY] [--bars 250]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feeds.sample_market import SampleMarket  # noqa: E402
from training.labels import strategy_labels  # noqa: E402


class FramePathChain:
    """The chain as the pandas path saw it: a frame per day and one quote per leg."""

    def __init__(self, chain) -> None:
        self.symbol, self.bars, self._chain = chain.symbol, chain.bars, chain

    def chain(self, date):
        return self._chain.chain(date)

    def quote_prices(self, date, expiry, strike, right):
        return self._chain.quote_prices(date, expiry, strike, right)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbol", default="SPY")
    parser.add_argument("--bars", type=int, default=250)
    args = parser.parse_args()
    chain = SampleMarket(seed=42).option_chain(args.symbol)
    days = chain.bars.index
    start, end = days[-args.bars - 60], days[-61]

    def timed(source) -> tuple[float, pd.DataFrame]:
        began = time.perf_counter()
        labels = strategy_labels(source, start=start, end=end)
        return time.perf_counter() - began, labels

    fast_s, fast = timed(chain)
    slow_s, slow = timed(FramePathChain(chain))
    pd.testing.assert_frame_equal(fast, slow)
    n = len(fast)
    print(f"{args.symbol}: {n} bars {start:%Y-%m-%d}..{end:%Y-%m-%d}, put and call spread "
          f"each, traded by the strategy's exits; identical labels on both paths")
    print(f"pandas chain path: {slow_s / n * 1e3:7.2f} ms a bar ({slow_s:.2f} s)")
    print(f"numpy path:        {fast_s / n * 1e3:7.2f} ms a bar ({fast_s:.2f} s)")
    print(f"speed-up: {slow_s / fast_s:.1f}x")


if __name__ == "__main__":
    main()
