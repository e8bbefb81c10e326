"""How much of the benchmark world's edge the HMM's regimes carry, out of sample, seed-
averaged: yearly refits (2016-2025) of the HMM on every bar before the year, then a
logistic regression on its five filtered (causal) state probabilities, trained on the
strategy labels (realized P&L of each spread traded by the strategy's exits) known before
the year, scores the year. Beside it: the majority class, the HMM's most likely state
looked up in a table of each state's best action (``hmm_state_table``) and the oracle,
which knows the true state. The same on the no-edge world, where nothing may beat the
majority class.

The walk-forward lives in ``training/regime_edge.py``. This is the evidence behind the ``regime_logistic`` row of ``run.py train``'s table.
Usage: python bench/bench_regime_edge.py [--seeds 5] [--worlds edge,no-edge]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feeds.cache import ParquetCache, default_cache_dir  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402
from models.evaluation import score_table  # noqa: E402
from training.label_cache import cached_strategy_labels  # noqa: E402
from training.regime_edge import regime_walk_forward  # noqa: E402

COLUMNS = ["accuracy", "log_loss", "mean_pnl", "rank_ic", "edge_log_loss", "edge_pnl"]
YEARS = range(2016, 2026)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--worlds", default="edge,no-edge")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for world in args.worlds.split(","):
        market = SampleMarket(seed=42, world=world)
        chain = market.option_chain("SPY")
        started = time.perf_counter()
        labels = cached_strategy_labels(chain, None, "2010-01-01", "2025-10-31",
                                        ParquetCache(default_cache_dir()), market.name)
        tables = []
        for seed in range(args.seeds):
            scored, predicted = regime_walk_forward(chain.bars, labels, 42 + seed, YEARS)
            tables.append(score_table(scored["label"].astype(int), scored["put_return"],
                                      scored["call_return"], predicted)[COLUMNS])
        stacked = pd.concat(tables, keys=range(args.seeds), names=["seed", "model"])
        grouped = stacked.groupby(level="model", sort=False)
        print(f"\n{world} world, SPY, yearly refits {YEARS[0]}-{YEARS[-1]}, {len(scored)} "
              f"out-of-sample bars, {args.seeds} HMM seeds, "
              f"{time.perf_counter() - started:.0f} s")
        mean, std = grouped.mean(), grouped.std(ddof=1)
        print(f"{'model':<18}" + "".join(f"{c:>20}" for c in COLUMNS))
        for name in mean.index:
            print(f"{name:<18}" + "".join(
                f"{mean.loc[name, c]:>+11.3f} +- {std.loc[name, c]:.3f}" for c in COLUMNS))


if __name__ == "__main__":
    main()
