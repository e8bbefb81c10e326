"""The ML indicators' costs, each compared in one run with its alternative:

(a) the causal forward filter of the regime classifier vs hmmlearn's predict_proba
    (forward-backward, which reads the future) on the same series;
(b) LSTM batch inference in windows/second through the compiled fixed-batch path vs
    keras ``model.predict``, and single-bar latency of both and of the live path (the numpy
    forward pass); then ``stream()`` per bar (what a paper decision runs) through the live
    path and through the old one (the compiled function on a padded batch of one);
(c) a backtest with StrategySignal (the ML indicator) vs the same backtest with the rule
    baseline indicator, on the same bars;
(d) the same backtest with the default head (the regime regression) instead of the LSTM.

(a)-(c) use the LSTM head: the default LSTM (``compact``) unless --seed000 (seed 000's 128/64/32 units, sequence 60)
or --tiny. The LSTM is trained for
one epoch only: speed does not depend on how well it learned.
Usage: python bench/bench_ml.py [--symbol SPY] [--seed000 | --tiny]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.live_path import batches_one_after_another  # noqa: E402
from bench.timing import best_seconds  # noqa: E402
from engine.backtest import BacktestSettings, run_symbol  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402
from models.features import LOOKBACK, build_features  # noqa: E402
from models.lstm import LSTMConfig  # noqa: E402
from models.regimes import MarketStateClassifier  # noqa: E402
from training.pipeline import TrainingSpec, train_strategy_model  # noqa: E402

#: bars timed one at a time through ``stream()`` (after its warm-up)
STREAMED = 60


def stream_ms(model, bars: pd.DataFrame) -> tuple[str, str]:
    """Median ms per bar of ``model.stream().update`` over the last STREAMED bars, through
    the live path and through the old one (``bench.live_path.batch_path``): wall clock and,
    in brackets, this thread's CPU time (what other jobs on the machine do not inflate)."""
    import statistics
    import time

    from bench.live_path import batch_path

    bars = bars.iloc[-(model.warmup_bars + STREAMED):]  # the warm-up, then the timed bars
    records = list(zip(bars.index, bars.to_dict("records"), strict=True))
    start = len(records) - STREAMED

    def run() -> str:
        stream, wall, cpu = model.stream(), [], []
        for k, (day, bar) in enumerate(records):
            t0, c0 = time.perf_counter(), time.thread_time()
            stream.update(day, bar)
            if k >= start:
                wall.append(time.perf_counter() - t0)
                cpu.append(time.thread_time() - c0)
        return (f"{statistics.median(wall) * 1e3:.2f} ms "
                f"(CPU {statistics.median(cpu) * 1e3:.2f} ms)")

    live = run()
    with batch_path(model):
        old = run()
    return live, old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbol", default="SPY")
    parser.add_argument("--tiny", action="store_true", help="tiny LSTM (quick check)")
    parser.add_argument("--seed000", action="store_true",
                        help="seed 000's network (LSTMConfig.seed000) instead of the default")
    args = parser.parse_args()
    market = SampleMarket(seed=42)

    bars = market.bars(args.symbol, "2010-01-01", "2025-12-31")
    feats = build_features(bars).iloc[LOOKBACK - 1:]
    hmm = MarketStateClassifier(n_init=1).fit(feats[feats.index < "2020-01-01"])
    forward = best_seconds(lambda: hmm.filtered_state_probabilities(feats))
    smoothed = best_seconds(lambda: hmm.smoothed_state_probabilities(feats))
    print(f"(a) {len(feats):,} bars: forward filter {forward * 1e3:.1f} ms "
          f"({len(feats) / forward:,.0f} bars/s), hmmlearn predict_proba "
          f"{smoothed * 1e3:.1f} ms; ratio filter/predict_proba time {forward / smoothed:.2f}")

    lstm = (LSTMConfig(sequence_length=20, lstm_units=(8, 4, 4), dense_units=(8, 4), epochs=1)
            if args.tiny else LSTMConfig.seed000(epochs=1) if args.seed000
            else LSTMConfig(epochs=1))
    spec = TrainingSpec(head="lstm", lstm=lstm, lstm_start=pd.Timestamp("2021-01-01"),
                        hmm_start=pd.Timestamp("2012-01-01"))
    model = train_strategy_model(market, args.symbol, pd.Timestamp("2022-12-30"), spec)
    scored = market.bars(args.symbol, "2021-06-01", "2025-12-31")
    inputs = model.model_inputs(scored)
    scaled = model.scaler_.transform(inputs.to_numpy(dtype=float)).astype(np.float32)
    ends = np.arange(model.warmup_bars, len(scored))
    windows = np.ascontiguousarray(model._windows(scaled, ends))
    net = model.lstm_.model_
    model.lstm_.predict_proba(windows[:1])  # compile once
    net.predict(windows[:64], verbose=0)
    compiled = best_seconds(lambda: model.lstm_.predict_proba(windows))
    with batches_one_after_another():
        compiled_serial = best_seconds(lambda: model.lstm_.predict_proba(windows))
    keras_predict = best_seconds(lambda: net.predict(windows, verbose=0, batch_size=64))
    one = windows[-1:]
    single_compiled = best_seconds(lambda: model.lstm_.predict_proba(one), 20)
    single_predict = best_seconds(lambda: net.predict(one, verbose=0), 20)
    single_live = best_seconds(lambda: model.lstm_.predict_proba_live(one), 20)
    print(f"(b) {len(windows):,} windows of {windows.shape[1]}x{windows.shape[2]}: compiled "
          f"{len(windows) / compiled:,.0f} windows/s (batches one after another "
          f"{len(windows) / compiled_serial:,.0f}), model.predict "
          f"{len(windows) / keras_predict:,.0f} windows/s (ratio "
          f"{keras_predict / compiled:.2f}x); single bar: live (numpy) "
          f"{single_live * 1e3:.2f} ms, compiled {single_compiled * 1e3:.1f} ms, "
          f"model.predict {single_predict * 1e3:.1f} ms")
    live_ms, old_ms = stream_ms(model, scored)
    print(f"    stream() per bar (features, regime filter, LSTM): live path {live_ms}, old "
          f"path (compiled batch of one) {old_ms} (median of {STREAMED} bars)")

    start, end = pd.Timestamp("2023-01-03"), pd.Timestamp("2025-12-31")
    rule = BacktestSettings(start=start, end=end, progress=False)
    ml = BacktestSettings(start=start, end=end, signals="ml", progress=False,
                          signal_models={args.symbol: model})
    n = len(market.bars(args.symbol, start, end))
    t_rule = best_seconds(lambda: run_symbol(market, args.symbol, rule))
    from indicators import model_cache

    def uncached():
        model_cache.clear()
        run_symbol(market, args.symbol, ml)
    t_ml = best_seconds(uncached)
    with batches_one_after_another():
        t_serial = best_seconds(uncached)
    t_cached = best_seconds(lambda: run_symbol(market, args.symbol, ml))
    print(f"(c) equity backtest, {n:,} bars: rule {n / t_rule:,.0f} bars/s, ML "
          f"{n / t_ml:,.0f} bars/s (ratio {t_rule / t_ml:.2f}x; keras batches one after "
          f"another {n / t_serial:,.0f} bars/s, {t_rule / t_serial:.2f}x), ML with cached "
          f"inference {n / t_cached:,.0f} bars/s")

    # the default head (the regime regression) on the same bars and dates
    regime = train_strategy_model(market, args.symbol, pd.Timestamp("2022-12-30"),
                                  TrainingSpec(lstm_start=spec.lstm_start,
                                               hmm_start=spec.hmm_start))
    ml = BacktestSettings(start=start, end=end, signals="ml", progress=False,
                          signal_models={args.symbol: regime})
    t_regime = best_seconds(uncached)
    print(f"(d) the same with the default regime head: {n / t_regime:,.0f} bars/s (ratio "
          f"{t_rule / t_regime:.2f}x the rule, inference included)")


if __name__ == "__main__":
    main()
