"""The direction system's skill, seed-averaged: the walk-forward evaluation table
(``DirectionModel.evaluation_``, out-of-sample blocks only) of the default config trained
with N seeds, mean +- std per row, on the benchmark world (sample), the no-edge world
(sample-noedge) and the bundled real S&P 500 / NASDAQ. The oracle and perfect-foresight
rows exist where the source knows the hidden regime (the sample markets).

Usage: python bench/bench_direction_skill.py [--seeds 5] [--end 2023-06-30]
       [--sources sample,sample-noedge,bundled] [--quick] [--long]
(--quick: trees only, 50 trees: a check of the plumbing, not of skill; --long: every bar
of the source up to --end instead of the default's last 1,260, in 8 walk-forward blocks,
so that about 1,700 bars are scored out of sample instead of about 470: the oracle's
small edge on the direction label stands out of the noise there)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feeds.sources import make_source  # noqa: E402
from models.direction_model import DirectionConfig, DirectionModel  # noqa: E402

COLUMNS = ("accuracy", "balanced_accuracy", "log_loss", "side_log_loss", "rank_ic",
           "mean_pnl", "edge_log_loss", "edge_pnl")
SYMBOLS = {"sample": ["SPY"], "sample-noedge": ["SPY"], "bundled": ["SP500", "NASDAQ"]}


def seed_table(bars: pd.DataFrame, config: DirectionConfig, seeds: int) -> pd.DataFrame:
    """Mean and std over seeds of each row and column (``mean``/``std`` column level)."""
    tables = [DirectionModel(replace(config, seed=seed)).fit(bars).evaluation_
              for seed in range(seeds)]
    stacked = pd.concat(tables, keys=range(seeds), names=["seed", "model"])
    grouped = stacked[list(COLUMNS)].groupby(level="model", sort=False)
    return pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=1)}, axis=1)


def show(table: pd.DataFrame) -> str:
    lines = [f"{'model':<18}" + "".join(f"{c:>20}" for c in COLUMNS)]
    for name in table.index:
        cells = [f"{table.loc[name, ('mean', c)]:+.3f} +- {table.loc[name, ('std', c)]:.3f}"
                 for c in COLUMNS]
        lines.append(f"{name:<18}" + "".join(f"{c:>20}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--end", default="2023-06-30")
    parser.add_argument("--sources", default="sample,sample-noedge,bundled")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--long", action="store_true")
    args = parser.parse_args()
    config = DirectionConfig()
    if args.long:
        config = replace(config, max_train_bars=0, n_folds=8)
    if args.quick:
        config = replace(config, members=("xgboost", "random_forest", "gradient_boosting"),
                         n_estimators=50)
    for source_name in args.sources.split(","):
        source = make_source(source_name)
        for symbol in SYMBOLS[source_name]:
            bars = source.bars(symbol, None, args.end)
            start = time.perf_counter()
            table = seed_table(bars, config, args.seeds)
            print(f"\n{source_name} {symbol}, trained to {args.end}, {args.seeds} seeds, "
                  f"{time.perf_counter() - start:.0f} s")
            print(show(table), flush=True)


if __name__ == "__main__":
    main()
