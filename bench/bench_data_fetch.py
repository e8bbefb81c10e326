"""Cold fetch through the rate limiter vs warm load from the Parquet cache, same data, one run.

Against the fake Polygon API of the tests (127.0.0.1, real ``massive`` client): SPY daily
bars for the window a backtest ending 2024-06-28 loads (with Treasury yields and CPI dates),
then the option chain of ``--sessions`` sessions from 2024-03-01 (contract lists + option
bars). Cold: empty cache, every request through a ``RateLimiter`` of ``--rate`` requests per
second (the free tier's 5 a minute would make this run take hours; the figure it would take
is printed too). Warm: a new source on the filled cache, best of ``--repeats``; it must
send no request.

Usage: python bench/bench_data_fetch.py [--rate 50] [--sessions 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from feeds.cache import ParquetCache  # noqa: E402
from feeds.calendar import sessions  # noqa: E402
from feeds.polygon import PolygonSource  # noqa: E402
from feeds.rate_limit import POLYGON_FREE_CALLS, POLYGON_FREE_PERIOD, RateLimiter  # noqa: E402
from tests.fakes.fake_polygon import FakePolygon  # noqa: E402

NOW = pd.Timestamp("2026-11-20 21:00", tz="America/New_York")


def load(server, cache, days, limiter=None) -> tuple[float, int]:
    """Seconds and requests to get the bars and every chain of ``days``."""
    began = time.perf_counter()
    source = PolygonSource(server.api_key, base=server.base, cache=cache, limiter=limiter,
                           now=NOW)
    source.bars("SPY", None, "2024-06-28")
    chain = source.option_chain("SPY")
    for day in days:
        chain.chain(day)
    return time.perf_counter() - began, source.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0,
                        help="limiter rate for the cold fetch, requests per second")
    parser.add_argument("--sessions", type=int, default=10, help="option-chain sessions")
    parser.add_argument("--repeats", type=int, default=3, help="warm loads (best is kept)")
    args = parser.parse_args()
    days = sessions("2024-03-01", "2024-06-28")[:args.sessions]
    with FakePolygon() as server, tempfile.TemporaryDirectory() as folder:
        cache = ParquetCache(folder)
        limiter = RateLimiter(max(int(args.rate), 1), max(int(args.rate), 1) / args.rate)
        cold, sent = load(server, cache, days, limiter)
        warm_runs = [load(server, cache, days) for _ in range(args.repeats)]
        warm = min(seconds for seconds, _ in warm_runs)
        assert all(requests == 0 for _, requests in warm_runs), "warm load sent requests"
    free = sent / POLYGON_FREE_CALLS * POLYGON_FREE_PERIOD
    print(f"data: SPY daily bars (backtest window to 2024-06-28) + option chains of "
          f"{len(days)} sessions; {sent} requests")
    print(f"{'run':<44}{'seconds':>10}")
    print(f"{'cold fetch, limiter ' + f'{args.rate:g} req/s':<44}{cold:>10.2f}")
    print(f"{'warm cache load (best of ' + str(args.repeats) + ')':<44}{warm:>10.2f}")
    print(f"{'ratio cold / warm':<44}{cold / warm:>9.1f}x")
    print(f"{'cold at the free tier (5 req/min), estimated':<44}{free:>10.0f}"
          f"  ({free / 3600:.1f} h)")


if __name__ == "__main__":
    main()
