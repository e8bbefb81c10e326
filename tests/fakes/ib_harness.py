"""Test helpers for the IB side: a paper run on the fake TWS, driven bar by bar.

``PaperRun`` starts a ``FakeTWS``, builds the paper cerebro (``engine.paper.build``)
and runs it on a thread; ``push(bar)`` streams one live bar and returns when the strategy
has processed it *and* the fake has received every order the broker sent on it, so the
next bar (which fills market orders at its open in 'next_bar_open' mode) never races an
order. ``ib_log`` fails a test on any ib_async decoder error and on unexpected ERRORs.

Runs use the paper command's default time zone (America/New_York): a live bar of a date is
streamed as the 5-second bar that ends that date's session (15:59:55 New York time, an
epoch computed with zoneinfo, so DST is right), and tests assert New York wall-clock times.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import signal
import threading
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import backtrader as bt
import pytest

from brokers.ib_store import StoreSettings
from engine.paper import PaperSettings, build
from tests.fakes.fake_tws import WAIT, FakeTWS

NEW_YORK = ZoneInfo("America/New_York")
#: when a live bar of a date is streamed (the start of the session's last 5-second bar)
LAST_5S = dt.time(15, 59, 55)
FAST = dict(reconnect_delay=0.05, reconnect_max_delay=0.2, connect_timeout=3.0,
            request_timeout=3.0, pacing_delay=0.01)


#: how long an operator's steps wait for the command under test: long, for a loaded
#: machine, since each wait ends as soon as its condition holds
OPERATOR_WAIT = 60.0


class CtrlC(threading.Thread):
    """The operator of a Ctrl-C test: ``steps()`` (waits on the fake TWS, bars pushed), then
    a real SIGINT to the main thread, which also wakes it from a blocking wait
    (``_thread.interrupt_main`` only sets a flag, which a main thread waiting on a lock never
    reads). The SIGINT goes also when a step fails (a wait that timed out), so the command
    under test stops instead of running on and hanging the suite; ``check()`` then raises
    that failure in the test."""

    def __init__(self, steps: Callable[[], None]):
        super().__init__(daemon=True)
        self.steps = steps
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.steps()
        except BaseException as exc:  # noqa: BLE001 - raised in the test by check()
            self.error = exc
        finally:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    def check(self, timeout: float = 10.0) -> None:
        """Wait for the operator; raise what failed in its steps."""
        self.join(timeout)
        if self.error is not None:
            raise self.error


class IBLogCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.allowed: list[str] = []

    def emit(self, record):
        self.records.append(record)

    def allow(self, *patterns: str) -> None:
        """ERROR messages matching these regexes are expected in this test."""
        self.allowed += patterns

    def problems(self) -> list[str]:
        out = []
        for r in self.records:
            text = r.getMessage()
            if r.name == "ib_async.Decoder":
                out.append(f"decoder: {text}")
            elif r.levelno >= logging.ERROR and not any(re.search(p, text)
                                                        for p in self.allowed):
                out.append(f"{r.name}: {text}")
            elif "No order found" in text or "Unknown reqId" in text:
                out.append(f"{r.name}: {text}")
        return out


@pytest.fixture(name="ib_log")
def ib_log_fixture():
    """Collects ib_async's log; the test fails on decoder errors and unexpected ERRORs."""
    collector = IBLogCollector()
    logger = logging.getLogger("ib_async")
    old = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(collector)
    yield collector
    logger.removeHandler(collector)
    logger.setLevel(old)
    problems = collector.problems()
    assert not problems, "ib_async logged:\n" + "\n".join(problems)


def zigzag_bars(n: int, start: dt.date = dt.date(2024, 1, 1), base: float = 100.0,
                slope: float = 0.3) -> list[tuple]:
    """Daily bars of a noisy uptrend (RuleSignal says BUY with confidence once warm)."""
    out = []
    for i in range(n):
        p = base + i * slope + (2.0 if i % 3 == 0 else 0.0)
        out.append((start + dt.timedelta(days=i), p, p + 1.0, p - 1.0, p + 0.2, 1000.0))
    return out


def ib_history(bars: list[tuple]) -> list[tuple]:
    return [(d.strftime("%Y%m%d"), o, h, lo, c, v) for d, o, h, lo, c, v in bars]


def ny_epoch(when: dt.datetime) -> int:
    """Epoch seconds of a naive New York wall-clock time."""
    return int(when.replace(tzinfo=NEW_YORK).timestamp())


def ny_time(epoch_s: float) -> dt.datetime:
    """Naive New York wall-clock time of an epoch (what the strategy should see)."""
    return dt.datetime.fromtimestamp(epoch_s, NEW_YORK).replace(tzinfo=None)


def epoch(day: dt.date, at: dt.time = LAST_5S) -> int:
    """Epoch of ``at`` New York time on ``day`` (default: the session's last 5 seconds)."""
    return ny_epoch(dt.datetime.combine(day, at))


# ---------------------------------------------------------------- run.py paper on 5-second bars
def paper_equity_argv(tws, tmp_path, client_id: int, *extra: str) -> list[str]:
    """``run.py paper`` trading SPY's equity strategy on 5-second bars from ``tws`` after a
    day's backfill, its journal in ``tmp_path``; each test file its own ``client_id``."""
    return ["paper", "--strategy", "equity", "--symbols", "SPY", "--ib-port", str(tws.port),
            "--client-id", str(client_id), "--bar-size", "5 secs", "--backfill", "1 D",
            "--journal", str(tmp_path / "journal.sqlite"), "--connect-timeout", "3", *extra]


def today_market(tws, live: int) -> list[tuple]:
    """SPY's daily history up to yesterday (New York) in ``tws``, which only warms the
    indicators up (the rule signal calls BUY on every bar), and ``live`` bars of today to
    push."""
    today = dt.datetime.now(NEW_YORK).date()
    bars = zigzag_bars(80 + live, start=today - dt.timedelta(days=80))
    tws.add_stock("SPY", 756733, price=bars[79][4])
    tws.set_history("SPY", ib_history(bars[:80]))
    return bars[80:]


def push_today(tws, bar: tuple, k: int) -> None:
    """``bar``'s prices as today's ``k``-th 5-second bar from 10:00 New York time."""
    ten = dt.datetime.combine(dt.datetime.now(NEW_YORK).date(), dt.time(10))
    _, o, h, lo, c, v = bar
    tws.push_bar("SPY", ny_epoch(ten + dt.timedelta(seconds=5 * k)), o, h, lo, c, v)


class Progress(bt.Analyzer):
    """Counts live bars the strategy has finished (after its ``next``); records every order
    notification the strategy receives."""

    params = (("run", None),)

    def notify_order(self, order):
        self.p.run.record(order)

    def next(self):
        if not self.strategy.datas[0].backfilling:
            self.p.run.bar_done()


class Scripted(bt.Strategy):
    """Does ``actions[k](strategy)`` on the k-th live bar (0-based); records notifications."""

    params = (("actions", None), ("run", None), ("signal_factory", None), ("trade_start", None),
              ("config", None))

    def __init__(self):
        self.live = 0
        self.orders = []

    def next(self):
        if self.datas[0].backfilling:
            return
        action = (self.p.actions or {}).get(self.live)
        self.live += 1
        if action is not None:
            action(self)


class PaperRun:
    """A paper run on a fake TWS; use as a context manager."""

    def __init__(self, tws: FakeTWS, bars: list[tuple], live: list[tuple], strategy: str = "equity",
                 actions: dict | None = None, client_id: int = 11, settings: dict | None = None,
                 journal=None):
        self.tws = tws
        self.bars = bars
        self.live = list(live)
        self.pushed = 0
        self.notes: list = []
        self.orders: list = []  # every notified order (clones), in notification order
        self.events: list[str] = []
        self._cond = threading.Condition()
        self._done_bars = 0
        self.error: BaseException | None = None
        options = dict(strategy="equity" if strategy == "scripted" else strategy,
                       symbols=["SPY"],
                       store=StoreSettings(port=tws.port, client_id=client_id, **FAST),
                       bar_size="5 secs", max_bars=len(live), qcheck=0.02,
                       trade_start=bars[-1][0] + dt.timedelta(days=1))
        self.settings = PaperSettings(**{**options, **(settings or {})})
        self.cerebro, self.store, self.broker, self.datas = build(
            self.settings, journal=journal, out=self._out)
        if strategy == "scripted":
            self.cerebro.strats.clear()
            self.cerebro.addstrategy(Scripted, actions=actions, run=self)
        self.cerebro.addanalyzer(Progress, run=self)
        self.thread = threading.Thread(target=self._run, name="cerebro", daemon=True)

    def _out(self, text: str) -> None:
        with self._cond:
            self.events.append(text)
            self._cond.notify_all()

    def _run(self):
        try:
            self.result = self.cerebro.run()
        except BaseException as exc:  # surfaced by finish()
            self.error = exc
        finally:
            with self._cond:
                self._cond.notify_all()

    def __enter__(self) -> PaperRun:
        self.thread.start()
        self.tws.wait_until(lambda: self.tws.subscribers("SPY") > 0, what="bar subscription")
        return self

    def __exit__(self, *exc):
        self.store.stop()
        self.thread.join(10)

    # called from the cerebro thread
    def bar_done(self):
        with self._cond:
            self._done_bars += 1
            self._cond.notify_all()

    def record(self, order):
        with self._cond:
            self.notes.append((order.getstatusname(), dict(order.info), order.executed.size,
                               order.executed.price, order.executed.comm, order.ref))
            self.orders.append(order)
            self._cond.notify_all()

    # called from the test thread
    def wait(self, predicate, timeout: float = WAIT, what: str = "condition") -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate() or self.error is not None, timeout)
        if self.error is not None:
            raise self.error
        assert ok, f"timed out waiting for {what}; events: {self.events[-5:]}"

    def push(self) -> tuple:
        """Stream the next live bar; return when it is processed and its orders arrived."""
        bar = self.live[self.pushed]
        self.pushed += 1
        day, o, h, lo, c, v = bar
        target = self._done_bars + 1
        # after a reconnect the feed re-subscribes only once it caught up on missed bars
        self.tws.wait_until(lambda: self.tws.subscribers("SPY") > 0, what="bar subscription")
        self.tws.push_bar("SPY", epoch(day), o, h, lo, c, v)
        self.wait(lambda: self._done_bars >= target, what=f"bar {day} processed")
        sent = self.broker.sent
        self.tws.wait_until(lambda: len(self.tws.placed) >= sent, what="orders at the fake")
        return bar

    def wait_bars(self, n: int, what: str = "") -> None:
        """Wait until the strategy has finished ``n`` live bars in total."""
        self.wait(lambda: self._done_bars >= n, what=what or f"{n} live bar(s)")

    def join(self, timeout: float = 10.0) -> None:
        """Wait for cerebro to stop by itself (after --max-bars)."""
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error
        assert not self.thread.is_alive(), "cerebro did not stop after --max-bars"

    def statuses(self) -> list[str]:
        with self._cond:
            return [n[0] for n in self.notes]

    def finish(self, timeout: float = 10.0) -> None:
        """Stream the remaining live bars, then wait for cerebro to stop (--max-bars)."""
        while self.pushed < len(self.live):
            self.push()
        self.join(timeout)


def frame_bars(frame) -> list[tuple]:
    """(date, open, high, low, close, volume) rows of a bars DataFrame indexed by date."""
    return [(ts.date(), float(r.open), float(r.high), float(r.low), float(r.close),
             float(r.volume)) for ts, r in zip(frame.index, frame.itertuples(), strict=True)]


@contextlib.contextmanager
def spy_tws(history: list[tuple]) -> Iterator[FakeTWS]:
    """The IB order tests' fake TWS: SPY listed at ``history``'s last close with that
    daily history, and a commission of half a cent a share."""
    with FakeTWS(stock_commission=lambda shares, price: 0.005 * shares) as fake:
        fake.add_stock("SPY", 756733, price=history[-1][4])
        fake.set_history("SPY", ib_history(history))
        yield fake
