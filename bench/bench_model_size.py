"""Network size by evidence: seed 000's LSTM stack vs the compact default vs a regularised
logistic regression, out of sample, beside the majority class.

Sample market (seed 42), one symbol; strategy labels priced on its chain. A walk-forward
(``models.folds.make_folds``, expanding window, embargo 5 sessions) cuts the last
``--test-years`` into ``--folds`` blocks; per fold one HMM is fitted on the history before
the block and shared by every candidate, and each candidate trains on the bars before the
block only (``StrategyModel.fit`` purges the labels that read past them) and scores the
block. Per seed the scored bars of every block are pooled; the table gives accuracy and log
loss as mean ± std over ``--seeds`` seeds (weights, dropout and shuffling; the logistic
regression and the majority class have no seed, so their std is 0).

* seed000: ``LSTMConfig.seed000()`` (BiLSTM 128/64 + LSTM 32 + dense 64/32, windows of 60);
* compact: ``LSTMConfig()``, the default (one LSTM of 16 units, windows of 20, AdamW);
* logistic: multinomial logistic regression (L2, C = 0.05, balanced classes) on the scaled
  last feature row (features and regime probabilities, the LSTM's own inputs);
* majority: the training block's class frequencies as the probabilities.

``--max-epochs`` caps both networks' epochs, ``--seed000-epochs`` the seed's only (its fits
cost ten times the compact one's; its early stopping fires after 11-16 epochs with the best
epoch 2-6 on these data, so a cap of 10 changes little); ``--models`` runs a subset and
``--compact key=value,...`` tries other compact settings.
Run single-threaded for comparable times: OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1.
Usage: python bench/bench_model_size.py [--symbol SPY] [--seeds 3] [--folds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feeds.cache import ParquetCache  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402
from models.features import LOOKBACK, build_features  # noqa: E402
from models.folds import make_folds  # noqa: E402
from models.lstm import LSTMConfig  # noqa: E402
from models.regimes import HMMConfig, MarketStateClassifier  # noqa: E402
from models.strategy_model import StrategyModel  # noqa: E402
from training.pipeline import TrainingSpec, training_data  # noqa: E402

CLASSES = [0, 1, 2]


def scores(y: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import log_loss

    return float((proba.argmax(axis=1) == y).mean()), float(log_loss(y, proba, labels=CLASSES))


def normalized(proba: np.ndarray) -> np.ndarray:
    """Probabilities clipped away from 0 and summing to 1 in float64 (the network's float32
    softmax misses 1 in the last digits)."""
    proba = np.clip(proba.astype(float), 1e-7, 1.0)
    return proba / proba.sum(axis=1, keepdims=True)


def logistic(model: StrategyModel, train_bars, train_labels, test_bars, test_rows):
    """Logistic regression on the last input row, scaled on the training rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    inputs = model.model_inputs(train_bars)
    y = train_labels["label"].reindex(train_bars.index)
    ends = pd.DatetimeIndex(train_labels["label_end"].reindex(train_bars.index))
    ok = inputs.notna().all(axis=1) & y.notna() & (ends <= train_bars.index[-1])
    scaler = StandardScaler().fit(inputs[ok])
    clf = LogisticRegression(C=0.05, class_weight="balanced", max_iter=2000)
    clf.fit(scaler.transform(inputs[ok]), y[ok].astype(int))
    test = model.model_inputs(test_bars).loc[test_rows]
    proba = np.zeros((len(test), 3))
    proba[:, clf.classes_.astype(int)] = clf.predict_proba(scaler.transform(test))
    return proba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbol", default="SPY")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--start", default="2019-01-01", help="first labelled bar")
    parser.add_argument("--end", default="2023-12-29")
    parser.add_argument("--test-years", type=float, default=1.5)
    parser.add_argument("--max-epochs", type=int, default=0,
                        help="cap both networks' epochs (0: their own, 100)")
    parser.add_argument("--seed000-epochs", type=int, default=0,
                        help="cap seed000's epochs only (it is 10x slower)")
    parser.add_argument("--models", default="seed000,compact",
                        help="networks to run (comma-separated)")
    parser.add_argument("--compact", default="",
                        help="compact overrides, e.g. learning_rate=0.001,patience=5")
    args = parser.parse_args()

    market = SampleMarket(seed=42)
    end = pd.Timestamp(args.end)
    spec = TrainingSpec(head="lstm", lstm=LSTMConfig.seed000(), lstm_start=pd.Timestamp(args.start),
                        hmm_start=pd.Timestamp(args.start) - pd.DateOffset(years=6))
    started = time.perf_counter()
    data = training_data(market, args.symbol, end, spec, cache=ParquetCache())
    bars, labels = data.bars, data.labels.reindex(data.bars.index)
    first_test = end - pd.DateOffset(days=int(365 * args.test_years))
    folds = make_folds(bars.index, first_test, args.folds, embargo=5)
    print(f"{args.symbol}: {len(bars)} bars {bars.index[0]:%Y-%m-%d}..{end:%Y-%m-%d}, "
          f"{len(folds)} folds from {folds[0].test_start:%Y-%m-%d}, {args.seeds} seeds, "
          f"labels in {time.perf_counter() - started:.0f}s")

    cap = {"epochs": args.max_epochs} if args.max_epochs else {}
    tweaks = {k: _value(v) for k, v in (kv.split("=") for kv in args.compact.split(",") if kv)}
    tweaks |= {k: (tweaks[k],) for k in ("lstm_units", "dropout_rates") if k in tweaks}
    configs = {"seed000": LSTMConfig.seed000(**cap, **({"epochs": args.seed000_epochs}
                                                       if args.seed000_epochs else {})),
               "compact": LSTMConfig(**cap, **tweaks)}
    configs = {name: configs[name] for name in args.models.split(",")}
    results: dict[str, list] = {name: [] for name in (*configs, "logistic", "majority")}
    pooled = {name: {s: ([], []) for s in range(args.seeds)} for name in results}
    timing = dict.fromkeys(configs, 0.0)
    for fold in folds:
        train_bars = bars[bars.index <= fold.train_end]
        train_labels = labels.loc[train_bars.index]
        hmm_bars = data.hmm_bars[data.hmm_bars.index <= fold.train_end]
        warm = LOOKBACK + max(c.sequence_length for c in configs.values())
        lo = max(int(bars.index.searchsorted(fold.test_start)) - warm, 0)
        test_bars = bars[(bars.index <= fold.test_end)].iloc[lo:]
        rows = test_bars.index[(test_bars.index >= fold.test_start)
                               & labels["label"].reindex(test_bars.index).notna().to_numpy()]
        y = labels.loc[rows, "label"].to_numpy().astype(int)
        hmm_feats = build_features(hmm_bars).iloc[LOOKBACK - 1:]
        hmm = MarketStateClassifier(HMMConfig(n_init=1)).fit(hmm_feats)
        for seed in range(args.seeds):
            for name, base in configs.items():
                model = StrategyModel(replace(base, seed=42 + seed), HMMConfig(n_init=1),
                                      head="lstm")
                t0 = time.perf_counter()
                model.fit(train_bars, train_labels, hmm=hmm)
                timing[name] += time.perf_counter() - t0
                print(f"  fold {fold.number} seed {42 + seed} {name}: "
                      f"{len(model.report_.history['loss'])} epochs, "
                      f"{time.perf_counter() - t0:.0f}s", flush=True)
                proba = model.predict_proba(test_bars).loc[rows, ["p_hold", "p_call",
                                                                  "p_put"]].to_numpy()
                pooled[name][seed][0].append(y)
                pooled[name][seed][1].append(proba)
                if name == list(configs)[-1] and seed == 0:
                    lr = logistic(model, train_bars, train_labels, test_bars, rows)
                    prior = np.bincount(train_labels["label"].dropna().astype(int),
                                        minlength=3) / train_labels["label"].notna().sum()
                    for s in range(args.seeds):
                        pooled["logistic"][s][0].append(y)
                        pooled["logistic"][s][1].append(lr)
                        pooled["majority"][s][0].append(y)
                        pooled["majority"][s][1].append(np.tile(prior, (len(y), 1)))
        print(f"fold {fold.number}: train ..{fold.train_end:%Y-%m-%d}, test "
              f"{fold.test_start:%Y-%m-%d}..{fold.test_end:%Y-%m-%d} ({len(y)} bars)",
              flush=True)
    print(f"\n{'model':<10} {'accuracy':>16} {'log loss':>16}   fit seconds")
    for name, per_seed in pooled.items():
        acc, loss = zip(*(scores(np.concatenate(ys), normalized(np.vstack(ps)))
                          for ys, ps in per_seed.values()), strict=True)
        seconds = f"{timing[name] / (args.seeds * len(folds)):.1f}" if name in timing else ""
        print(f"{name:<10} {np.mean(acc):>8.3f} ± {np.std(acc):.3f} "
              f"{np.mean(loss):>8.3f} ± {np.std(loss):.3f}   {seconds}")
    print(f"\ntotal {time.perf_counter() - started:.0f}s")


def _value(text: str):
    """A ``--compact`` value: a whole number, a number, else the text (``none``)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


if __name__ == "__main__":
    main()
