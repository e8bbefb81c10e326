"""The benchmark world's edge, measured: what knowing the hidden regime is worth.

For every sampled bar of a sample-market symbol this prices both credit spreads with the
project's own label code (``training.labels.spread_outcome``: short leg near 30 delta, one
strike step wide (at least $5), 30-45 days to expiry, sold at the next bar's bid/ask; with
``--label fixed``, the default, bought back 10 sessions later at the ask/bid, the label the
figures in the docs were measured with; with ``--label strategy`` by the strategy's own
exits: profit take, stop, time exit, expiry, commissions) and prints, per true regime, the mean return
on risk of the put spread and the call spread, then three traders on the second half of
the window:

* majority: the label (hold / call spread / put spread) that is most common; its share;
* oracle: knows the true regime of each bar, and per regime trades the action (hold, put
  spread, call spread) that had the best mean return on the FIRST half of the window;
* perfect foresight: takes the better spread on every bar whose best return clears
  ``min_edge`` (the label itself), the upper bound no model reaches.

In the edge world (``--world edge``, the default) the oracle earns a positive mean return
per trade after costs; in the no-edge world it cannot beat noise.

Usage: python bench/bench_world.py [--symbol SPY] [--world edge|no-edge] [--step 2]
       [--label fixed|strategy]
       [--start 2008-01-02] [--end 2025-12-31] [--seed 42]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.domain import REGIME_NAMES  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402
from training.labels import LabelConfig, fixed_horizon_config, spread_outcome  # noqa: E402

ACTIONS = ("hold", "call", "put")


@dataclass(frozen=True)
class WorldEdge:
    """The measurement: per-bar returns and the traders' results on the second half."""

    returns: pd.DataFrame  # index: bar; columns: regime, put, call, label
    per_regime: pd.DataFrame  # mean put/call return, count, oracle action (first half)
    oracle_mean: float  # mean return per oracle trade, second half
    oracle_trades: int
    foresight_mean: float  # mean return per trade of perfect foresight, second half
    foresight_trades: int
    majority_share: float  # share of the most common label, whole window
    majority_label: str


def spread_returns(market: SampleMarket, symbol: str = "SPY", start=None, end=None,
                   step: int = 1, config: LabelConfig | None = None) -> pd.DataFrame:
    """Put and call spread return on risk of every ``step``-th bar between ``start`` and
    ``end`` (NaN where a spread cannot be priced), with the bar's true regime and label."""
    cfg = config or fixed_horizon_config(10)
    chain = market.option_chain(symbol)
    bars = chain.bars
    days = pd.DatetimeIndex(bars.index)
    mask = np.ones(len(days), dtype=bool)
    if start is not None:
        mask &= days >= pd.Timestamp(start)
    if end is not None:
        mask &= days <= pd.Timestamp(end)
    rows = np.flatnonzero(mask)[::step]
    outcomes = [(spread_outcome(chain, days, t, "put_credit", cfg),
                 spread_outcome(chain, days, t, "call_credit", cfg)) for t in rows]
    known = np.array([p is not None and c is not None for p, c in outcomes], dtype=bool)
    rows = rows[known]
    put = np.array([p.return_on_risk for (p, _), k in zip(outcomes, known, strict=True) if k])
    call = np.array([c.return_on_risk for (_, c), k in zip(outcomes, known, strict=True) if k])
    best = np.fmax(put, call)
    put_wins = np.nan_to_num(put, nan=-np.inf) >= np.nan_to_num(call, nan=-np.inf)
    label = np.where(best > cfg.min_edge, np.where(put_wins, 2, 1), 0)
    return pd.DataFrame({"regime": bars["true_regime"].to_numpy()[rows].astype(int),
                         "put": put, "call": call, "label": label}, index=days[rows])


def measure(returns: pd.DataFrame) -> WorldEdge:
    """The traders of the module docstring on ``returns`` (``spread_returns``' frame)."""
    half = len(returns) // 2
    first, second = returns.iloc[:half], returns.iloc[half:]
    per_regime = returns.groupby("regime")[["put", "call"]].mean()
    per_regime["bars"] = returns.groupby("regime").size()
    learned = first.groupby("regime")[["put", "call"]].mean()
    learned.insert(0, "hold", 0.0)
    oracle_action = learned.fillna(-np.inf).idxmax(axis=1)
    per_regime["oracle"] = oracle_action.reindex(per_regime.index).fillna("hold")
    action = second["regime"].map(per_regime["oracle"]).fillna("hold")
    traded = second[action != "hold"]
    oracle = np.where(action[action != "hold"] == "put", traded["put"], traded["call"])
    oracle = oracle[np.isfinite(oracle)]
    best = np.fmax(second["put"], second["call"])
    foresight = best[second["label"] != 0].to_numpy()
    counts = returns["label"].value_counts()
    return WorldEdge(
        returns=returns, per_regime=per_regime,
        oracle_mean=float(oracle.mean()) if len(oracle) else 0.0, oracle_trades=len(oracle),
        foresight_mean=float(foresight.mean()) if len(foresight) else 0.0,
        foresight_trades=len(foresight),
        majority_share=float(counts.max() / counts.sum()),
        majority_label=ACTIONS[int(counts.idxmax())])


def table(edge: WorldEdge) -> str:
    """The printed report."""
    lines = [f"{'regime':<28}{'bars':>6}{'put spread':>12}{'call spread':>13}  oracle picks"]
    for regime, row in edge.per_regime.iterrows():
        lines.append(f"{REGIME_NAMES[int(regime)]:<28}{int(row['bars']):>6}"
                     f"{row['put']:>+12.3f}{row['call']:>+13.3f}  {row['oracle']}")
    lines += [
        f"oracle (regime -> best action of the first half), second half: "
        f"{edge.oracle_mean:+.3f} per trade over {edge.oracle_trades} trades",
        f"perfect foresight, second half: {edge.foresight_mean:+.3f} per trade over "
        f"{edge.foresight_trades} trades",
        f"majority label: {edge.majority_label}, {edge.majority_share:.0%} of bars",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbol", default="SPY")
    parser.add_argument("--world", default="edge", choices=("edge", "no-edge"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--step", type=int, default=2, help="price every N-th bar")
    parser.add_argument("--start", default=None)
    parser.add_argument("--end", default=None)
    parser.add_argument("--label", default="fixed", choices=("fixed", "strategy"),
                        help="fixed: 10 sessions held (the docs' figures); strategy: the "
                             "strategy's exits (training.labels.LabelConfig defaults)")
    args = parser.parse_args()
    market = SampleMarket(seed=args.seed, world=args.world)
    config = fixed_horizon_config(10) if args.label == "fixed" else LabelConfig()
    returns = spread_returns(market, args.symbol, args.start, args.end, args.step, config)
    print(f"{args.symbol}, seed {args.seed}, {args.world} world, {len(returns)} bars "
          f"(every {args.step}), return on risk per spread after bid/ask costs")
    print(table(measure(returns)))


if __name__ == "__main__":
    main()
