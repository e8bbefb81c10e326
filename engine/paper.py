"""A paper-trading run on IB, assembled: one store connection, one live feed per symbol, the
IB broker and the very strategy class a backtest uses (from ``strategies.registry``), in
the one-account cerebro a portfolio backtest uses too (``engine.account``)."""

from __future__ import annotations

import datetime as dt
import time
from array import array
from dataclasses import dataclass, field

import backtrader as bt

from brokers.bar_times import now_local
from brokers.ib_broker import IBBroker
from brokers.ib_feed import IBData, check_close_grace
from brokers.ib_store import IBStore, StoreSettings
from brokers.journal import Journal
from core.errors import DataError
from engine.account import one_account
from engine.cerebro import RunCerebro
from strategies.registry import SIGNALS, STRATEGIES


@dataclass
class PaperSettings:
    """Everything a paper run needs; the command line fills it."""

    strategy: str = "equity"
    symbols: list[str] = field(default_factory=lambda: ["SPY"])
    signals: str = "rule"
    store: StoreSettings = field(default_factory=StoreSettings)
    journal: str = ":memory:"
    bar_size: str = "1 day"
    backfill: str = "1 Y"
    live: str = "realtime"
    use_rth: bool = True
    #: the zone bar times are shown in; dates (sessions, warm-up, expiry, daily loss) stay
    #: New York's whatever it is
    tz: str = "America/New_York"
    #: daily bars only: cut and deliver the day's bar at this New York time ("HH:MM")
    #: instead of the close
    decide_at: str | None = None
    #: realtime bars: seconds past a bar's end (the close, 13:00 on a half day, or
    #: ``decide_at``) on the feed's clock after which the bar goes out without the 5-second
    #: bar that ends it; from 0 to below ``brokers.ib_feed.CLOSE_GRACE_LIMIT``
    close_grace: float = 10.0
    max_bars: int | None = None
    allow_live: bool = False
    cancel_on_exit: bool = False
    max_daily_loss: float | None = None
    max_open_spreads: int | None = None
    trade_start: dt.date | None = None
    qcheck: float = 0.5
    #: the strategy's config (its ``StrategySpec.config_cls``); None = the defaults
    strategy_config: object = None
    #: ``signals`` ml / direction: the fitted model of each symbol
    #: (``engine.paper_models.paper_models`` loads and checks them)
    signal_models: dict = field(default_factory=dict)
    #: warnings about those models, per symbol (a model of a simulated market), said as the
    #: run starts
    model_notes: dict = field(default_factory=dict)
    #: print the status line after every live bar (``paper -q``: no)
    status_lines: bool = True

    def __post_init__(self):
        """Refuse a ``close_grace`` no feed can use (``check_close_grace``), naming it as
        ``close_grace=...`` (the command turns it into ``--close-grace``), before any feed
        is built."""
        self.close_grace = check_close_grace(self.close_grace)


class PaperCerebro(RunCerebro):
    """The paper run's cerebro: when the live bars end (``--max-bars``), the broker waits
    (at most the request timeout) for IB's answers to the orders still unanswered and
    hands them to the strategy *before* it stops. backtrader stops the strategies first
    and the broker after, so an order rejected after the last bar reached the journal
    but never the strategy: no ``not filled:`` line, nothing in the ``done:`` count."""

    def _runnext(self, runstrats):
        super()._runnext(runstrats)
        if self._event_stop:
            return
        self._broker.await_replies()
        # backtrader's ``_brokernotify`` without the broker's ``next``: no bar came
        while (order := self._broker.get_notification()) is not None:
            owner = order.owner or runstrats[0]
            owner._addnotification(order, quicknotify=self.p.quicknotify)


class PaperStatus(bt.Analyzer):
    """Prints one status line per live bar (bar time in the feed's zone, New York by
    default; value, cash, positions, spreads, orders, link) and the bar's decision latency:
    from the feed handing the bar over to the end of the strategy's ``next`` (indicators,
    model scoring, orders handed to the broker). ``latencies_ms`` keeps them per live bar
    (``bench/bench_paper_signals.py`` reads them)."""

    params = (("out", None),)

    def start(self):
        self.latencies_ms = array("d")

    def next(self):
        data = self.strategy.datas[0]
        if getattr(data, "backfilling", False):
            return
        handed = max(getattr(d, "filled_at", 0.0) for d in self.strategy.datas)
        latency = (time.perf_counter() - handed) * 1000.0
        self.latencies_ms.append(latency)
        if self.p.out is None:
            return
        broker = self.strategy.broker
        held = [f"{d._name} {broker.getposition(d).size:g}" for d in self.strategy.datas
                if broker.getposition(d).size]
        closes = " ".join(f"{d._name} {d.close[0]:.2f}" for d in self.strategy.datas)
        self.p.out(f"{data.datetime.datetime(0):%Y-%m-%d %H:%M:%S} {closes} | value "
                   f"{broker.getvalue():,.2f} cash {broker.getcash():,.2f} | positions "
                   f"{', '.join(held) or 'none'} | spreads {len(broker.open_spreads())} open | "
                   f"orders {len(broker.get_orders_open())} open | IB {broker.link_state} | "
                   f"decided in {latency:.1f} ms")


class StrategyNotes(bt.Analyzer):
    """Says each entry the strategy skipped and each of its orders that was not filled
    (its ``skipped`` and ``rejections``, which a backtest sums up in warnings at the end)
    when it happens, once each: a paper trader whose entries the risk budget all sizes to
    nothing, or whose orders IB rejects, learns why on that bar, not after the run.

    The strategy appends in ``next`` and ``notify_order``; backtrader calls an analyzer's
    after the strategy's, so a line is said on the bar (or the notification) that made it,
    before the bar's status line. ``stop`` says what came after the last bar."""

    params = (("out", print),)
    #: the strategy's list, and the words a line of it is said with
    NOTES = (("skipped", "skipped"), ("rejections", "not filled"))

    def start(self):
        self.said = {name: 0 for name, _ in self.NOTES}

    def _say(self) -> None:
        for name, label in self.NOTES:
            lines = getattr(self.strategy, name, ())
            for line in lines[self.said[name]:]:
                self.p.out(f"{label}: {line}")
            self.said[name] = len(lines)

    def notify_order(self, order):
        self._say()

    def next(self):
        self._say()

    def stop(self):
        self._say()

    def get_analysis(self) -> dict[str, int]:
        """How many lines of each list were said (``skipped``, ``rejections``)."""
        return dict(self.said)


def signal_factory(settings: PaperSettings):
    """What the strategy builds each symbol's signal lines with: the ``--signals``
    indicator, given its symbol's model when it needs one. With live data backtrader runs
    bar by bar, so a model indicator scores through the model's streaming path, warmed up
    on the backfill."""
    indicator = SIGNALS[settings.signals]
    if not getattr(indicator, "needs_model", False):
        return indicator
    if settings.bar_size != "1 day":  # one bar per session, like the bars it trained on
        raise DataError(f"--signals {settings.signals} scores daily sessions: use bar_size "
                        f"'1 day' (got {settings.bar_size!r})")
    lacking = [s for s in settings.symbols if s not in settings.signal_models]
    if lacking:
        raise DataError(f"--signals {settings.signals} needs a model for "
                        f"{', '.join(lacking)}")
    models = settings.signal_models

    def make(data):
        return indicator(data, model=models[data._name])

    return make


def build(settings: PaperSettings, store: IBStore | None = None, journal: Journal | None = None,
          out=print) -> tuple[bt.Cerebro, IBStore, IBBroker, list[IBData]]:
    """A ready-to-run cerebro on IB (the store is started, so connection errors show here)."""
    store = store or IBStore(settings.store)
    if not store.connected.is_set():
        store.start()
    journal = journal or Journal(settings.journal)
    feeds = {symbol: IBData(dataname=symbol, store=store, bar_size=settings.bar_size,
                            backfill=settings.backfill, live=settings.live,
                            use_rth=settings.use_rth, tz=settings.tz,
                            decide_at=settings.decide_at, close_grace=settings.close_grace,
                            max_live_bars=settings.max_bars,
                            qcheck=settings.qcheck)
             for symbol in settings.symbols}
    datas = list(feeds.values())
    broker = IBBroker(store=store, journal=journal, account=settings.store.account,
                      allow_live=settings.allow_live, max_daily_loss=settings.max_daily_loss,
                      max_open_spreads=settings.max_open_spreads,
                      cancel_on_exit=settings.cancel_on_exit, on_event=out)
    broker.set_backfill_check(lambda: any(d.backfilling for d in datas))
    trade_start = settings.trade_start
    if trade_start is None:  # backfill bars (before today, New York) only warm up
        trade_start = now_local().date()
    cerebro = one_account(feeds, broker, STRATEGIES[settings.strategy],
                          settings.strategy_config, signal_factory(settings), trade_start,
                          cerebro_cls=PaperCerebro, quicknotify=True)
    broker.watch(datas)  # named by now: the startup reconciliation books onto them
    # before the status line: a bar's skipped entry is said above that bar's status
    cerebro.addanalyzer(StrategyNotes, _name="strategy_notes", out=out)
    cerebro.addanalyzer(PaperStatus, _name="status", out=out if settings.status_lines else None)
    return cerebro, store, broker, datas
