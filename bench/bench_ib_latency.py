"""Bar-to-order latency of the paper loop against the fake TWS, in one run.

paper loop: the fake TWS streams a 5-second bar -> ib_async on the store's loop thread ->
            queue -> IBData._load -> RuleSignal -> strategy.next places a market order ->
            IBBroker (journal write, orderRef) -> store loop -> socket -> the fake reads the
            placeOrder. Measured from the fake's send of the bar to its read of the order,
            one bar at a time (the next bar goes out once the order has arrived).
floor:      the same placeOrder sent straight through the store from a plain thread
            (no backtrader, no journal): what the socket and ib_async cost alone.

The strategy trades every bar (buy 1 share when flat, else sell 1) so each bar yields one
order; orders fill at once. Bars (and floor orders) go out at most ``--rate`` per second:
ib_async throttles requests at 45 per second (IB's limit is 50 messages/s), and an unpaced
run measures that queue, not the loop. Prints median, p90, p99 and max in milliseconds
and the ratio of the medians.

Usage: python bench/bench_ib_latency.py [--bars 500] [--rate 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ib_async import MarketOrder, Stock  # noqa: E402

from brokers.ib_store import StoreSettings  # noqa: E402
from engine.paper import PaperSettings, build  # noqa: E402
from strategies.base import SignalStrategy  # noqa: E402
from tests.fakes.fake_tws import FakeTWS  # noqa: E402

WARMUP_BARS = 80


class EveryBar(SignalStrategy):
    """Computes the rule signal like our strategies, and orders on every live bar."""

    params = (("config", None),)

    def next(self):
        if self.data.backfilling:
            return
        _ = self.signals[self.data].signal[0]
        if self.position.size:
            self.sell(size=1)
        else:
            self.buy(size=1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def pace(last: float, rate: float) -> float:
    """Wait until 1/rate seconds after ``last`` (the driver thread only, never the loop)."""
    gap = 1.0 / rate - (time.perf_counter() - last)
    if gap > 0:
        time.sleep(gap)
    return time.perf_counter()


def loop_latencies(n: int, rate: float) -> list[float]:
    start = dt.date(2020, 1, 1)
    history = [((start + dt.timedelta(days=i)).strftime("%Y%m%d"), 100 + i % 7, 101 + i % 7,
                99 + i % 7, 100.5 + i % 7, 1000) for i in range(WARMUP_BARS)]
    out = []
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=100.0)
        tws.set_history("SPY", history)
        settings = PaperSettings(store=StoreSettings(port=tws.port, client_id=31),
                                 bar_size="5 secs", tz="UTC", max_bars=n, qcheck=0.5,
                                 trade_start=start)
        cerebro, store, broker, _ = build(settings, out=lambda text: None)
        cerebro.strats.clear()
        cerebro.addstrategy(EveryBar)
        thread = threading.Thread(target=cerebro.run, daemon=True)
        thread.start()
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, timeout=30)
        first = int(dt.datetime(2021, 1, 4, tzinfo=dt.UTC).timestamp())
        last = 0.0
        for k in range(n):
            last = pace(last, rate)
            price = 100.0 + (k % 11) * 0.1
            sent = tws.push_bar("SPY", first + 5 * k, price, price + 0.2, price - 0.2, price)
            tws.wait_until(lambda k=k: len(tws.placed) > k, timeout=30)
            out.append(tws.placed_at[k] - sent)
        thread.join(30)
        store.stop()
    return out


def floor_latencies(n: int, rate: float) -> list[float]:
    from brokers.ib_store import IBStore

    out = []
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=100.0)
        store = IBStore(port=tws.port, client_id=32).start()
        [spy] = store.qualify(Stock("SPY", "SMART", "USD"))
        last = 0.0
        for k in range(n):
            last = sent = pace(last, rate)
            store.place(spy, MarketOrder("BUY" if k % 2 == 0 else "SELL", 1))
            tws.wait_until(lambda k=k: len(tws.placed) > k, timeout=30)
            out.append(tws.placed_at[k] - sent)
        store.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bars", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="bars (orders) per second")
    args = parser.parse_args()
    rows = {"paper loop (bar -> order)": loop_latencies(args.bars, args.rate),
            "floor (place -> order)": floor_latencies(args.bars, args.rate)}
    print(f"{'path':<28}{'n':>6}{'median ms':>12}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    medians = {}
    for name, values in rows.items():
        ms = [1000 * v for v in values]
        medians[name] = statistics.median(ms)
        print(f"{name:<28}{len(ms):>6}{statistics.median(ms):>12.2f}"
              f"{percentile(ms, 0.9):>10.2f}{percentile(ms, 0.99):>10.2f}{max(ms):>10.2f}")
    loop, floor = medians.values()
    print(f"ratio (median): {loop / floor:.1f}x the floor")


if __name__ == "__main__":
    main()
