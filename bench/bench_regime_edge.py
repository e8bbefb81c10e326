"""How much of the benchmark world's edge the HMM's regimes carry, out of sample, seed-
averaged: yearly refits (2016-2025) of the HMM on every bar before the year, then a
logistic regression on its five filtered (causal) state probabilities, trained on the
strategy labels (realized P&L of each spread traded by the strategy's exits) known before
the year, scores the year. Beside it: the majority class, the HMM's most likely state
looked up in a table of each state's best action (``hmm_state_table``) and the oracle,
which knows the true state. The same on the no-edge world, where nothing may beat the
majority class.

This is the evidence behind the ``regime_logistic`` row of ``run.py train``'s table.
Usage: python bench/bench_regime_edge.py [--seeds 5] [--worlds edge,no-edge]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feeds.cache import ParquetCache, default_cache_dir  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402
from models.evaluation import class_frequencies, regime_oracle, score_table  # noqa: E402
from models.features import LOOKBACK, build_features  # noqa: E402
from models.regimes import HMMConfig, MarketStateClassifier  # noqa: E402
from training.label_cache import cached_strategy_labels  # noqa: E402

COLUMNS = ["accuracy", "log_loss", "mean_pnl", "rank_ic", "edge_log_loss", "edge_pnl"]
YEARS = range(2016, 2026)


def predictions(bars: pd.DataFrame, labels: pd.DataFrame, seed: int) -> dict:
    """``{name: (choice, proba)}`` over every scored bar, and the scored labels."""
    from sklearn.linear_model import LogisticRegression

    features = build_features(bars).iloc[LOOKBACK - 1:]
    parts = []
    for year in YEARS:
        start, end = pd.Timestamp(f"{year}-01-01"), pd.Timestamp(f"{year}-12-31")
        hmm = MarketStateClassifier(replace(HMMConfig(n_init=2), random_state=seed)).fit(
            features[features.index < start])
        probs = hmm.filtered_state_probabilities(features[features.index <= end])
        lab = labels.reindex(probs.index)
        past = lab[(lab.index < start) & lab["label"].notna()
                   & (pd.DatetimeIndex(lab["label_end"]) < start)]
        test = lab[(lab.index >= start) & lab["label"].notna()]
        X_past, X_test = probs.loc[past.index].to_numpy(), probs.loc[test.index].to_numpy()
        y_past = past["label"].astype(int).to_numpy()
        clf = LogisticRegression(max_iter=2000).fit(X_past, y_past)
        logit = np.zeros((len(test), 3))
        logit[:, clf.classes_] = clf.predict_proba(X_test)
        prior = np.tile(class_frequencies(y_past), (len(test), 1))
        truth = bars["true_regime"]
        oracle = regime_oracle(past.assign(true_regime=truth.reindex(past.index).to_numpy()),
                               truth.reindex(test.index).to_numpy())
        table = regime_oracle(past.assign(true_regime=X_past.argmax(axis=1)),
                              X_test.argmax(axis=1))
        parts.append((test, {"majority": (prior.argmax(axis=1), prior),
                             "regime_logistic": (logit.argmax(axis=1), logit),
                             "hmm_state_table": table, "oracle": oracle}))
    scored = pd.concat([t for t, _ in parts])
    joined = {name: (np.concatenate([p[name][0] for _, p in parts]),
                     np.concatenate([p[name][1] for _, p in parts])) for name in parts[0][1]}
    return scored, joined


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
            scored, predicted = predictions(chain.bars, labels, 42 + seed)
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
