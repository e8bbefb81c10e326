"""Per-bar decision latency of ``run.py paper`` for each ``--signals`` kind, on the fake TWS.

One paper run of the equity strategy per signal kind (rule, ml, direction) on daily IB bars:
the sample market's SPY bars of 2022 as the backfill (the models warm up on it), then
``--bars`` live daily bars. Each bar's latency is what the paper status line prints: from
the feed handing the bar to backtrader to the end of the strategy's ``next`` (indicators,
the model's streaming update, orders handed to the broker). The socket and the fake's bar
delivery are not in it (``bench/bench_ib_latency.py`` measures those).

The models are trained here, tiny (an LSTM of 8/4/4 units over 10 bars, trees of depth 2,
a 4-unit GRU), on OHLCV bars up to 2021-12-31, unless ``--ml-model`` / ``--direction-model``
name stored folders (whose training must end before 2022-01-03). Prints median, p90 and
max ms per bar, and for ``ml`` and ``direction`` again on the old single-bar path
(``bench.live_path.batch_path``: the compiled TensorFlow function on a padded batch of one,
scikit-learn's per-tree forest) beside today's live path, in the same run.

Usage: OMP_NUM_THREADS=1 python bench/bench_paper_signals.py [--bars 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from bench.live_path import batch_path  # noqa: E402
from engine.paper_models import IB_COLUMNS  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402
from tests.fakes.fake_tws import FakeTWS  # noqa: E402
from tests.fakes.ib_harness import PaperRun, frame_bars, ib_history  # noqa: E402

TRAIN_END = pd.Timestamp("2021-12-31")
OHLCV = list(IB_COLUMNS)


def tiny_ml_model(market: SampleMarket):
    from models.lstm import LSTMConfig
    from models.regimes import HMMConfig
    from training.pipeline import TrainingSpec, training_data

    spec = TrainingSpec(head="lstm", lstm=LSTMConfig(sequence_length=10, lstm_units=(8, 4, 4),
                                        dense_units=(8, 4), epochs=2, patience=1,
                                        batch_size=64),
                        hmm=HMMConfig(n_init=1), hmm_start=pd.Timestamp("2016-01-01"),
                        lstm_start=pd.Timestamp("2021-03-01"))
    data = training_data(market, "SPY", TRAIN_END, spec)
    return spec.make_model().fit(data.bars[OHLCV], data.labels, hmm_bars=data.hmm_bars[OHLCV])


def tiny_direction_model(market: SampleMarket):
    from models.direction_model import DirectionConfig, DirectionModel

    config = DirectionConfig(n_estimators=8, max_depth=2, rf_max_depth=3, units=4, epochs=1,
                             sequence_length=5, tcn_dilations=(1, 2), n_folds=2,
                             batch_size=64, min_train_samples=50,
                             members=("xgboost", "random_forest", "gradient_boosting", "gru"))
    return DirectionModel(config).fit(market.bars("SPY", "2020-03-02", TRAIN_END)[OHLCV])


def stored(kind: str, folder: str):
    from models.direction_store import load_direction_model
    from models.store import load_strategy_model

    model = load_strategy_model(folder) if kind == "ml" else load_direction_model(folder)
    if pd.Timestamp(model.trained_until) > TRAIN_END:
        raise SystemExit(f"error: {folder} was trained up to {model.trained_until:%Y-%m-%d}; "
                         f"the bench trades from 2022-01-03")
    return model


def latencies(signals: str, model, frame: pd.DataFrame, n_live: int) -> list[float]:
    """The decision latency (ms) of every live bar of one paper run."""
    bars = frame_bars(frame)
    history, live = bars[:-n_live], bars[-n_live:]
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        models = {"SPY": model} if model is not None else {}
        run = PaperRun(tws, history, live, settings={
            "signals": signals, "signal_models": models, "bar_size": "1 day"})
        with run:
            run.finish(timeout=120)
    return list(run.result[0].analyzers.status.latencies_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bars", type=int, default=60, help="live daily bars per run")
    parser.add_argument("--ml-model", help="a stored StrategyModel folder (default: tiny)")
    parser.add_argument("--direction-model", help="a stored DirectionModel folder "
                                                  "(default: tiny)")
    args = parser.parse_args()
    market = SampleMarket(seed=42)
    print("training the tiny models ...", file=sys.stderr)
    models = {
        "rule": None,
        "ml": stored("ml", args.ml_model) if args.ml_model else tiny_ml_model(market),
        "direction": (stored("direction", args.direction_model) if args.direction_model
                      else tiny_direction_model(market)),
    }
    warmup = max(m.warmup_bars for m in models.values() if m is not None) + 5
    frame = market.bars("SPY", "2022-01-03", None).iloc[:warmup + args.bars][OHLCV]
    print(f"{'signals':<18}{'bars':>6}{'median ms':>12}{'p90 ms':>10}{'max ms':>10}")
    runs = [(signals, signals, model, False) for signals, model in models.items()]
    runs += [(f"{s} (old)", s, models[s], True) for s in ("ml", "direction")]
    for name, signals, model, old in runs:
        if old:  # the single-bar path before the live one: compiled TF, per-tree forest
            with batch_path(model):
                ms = sorted(latencies(signals, model, frame, args.bars))
        else:
            ms = sorted(latencies(signals, model, frame, args.bars))
        p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
        print(f"{name:<18}{len(ms):>6}{statistics.median(ms):>12.2f}{p90:>10.2f}"
              f"{ms[-1]:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
