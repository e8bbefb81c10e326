"""Seconds per symbol to write a backtest's report folder, today's path beside the old one,
in one run (issue 16: the report took about 4 s a symbol, longer than the backtest).

The sample market's last 5 years (RuleSignal, EquityStrategy, every report analyzer), one
backtest per symbol run once; then ``analyzers.report.write_report`` writes the whole
folder (tear sheets, plots, tables, index.html) three ways:

  old:               pyfolio as shipped, one symbol after another (the path before issue 16)
  same figures, 1 core: the faster tear sheets (vectorised rolling beta, cached date
                     ticks), one process
  today:             the faster tear sheets, pictures drawn in parallel (one process a core)

for one symbol and for several. Each is checked to write the same files; best of N.
``--tensorflow`` loads TensorFlow first, as an ML backtest has by its report: this process
may then not fork, and the two ways are one process (before) and the fork server's workers
(today; ``analyzers.render_pool``).
Beside the wall-clock seconds, the CPU seconds of this process and its workers (``os.times``,
children included): on a machine that others share, the CPU seconds say how much work a
path is, the wall-clock ones how long it took with the cores that were free.

Usage: python bench/bench_report.py [--symbols SPY,QQQ] [--years 5] [--repeats 2] [--tensorflow]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzers.render_pool import start_render_server  # noqa: E402
from analyzers.report import write_report  # noqa: E402
from core.cores import available_cores  # noqa: E402
from engine.backtest import BacktestSettings, realized_direction, run_symbol  # noqa: E402
from feeds.sample_market import SampleMarket  # noqa: E402

PATHS = {"old (pyfolio as shipped, 1 process)": {"fast": False, "workers": 1},
         "same figures, 1 process": {"fast": True, "workers": 1},
         "today (same figures, 1 process a core)": {"fast": True, "workers": None}}
#: --tensorflow: TensorFlow loaded in this process (an ML backtest's report), where this
#: process may not fork: before, the pictures were drawn here; today by the fork server's
#: workers (``analyzers.render_pool``), started before the backtests as the ML commands do
TENSORFLOW_PATHS = {"TF loaded, before (1 process)": {"fast": True, "workers": 1},
                    "TF loaded, today (fork server, 1 a core)": {"fast": True,
                                                                 "workers": None}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", default="SPY,QQQ")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tensorflow", action="store_true",
                        help="load TensorFlow first, as an ML backtest has (the fork server's "
                             "workers draw; their CPU is not counted)")
    args = parser.parse_args()
    paths = PATHS
    if args.tensorflow:
        start_render_server("engine.backtest")
        paths = TENSORFLOW_PATHS
    market = SampleMarket()
    symbols = args.symbols.split(",")
    end = min(market.bars(s).index[-1] for s in symbols)
    start = end - pd.DateOffset(years=args.years)
    settings = BacktestSettings(start=start, end=end, progress=False)
    results = [run_symbol(market, s, settings) for s in symbols]
    if args.tensorflow:
        import tensorflow  # noqa: F401  (what an ML backtest has loaded by its report)
    print(f"report of {args.years} years ({start:%Y-%m-%d}..{end:%Y-%m-%d}, "
          f"{len(results[0].returns):,} sessions a symbol), {available_cores()} cores, "
          f"best of {args.repeats}")
    groups = [results[:1]] + ([results] if len(results) > 1 else [])
    print(f"{'s/symbol: wall (CPU)':<42}" + "".join(f"{f'{len(g)} symbol(s)':>18}" for g in groups))
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, options in paths.items():
            cells = []
            for group in groups:
                folder = Path(tmp) / f"{len(group)}-{options['fast']}-{options['workers']}"

                def write(group=group, folder=folder, options=options):
                    return write_report(folder, group, "bench\n", {"command": "bench"},
                                        lambda r: realized_direction(
                                            market.bars(r.symbol)["close"]),
                                        **options)

                wall, cpu = best_wall_and_cpu(write, args.repeats)
                cells.append(f"{wall / len(group):.2f} ({cpu / len(group):.2f})")
                files.setdefault(len(group), set()).add(
                    frozenset(p.relative_to(folder) for p in folder.rglob("*")))
            print(f"{name:<42}" + "".join(f"{cell:>18}" for cell in cells))
    same = all(len(names) == 1 for names in files.values())
    print("every path wrote the same files" if same else "error: the paths wrote other files")
    if not same:
        sys.exit(1)


def best_wall_and_cpu(fn, repeats: int) -> tuple[float, float]:
    """The fewest wall-clock seconds of ``repeats`` calls and the fewest CPU seconds (this
    process and the workers it waited for)."""
    walls, cpus = [], []
    for _ in range(repeats):
        before, t0 = os.times(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        after = os.times()
        cpus.append(sum(getattr(after, f) - getattr(before, f) for f in
                        ("user", "system", "children_user", "children_system")))
    return min(walls), min(cpus)


if __name__ == "__main__":
    main()
