"""The same parameter sweep serially and on a 2-worker Dask LocalCluster, in one run.

Credit spreads on the sample market (SPY, QQQ), a 2 x 2 grid (target_delta x width) and 4
walk-forward folds over 2019-2024: 32 backtests. Both sides start warm (libraries imported,
bars and option chains in memory, in this process and in every worker) so the figure is the
sweep itself; the cluster's start-up is printed on its own line and as a second ratio.
Both tables are checked to be identical.

Usage: python bench/bench_sweep.py [--workers 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweeps.grid import parse_grid  # noqa: E402
from sweeps.plan import SourceSpec, SweepSpec, open_source  # noqa: E402
from sweeps.runner import THREAD_ENV, run_sweep  # noqa: E402

SYMBOLS = ("SPY", "QQQ")
GRID = ["target_delta=0.2,0.3", "width=5,10"]


def warm(source: SourceSpec) -> int:
    """Import the backtest stack and load bars and option chains into this process."""
    import backtest  # noqa: F401

    market = open_source(source)
    for symbol in SYMBOLS:
        market.option_chain(symbol)
    return 1


def timed_sweep(spec: SweepSpec, cluster: str | None, repeats: int) -> tuple[float, pd.DataFrame]:
    best, table = float("inf"), None
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:  # fresh store: nothing to resume
            t0 = time.perf_counter()
            table = run_sweep(spec, folder, cluster=cluster).table
            best = min(best, time.perf_counter() - t0)
    return best, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as cache:
        source = SourceSpec("sample", 42, None, cache)
        spec = SweepSpec("credit-spread", SYMBOLS, parse_grid("credit-spread", GRID),
                         pd.Timestamp("2019-01-02"), pd.Timestamp("2024-12-31"), 4, source)
        warm(source)  # also writes the bars into the cache the workers read
        t0 = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address="127.0.0.1:0",
                          scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR,
                          env=THREAD_ENV) as cluster, Client(cluster) as client:
            client.run(warm, source)
            start_up = time.perf_counter() - t0
            serial, serial_table = timed_sweep(spec, None, args.repeats)
            parallel, dask_table = timed_sweep(spec, cluster.scheduler_address, args.repeats)
        pd.testing.assert_frame_equal(serial_table, dask_table, check_exact=True)
    runs = len(serial_table)
    print(f"sweep: {runs} credit-spread backtests ({len(SYMBOLS)} symbols x 4 parameter sets "
          f"x 4 folds, {spec.start:%Y-%m-%d}..{spec.end:%Y-%m-%d}), best of {args.repeats}; "
          "tables identical")
    print(f"serial (this process):        {serial:6.2f} s  ({runs / serial:.2f} runs/s)")
    print(f"dask, {args.workers} local workers:       {parallel:6.2f} s  ({runs / parallel:.2f} runs/s)")
    print(f"speed-up: {serial / parallel:.2f}x")
    print(f"cluster start + warm-up:      {start_up:6.2f} s  (speed-up counting it: "
          f"{serial / (parallel + start_up):.2f}x)")


if __name__ == "__main__":
    main()
