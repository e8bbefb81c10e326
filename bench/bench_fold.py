"""One default-size walk-forward fold of ``run.py train`` (HMM fit + LSTM fit), today's path
beside the new one in the same run.

The fold is the second of ``run.py train``'s two walk-forward folds on the sample market's
SPY (default ``TrainingSpec``: the HMM on 12 years up to the fold's last training bar, the
LSTM on 4 years), so it has a fold before it whose HMM it may continue. The HMM fit is
timed three ways:

  today      random EM restarts (4, the former default), no previous model, BLAS/OpenMP
             threads one per core (the libraries' default);
  threads    the same restarts limited to one thread (threadpoolctl);
  new        the default ``HMMConfig`` (one thread) continuing the previous fold's HMM:
             restarts from its parameters, states matched to its names.

Each line gives the best of ``--repeats`` seconds and the named accuracy of the fit on its
training bars (the sample market knows the true regimes), so the speed-up is seen beside
what is learned. With ``--lstm`` the fold's LSTM is fitted too (default size, on the new
HMM's regime inputs: it is the same code in both paths, so it is timed once and added to
both); that takes minutes on a loaded 2-core machine, hence optional.

Usage: python bench/bench_fold.py [--repeats 1] [--lstm [--epochs N]]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import best_seconds  # noqa: E402
from core.domain import TRADING_DAYS  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402
from models.features import LOOKBACK, available_groups, build_features  # noqa: E402
from models.folds import make_folds, training_slice  # noqa: E402
from models.regimes import MarketStateClassifier  # noqa: E402
from training.pipeline import LSTM_YEARS, TrainingSpec, training_data  # noqa: E402

#: the restarts of the HMM before this change
TODAY_N_INIT = 4


def named_accuracy(hmm: MarketStateClassifier, features: pd.DataFrame, truth: pd.Series) -> float:
    predicted = hmm.predict_states(features).to_numpy()
    return float((predicted == truth.reindex(features.index).to_numpy()).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbol", default="SPY")
    parser.add_argument("--repeats", type=int, default=1, help="best of N runs per path")
    parser.add_argument("--lstm", action="store_true",
                        help="also fit the fold's default-size LSTM (minutes)")
    parser.add_argument("--epochs", type=int, help="LSTM epochs at most (default: the spec's)")
    args = parser.parse_args()

    market = SampleMarket(seed=42)
    spec = TrainingSpec(head="lstm")  # the fold of the LSTM head (the regime head's is the HMM)
    if args.epochs:
        spec = replace(spec, lstm=replace(spec.lstm, epochs=args.epochs))
    t0 = time.perf_counter()
    data = training_data(market, args.symbol, market.bars(args.symbol).index[-1], spec)
    print(f"training data (labels priced): {time.perf_counter() - t0:.1f} s")
    labelled = data.labels.index[data.labels["label"].notna()]
    first_test = labelled[int(len(labelled) * 2 / 3)]  # as run.py train
    folds = make_folds(data.bars.index, first_test, 2, spec.embargo, "expanding",
                       int(round(LSTM_YEARS * TRADING_DAYS)))
    truth = market.bars(args.symbol)["true_regime"]
    make_model = spec.make_model

    def hmm_features(fold):
        train = training_slice(data.bars, fold, make_model().warmup_bars)
        hmm_bars = data.hmm_bars[data.hmm_bars.index <= fold.train_end]
        groups = make_model().feature_groups or available_groups(train)
        return train, build_features(hmm_bars, groups).iloc[LOOKBACK - 1:]

    _, previous_features = hmm_features(folds[0])
    previous = MarketStateClassifier(spec.hmm).fit(previous_features)  # the fold before
    train, features = hmm_features(folds[1])
    cores = os.cpu_count() or 1
    paths = {
        "today": (replace(spec.hmm, n_init=TODAY_N_INIT, threads=cores), None),
        "threads": (replace(spec.hmm, n_init=TODAY_N_INIT, threads=1), None),
        "new": (spec.hmm, previous),
    }
    print(f"fold {folds[1].number}: HMM on {len(features)} bars "
          f"{features.index[0]:%Y-%m-%d}..{features.index[-1]:%Y-%m-%d}, {cores} cores")
    seconds, fitted = {}, {}
    for name, (config, prev) in paths.items():
        seconds[name] = best_seconds(
            lambda c=config, p=prev, n=name: fitted.__setitem__(
                n, MarketStateClassifier(c).fit(features, previous=p)), args.repeats)
        print(f"  HMM {name:8s} {seconds[name]:6.2f} s  (n_init {config.n_init}, threads "
              f"{config.threads}, previous {'yes' if prev else 'no'}), named accuracy "
              f"{named_accuracy(fitted[name], features, truth):.3f}")
    print(f"HMM today/new time ratio {seconds['today'] / seconds['new']:.1f}x "
          f"(threads alone {seconds['today'] / seconds['threads']:.1f}x)")

    if args.lstm:
        t0 = time.perf_counter()
        model = make_model().fit(train, data.labels, hmm=fitted["new"])
        lstm = time.perf_counter() - t0
        print(f"  LSTM {lstm:6.1f} s ({model.report_.n_train} windows, "
              f"{len(model.report_.history.get('loss', []))} epochs; the same in both paths)")
        today, new = seconds["today"] + lstm, seconds["new"] + lstm
        print(f"fold (HMM + LSTM): today {today:.1f} s, new {new:.1f} s, ratio "
              f"{today / new:.2f}x")


if __name__ == "__main__":
    main()
