"""Issue 6's costs on the sample market's bars, in one run:

(a) the HFT-style filters (Kalman trend, regression slope, implied-vs-realized divergence,
    Kalman pairs spread): a whole series through the batch function, and the same series one
    bar at a time through the filter's ``update``, per filter;
(b) training and inference time of each Direction member (XGBoost, random forest, gradient
    boosting, LSTM, GRU, TCN) on the same feature rows and triple-barrier labels the
    DirectionModel trains on (one fit each; inference over all rows, for one row, and for one
    row through the live path a stream uses), then the meta-model, the whole DirectionModel
    (walk-forward + final fit; its tree and keras members side by side, as it trains, and one
    after another: the same model) and its scoring (``predict_frame``, and bar by bar through
    ``stream()`` on the live path and on the old one);
(then the trading mode's minute replay, ms a minute on the live path and the old one);
(c) an equity backtest with the ``Direction`` indicator vs the ``RuleSignal`` baseline over
    the same window (bars/s, return, Sharpe, hit rate of the calls).

DirectionModel's default sizes unless --quick (2 epochs, 50 trees: a quick check). The
model is trained on bars up to --train-end and backtested after it.
Usage: python bench/bench_direction.py [--symbol SPY] [--pair QQQ] [--quick] [--filters-only]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.live_path import batch_path, batches_one_after_another  # noqa: E402
from bench.timing import best_seconds  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402
from models.kalman import KalmanTrendFilter, kalman_trend  # noqa: E402
from models.regression_slope import RegressionSlopeFilter, regression_slope  # noqa: E402
from models.stat_arb import (  # noqa: E402
    ImpliedMoveDivergenceFilter,
    PairsSpreadFilter,
    implied_realized_divergence,
    pairs_spread,
)


def table(rows: list[dict]) -> str:
    return pd.DataFrame(rows).to_string(index=False)


def bench_filters(market: SampleMarket, symbol: str, pair: str) -> None:
    y = market.bars(symbol)
    x = market.bars(pair).reindex(y.index)
    if x["close"].isna().any():
        raise SystemExit(f"{symbol} and {pair} do not share their sessions")
    close, iv, other = y["close"], y["atm_iv"], x["close"]
    filters = [
        ("Kalman trend", lambda: kalman_trend(close), KalmanTrendFilter, [close]),
        ("Kalman trend, window 80", lambda: kalman_trend(close, window=80),
         lambda: KalmanTrendFilter(window=80), [close]),
        ("regression slope (20)", lambda: regression_slope(close, 20),
         lambda: RegressionSlopeFilter(20), [close]),
        ("implied vs realized (20, 60)", lambda: implied_realized_divergence(y, 20, 60),
         lambda: ImpliedMoveDivergenceFilter(20, 60), [close, iv]),
        (f"pairs spread {symbol}/{pair} (60)", lambda: pairs_spread(close, other, 60),
         lambda: PairsSpreadFilter(60), [close, other]),
    ]
    n, rows = len(y), []
    for name, batch, make, inputs in filters:
        values = [s.tolist() for s in inputs]

        def bar_by_bar(make=make, values=values):
            stream = make()
            for row in zip(*values, strict=True):
                stream.update(*row)

        t_batch, t_bars = best_seconds(batch), best_seconds(bar_by_bar)
        rows.append({"filter": name, "batch ms": round(t_batch * 1e3, 1),
                     "batch bars/s": f"{n / t_batch:,.0f}",
                     "per bar us": round(t_bars / n * 1e6, 1),
                     "bar-by-bar/batch time": round(t_bars / t_batch, 2)})
    print(f"(a) filters over {n:,} bars of {symbol} (best of 3)")
    print(table(rows))


def once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_members(model, bars: pd.DataFrame) -> None:
    """Each member fitted once on the rows and labels the model's final fit uses.

    Reads the model's own feature and window builders (``_features``, ``_inputs``,
    ``_make_member``) so the members see exactly what ``DirectionModel.fit`` gives them."""
    from models.triple_barrier import triple_barrier_labels

    cfg = model.config
    if cfg.max_train_bars and len(bars) > cfg.max_train_bars + model.warmup_bars:
        bars = bars.iloc[-(cfg.max_train_bars + model.warmup_bars):]
    X = model._features(bars)
    labels = triple_barrier_labels(bars["close"], cfg.horizon, cfg.profit_take, cfg.stop_loss,
                                   cfg.volatility_window)["label"].to_numpy()
    rows = np.arange(model.warmup_bars, len(bars))
    rows = rows[np.isfinite(labels[rows])]
    out, probs = [], []
    for name in cfg.members:
        member = model._make_member(name)
        inputs = model._inputs(member.kind, X, rows)
        t_fit = once(lambda m=member, i=inputs: m.fit(i, labels[rows]))
        member.predict_proba(inputs[-1:])  # compile / warm once
        t_all = best_seconds(lambda m=member, i=inputs: m.predict_proba(i))
        probs.append(member.predict_proba(inputs))
        t_one = best_seconds(lambda m=member, i=inputs: m.predict_proba(i[-1:]), 20)
        t_live = best_seconds(lambda m=member, i=inputs: m.predict_proba_live(i[-1:]), 20)
        out.append({"model": name, "fit s": round(t_fit, 2),
                    "predict rows/s": f"{len(rows) / t_all:,.0f}",
                    "predict 1 row ms": round(t_one * 1e3, 2),
                    "live 1 row ms": round(t_live * 1e3, 2)})
    P = np.stack(probs, axis=1)
    meta = model._make_meta(cfg.meta)
    t_fit = once(lambda: meta.fit(P, labels[rows]))
    t_all = best_seconds(lambda: meta.predict_proba(P))
    t_one = best_seconds(lambda: meta.predict_proba(P[-1:]), 20)
    out.append({"model": f"meta ({cfg.meta})", "fit s": round(t_fit, 3),
                "predict rows/s": f"{len(rows) / t_all:,.0f}",
                "predict 1 row ms": round(t_one * 1e3, 3),
                "live 1 row ms": round(t_one * 1e3, 3)})
    print(f"(b) Direction members on the same {len(rows):,} samples x {X.shape[1]} features "
          f"(sequence members: windows of {model.sequence_length}); fit once, predict best of 3")
    print(table(out))


def bench_minute_replay(market: SampleMarket, symbol: str, model, minutes: int = 60) -> None:
    """ms per minute of the trading mode's replay (``score_partial``) on the session after
    the model's training, beside the old path (``predict_frame`` over the warm-up and the
    partial bar each minute) on the same minutes."""
    import statistics

    from engine.ml_trading import minute_replay
    from engine.ml_trading.outcome import Outcome

    days = market.bars(symbol, model.trained_until, None)
    session = days.index[1]
    bars = market.bars(symbol, None, session)
    history = bars[bars.index < session]
    tail = history.iloc[-model.warmup_bars:]
    partial = minute_replay.partial_bars(
        market.minute_bars(symbol, session, session).iloc[:minutes], history.iloc[-1],
        bars.loc[session])
    outcome = Outcome(symbol, source="sample", model=model, replay=(session, tail, partial))
    t_first = once(lambda: minute_replay.score_partial(outcome, 0))  # feeds the stream too
    live, old = [], []
    for i in range(1, len(partial)):
        live.append(once(lambda i=i: minute_replay.score_partial(outcome, i)))
        frame = pd.concat([tail, partial.iloc[[i]].set_axis([session])])
        old.append(once(lambda frame=frame: model.predict_frame(frame)))
    print(f"    minute replay {symbol} {session:%Y-%m-%d}, {len(partial) - 1} minutes: "
          f"{statistics.median(live) * 1e3:.1f} ms a minute (median; the first minute "
          f"{t_first * 1e3:.0f} ms, feeding the stream the sessions before), old path "
          f"(predict_frame each minute) {statistics.median(old) * 1e3:.1f} ms")


def bench_direction(market: SampleMarket, symbol: str, train_end: pd.Timestamp,
                    quick: bool) -> None:
    from engine.backtest import BacktestSettings, run_symbol
    from indicators import model_cache
    from models import direction_model
    from models.direction_model import DirectionModel, make_direction_config

    config = make_direction_config()
    if quick:
        config = replace(config, epochs=2, n_estimators=50)
    train = market.bars(symbol, None, train_end)
    model = DirectionModel(config)
    t_fit = once(lambda: model.fit(train))
    in_turn = DirectionModel(config)  # the members one after another, as before the lanes
    with mock.patch.object(direction_model, "available_cores", lambda: 1):
        t_in_turn = once(lambda: in_turn.fit(train))
    bench_members(model, train)
    start, end = train_end + pd.Timedelta(days=1), market.bars(symbol).index[-1]
    full = market.bars(symbol, None, end)
    window = full.iloc[int(full.index.searchsorted(start)) - model.warmup_bars:]
    if not in_turn.predict_frame(window).equals(model.predict_frame(window)):
        raise SystemExit("error: the members trained in turn give another model")
    model.predict_frame(window)
    t_frame = best_seconds(lambda: model.predict_frame(window))
    with batches_one_after_another():
        t_frame_serial = best_seconds(lambda: model.predict_frame(window))
    records = list(zip(window.index, window.to_dict("records"), strict=True))

    def streamed() -> tuple[float, float]:
        """Wall-clock and this thread's CPU seconds per bar (CPU: what other jobs on the
        machine do not inflate)."""
        stream, c0 = model.stream(), time.thread_time()
        wall = once(lambda: [stream.update(day, row) for day, row in records])
        return wall / len(records), (time.thread_time() - c0) / len(records)

    t_stream, c_stream = streamed()
    with batch_path(model):  # the old single-bar path: TensorFlow calls, per-tree forest
        t_old, c_old = streamed()
    print(f"    whole DirectionModel ({len(config.members)} members, {config.n_folds} "
          f"walk-forward blocks + final fit, {config.meta} meta-model): fit {t_fit:.1f} s "
          f"(tree and keras members side by side; one after another {t_in_turn:.1f} s, "
          f"the same model); "
          f"predict_frame {len(window):,} bars {t_frame * 1e3:.0f} ms "
          f"({len(window) / t_frame:,.0f} bars/s; keras batches one after another "
          f"{t_frame_serial * 1e3:.0f} ms); stream {t_stream * 1e3:.1f} ms per bar "
          f"(CPU {c_stream * 1e3:.1f} ms) on the live path; old path {t_old * 1e3:.1f} ms "
          f"(CPU {c_old * 1e3:.1f} ms)")

    bench_minute_replay(market, symbol, model)
    n = len(market.bars(symbol, start, end))
    runs = {"rule": BacktestSettings(start=start, end=end, progress=False),
            "direction": BacktestSettings(start=start, end=end, signals="direction",
                                          progress=False, signal_models={symbol: model})}
    out = []
    for name, settings in runs.items():
        def run(settings=settings, name=name):
            if name == "direction":
                model_cache.clear()  # time the inference too
            return run_symbol(market, symbol, settings)
        t = best_seconds(run)
        metrics = run().metrics
        out.append({"signal": name, "bars/s": f"{n / t:,.0f}",
                    "return": f"{metrics['total_return']:.2%}",
                    "sharpe": round(metrics["sharpe"] or float("nan"), 2),
                    "max drawdown": f"{metrics['max_drawdown']:.2%}",
                    "trades": metrics["trades"], "calls": metrics.get("signal_calls"),
                    "hit rate": round(metrics.get("signal_hit_rate") or float("nan"), 3)})
    with batches_one_after_another():
        t_serial = best_seconds(lambda: (model_cache.clear(),
                                         run_symbol(market, symbol, runs["direction"])))
    t_cached = best_seconds(lambda: run_symbol(market, symbol, runs["direction"]))
    rule_t = n / float(out[0]["bars/s"].replace(",", ""))
    direction_t = n / float(out[1]["bars/s"].replace(",", ""))
    print(f"(c) equity backtest {symbol} {start:%Y-%m-%d}..{end:%Y-%m-%d} ({n:,} bars, best "
          f"of 3), buy and hold {metrics['benchmark_return']:.2%}")
    print(table(out))
    print(f"    Direction / rule time ratio {direction_t / rule_t:.1f}x (rule / Direction "
          f"{rule_t / direction_t:.2f}x the speed); keras batches one after another "
          f"{n / t_serial:,.0f} bars/s ({rule_t / t_serial:.2f}x); Direction with cached "
          f"inference {n / t_cached:,.0f} bars/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbol", default="SPY")
    parser.add_argument("--pair", default="QQQ", help="x of the pairs spread (SPY on QQQ)")
    parser.add_argument("--train-end", type=pd.Timestamp, default=pd.Timestamp("2022-12-30"))
    parser.add_argument("--quick", action="store_true", help="2 epochs, 50 trees")
    parser.add_argument("--filters-only", action="store_true", help="part (a) only")
    args = parser.parse_args()
    market = SampleMarket(seed=42)
    bench_filters(market, args.symbol, args.pair)
    if not args.filters_only:
        bench_direction(market, args.symbol, args.train_end, args.quick)


if __name__ == "__main__":
    main()
