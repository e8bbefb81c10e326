"""The default daily path trades: with ``--bar-size "1 day"`` the day's bar is built from
the session's 5-second bars and reaches the strategy with the bar that ends the session
(or at ``--decide-at``), dated the session, so the strategy is past its warm-up and may
place orders on it.

One full session of accelerated 5-second bars (4680 of them, no sleeping: the harness
waits on conditions) goes through the fake TWS to the credit-spread strategy; it must
send the very spread the simulated broker opens on the same daily bar."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading

import backtrader as bt
import pytest

import run as cli
from brokers.bar_times import session_hours
from brokers.options_broker import OptionsBroker
from feeds.btfeed import make_feed
from indicators import RuleSignal
from strategies import CreditSpreadConfig, CreditSpreadStrategy
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    NEW_YORK,
    PaperRun,
    frame_bars,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    ny_epoch,
)


def session_5s_bars(day: dt.date, o: float, h: float, lo: float, c: float, v: float,
                    until: dt.datetime | None = None) -> list[tuple]:
    """Every 5-second bar of ``day``'s regular session (epoch, open, high, low, close,
    volume) whose aggregate is exactly the daily bar (o, h, lo, c, v): a straight path from
    the open to the close, the high and the low touched once, whole-share volumes."""
    opens, closes = session_hours(day)
    n = int((closes - opens).total_seconds()) // 5
    path = [o + (c - o) * k / n for k in range(n)] + [c]
    share = float(int(v // n))
    out = []
    for k in range(n):
        a, b = path[k], path[k + 1]
        high = h if k == n // 3 else max(a, b)
        low = lo if k == 2 * n // 3 else min(a, b)
        volume = v - share * (n - 1) if k == n - 1 else share
        out.append((ny_epoch(opens + dt.timedelta(seconds=5 * k)), a, high, low, b, volume))
    return out


def sparse_5s_bars(day: dt.date, o: float, h: float, lo: float, c: float,
                   v: float) -> list[tuple]:
    """Four 5-second bars of ``day`` (the open, the high, the low, the one ending the
    session) that aggregate to the daily bar (o, h, lo, c, v)."""
    opens, closes = session_hours(day)
    times = [opens, opens + dt.timedelta(hours=1), opens + dt.timedelta(hours=2),
             closes - dt.timedelta(seconds=5)]
    prices = [(o, o, o, o), (o, h, o, o), (o, o, lo, o), (o, o, o, c)]
    return [(ny_epoch(t), *p, v / 4) for t, p in zip(times, prices, strict=True)]


class Orders(bt.Analyzer):
    def __init__(self):
        self.orders = []

    def notify_order(self, order):
        if all(o.ref != order.ref for o in self.orders):
            self.orders.append(order)

    def get_analysis(self):
        return self.orders


def opened(orders) -> list[tuple]:
    """(request bar's date, short leg, long leg, contracts, limit) of each opening order."""
    return [(bt.num2date(o.created.dt).date(), o.info["short"].symbol, o.info["long"].symbol,
             abs(o.created.size), round(o.info["limit"], 2))
            for o in orders if o.info.get("action") == "open"]


@pytest.fixture(scope="module")
def first_spread_day(sample_market):
    """The sample market's bars and the first day the simulated credit-spread strategy
    opens a spread (trading from the 81st bar), with the orders it sends that day."""
    frame = sample_market.bars("SPY", "2022-09-01", None).iloc[:120]
    chain = sample_market.option_chain("SPY")
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(frame, "SPY"))
    cerebro.broker = OptionsBroker(chains={"SPY": chain}, quote_limits=True)
    cerebro.broker.setcash(100_000)
    cerebro.addstrategy(CreditSpreadStrategy, config=CreditSpreadConfig(),
                        signal_factory=RuleSignal, trade_start=frame.index[80].date())
    cerebro.addanalyzer(Orders, _name="orders")
    sim = opened(cerebro.run()[0].analyzers.orders.get_analysis())
    day = sim[0][0]
    bars = frame_bars(frame)
    k = next(i for i, b in enumerate(bars) if b[0] == day)
    return bars[:k], bars[k], bars[k + 1], chain, [s for s in sim if s[0] <= bars[k + 1][0]]


def test_full_session_of_5s_bars_makes_the_day_bar_and_a_spread_order(first_spread_day,
                                                                       ib_log):
    history, (day, o, h, lo, c, v), after, chain, sim = first_spread_day
    session = session_5s_bars(day, o, h, lo, c, v)
    assert len(session) == 4680  # 09:30:00 .. 15:59:55
    close = session_hours(day)[1]
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        tws.add_chain_frame("SPY", chain.chain(day))
        with PaperRun(tws, history, [None, None], strategy="credit-spread",
                      settings={"bar_size": "1 day", "trade_start": day}) as run:
            for epoch, *bar in session[:-1]:
                tws.push_bar("SPY", epoch, *bar, account=False)
            epoch, *bar = session[-1]
            tws.push_bar("SPY", epoch, *bar)  # 15:59:55: the bar that ends the session
            run.wait_bars(1, "the day's bar at the close (before any bar of the next day)")
            tws.wait_until(lambda: len(tws.placed) >= 1, what="the spread order")
            run.wait(lambda: "Completed" in run.statuses(), what="the spread filled")
            tws.add_chain_frame("SPY", chain.chain(after[0]))
            for epoch, *bar in sparse_5s_bars(*after):  # the next day
                tws.push_bar("SPY", epoch, *bar)
            run.join(30)
    data = run.datas[0]
    assert len(data) == len(history) + 2  # one bar for the whole session, none before
    assert (data.datetime.datetime(-1), data.datetime.date(-1)) == (close, day)
    assert (data.open[-1], data.high[-1], data.low[-1], data.close[-1], data.volume[-1]) == \
        pytest.approx((o, h, lo, c, v))
    assert data.datetime.datetime(-2) == dt.datetime.combine(history[-1][0], dt.time(16))
    assert (data.datetime.date(0), data.close[0]) == (after[0], after[4])
    assert [p.contract["secType"] for p in tws.placed] == ["BAG"] * len(sim)
    # the very spread the simulated broker opens on that daily bar, and nothing the next day
    journal = run.broker.journal
    intents = journal.orders()
    assert [(dt.date.fromisoformat(json.loads(i["detail"])["bar"][:10]),
             json.loads(i["detail"])["short"]["symbol"],
             json.loads(i["detail"])["long"]["symbol"], i["quantity"],
             round(i["limit_price"], 2)) for i in intents] == sim
    assert json.loads(intents[0]["detail"])["bar"] == f"{close:%Y-%m-%d %H:%M:%S}"
    [spread] = journal.spreads()
    assert spread.entry_date == day
    assert any(e.startswith(f"{close:%Y-%m-%d %H:%M:%S} SPY {c:.2f} ") for e in run.events)


def test_decide_at_delivers_the_day_bar_at_that_time_once(ib_log):
    """--decide-at 15:45: the day's bar is built from the 5-second bars up to 15:45 and
    arrives with the one ending at 15:45, dated the session at 15:45; the 5-second bars
    after it (a new high, the 16:00 close) make no second bar for that date."""
    day, next_day = dt.date(2024, 1, 3), dt.date(2024, 1, 4)
    at = lambda d, h, m, s=0: ny_epoch(dt.datetime.combine(d, dt.time(h, m, s)))  # noqa: E731
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=470.0)
        tws.set_history("SPY", [(dt.date(2024, 1, 2), 470.0, 472.0, 468.0, 471.0, 1e6)])
        with PaperRun(tws, [(day, 0, 0, 0, 0, 0)], [None] * 2, strategy="scripted",
                      actions={}, settings={"bar_size": "1 day", "decide_at": "15:45",
                                            "trade_start": day}) as run:
            tws.push_bar("SPY", at(day, 9, 30), 471.0, 471.5, 470.5, 471.0, 100.0)
            tws.push_bar("SPY", at(day, 12, 0), 471.0, 475.0, 466.0, 474.0, 100.0)
            tws.push_bar("SPY", at(day, 15, 44, 55), 474.0, 474.5, 473.0, 473.5, 100.0)
            run.wait_bars(1, "the 15:45 bar")
            tws.push_bar("SPY", at(day, 15, 45), 473.5, 480.0, 473.5, 479.0, 100.0)
            tws.push_bar("SPY", at(day, 15, 59, 55), 479.0, 479.0, 478.0, 478.5, 100.0)
            tws.push_bar("SPY", at(next_day, 9, 30), 478.0, 478.0, 477.0, 477.5, 100.0)
            tws.push_bar("SPY", at(next_day, 15, 44, 55), 477.5, 478.0, 476.0, 476.5, 100.0)
            run.join()
    data = run.datas[0]
    assert [(data.datetime.datetime(-k), data.datetime.date(-k)) for k in (2, 1, 0)] == [
        (dt.datetime(2024, 1, 2, 16), dt.date(2024, 1, 2)),
        (dt.datetime(2024, 1, 3, 15, 45), day), (dt.datetime(2024, 1, 4, 15, 45), next_day)]
    # the 15:45 bar: the high of 12:00, the close of 15:44:55; nothing after 15:45
    assert (data.open[-1], data.high[-1], data.low[-1], data.close[-1], data.volume[-1]) == (
        471.0, 475.0, 466.0, 473.5, 300.0)
    assert [e[:27] for e in run.events if " | value " in e] == [
        "2024-01-03 15:45:00 SPY 473", "2024-01-04 15:45:00 SPY 476"]
    assert (data.open[0], data.high[0], data.low[0], data.close[0]) == (
        478.0, 478.0, 476.0, 476.5)


def test_paper_cli_decide_at_status_line(tmp_path, capsys, ib_log):
    """``run.py paper`` with the default bar size and --decide-at 15:45: the status line of
    the day's bar shows the session date at 15:45 with the 15:44:55 bar's close."""
    day = dt.date(2024, 1, 3)
    at = lambda h, m, s=0: ny_epoch(dt.datetime.combine(day, dt.time(h, m, s)))  # noqa: E731
    argv = ["paper", "--strategy", "credit-spread", "--symbols", "SPY", "--decide-at",
            "15:45", "--backfill", "5 D", "--max-bars", "1", "--ib-port", "{port}",
            "--client-id", "23", "--journal", str(tmp_path / "journal.sqlite"),
            "--connect-timeout", "3"]
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=470.0)
        tws.set_history("SPY", [(dt.date(2024, 1, 2), 470.0, 472.0, 468.0, 471.0, 1e6)])
        argv[argv.index("{port}")] = str(tws.port)
        result = {}
        thread = threading.Thread(target=lambda: result.setdefault("code", cli.main(argv)))
        thread.start()
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars requested")
        tws.push_bar("SPY", at(9, 30), 471.0, 471.5, 470.5, 471.0, 100.0)
        tws.push_bar("SPY", at(15, 44, 55), 474.0, 474.5, 473.0, 473.25, 100.0)
        thread.join(20)
        assert not thread.is_alive()
    status = [line for line in capsys.readouterr().out.splitlines() if " | value " in line]
    assert result["code"] == 0
    assert len(status) == 1 and status[0].startswith("2024-01-03 15:45:00 SPY 473.25 | ")
    assert sqlite3.connect(tmp_path / "journal.sqlite").execute(
        "SELECT COUNT(*) FROM orders").fetchone()[0] == 0  # 2024 is before today: no trade


@pytest.mark.parametrize(("bar_size", "decide_at", "stamp", "last_5s"), [
    ("1 day", None, dt.time(16), dt.time(15, 59, 55)),
    ("1 day", "15:45", dt.time(15, 45), dt.time(15, 44, 55)),
    ("1 hour", None, dt.time(11), dt.time(11, 59, 55)),
])
def test_a_mid_session_start_continues_ibs_forming_bar(monkeypatch, ib_log, bar_size,
                                                       decide_at, stamp, last_5s):
    """Started at 11:35 New York time: IB's history ends with the bar still forming (so
    far O100 H110 L90 C104, 5,000,000 shares). The first live bar is that bar continued by
    the 5-second bars seen since start (its open, the high and low over both, their volume
    added to IB's, the last close), not a bar of only the 5-second bars since 11:35."""
    day = dt.date(2024, 3, 8)  # a Friday
    started = dt.datetime.combine(day, dt.time(11, 35))
    monkeypatch.setattr("brokers.ib_feed.now_local", lambda: started)  # the machine's clock
    if bar_size == "1 day":  # IB dates daily bars; the feed stamps them at the close
        history = [(day - dt.timedelta(days=1), 98.0, 99.0, 97.0, 98.5, 4e6),
                   (day, 100.0, 110.0, 90.0, 104.0, 5e6)]
        completed = dt.datetime(2024, 3, 7, 16)
    else:
        completed = dt.datetime.combine(day, dt.time(10))
        history = [(completed.replace(tzinfo=NEW_YORK), 98.0, 99.0, 97.0, 98.5, 4e6),
                   (started.replace(minute=0, tzinfo=NEW_YORK), 100.0, 110.0, 90.0, 104.0,
                    5e6)]
    at = lambda t: dt.datetime.combine(day, t)  # noqa: E731
    five = [(at(dt.time(11, 35)), 104.0, 104.2, 103.9, 104.1),
            (at(last_5s) - dt.timedelta(seconds=5), 104.5, 104.6, 89.5, 104.5),
            (at(last_5s), 104.5, 105.1, 104.5, 105.0)]
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=104.0)
        tws.set_history("SPY", history)
        with PaperRun(tws, [(day, 0, 0, 0, 0, 0)], [None], strategy="scripted", actions={},
                      settings={"bar_size": bar_size, "decide_at": decide_at,
                                "trade_start": day}) as run:
            for when, o, h, lo, c in five:
                tws.push_bar("SPY", ny_epoch(when), o, h, lo, c, 300.0)
            run.join()
    data = run.datas[0]
    assert len(data) == 2  # the completed bar, then the one that was forming at start
    assert (data.datetime.datetime(-1), data.datetime.datetime(0)) == (completed, at(stamp))
    # IB's open and high, a 5-second bar's low, the last close, IB's volume + 3 x 300
    assert (data.open[0], data.high[0], data.low[0], data.close[0], data.volume[0]) == (
        100.0, 110.0, 89.5, 105.0, 5e6 + 900.0)


class _Monotonic:
    """The feed's elapsed-time clock, moved by the test (the store's loop keeps its own).
    Each read wakes ``wait``: the feed reads it on every arrival of a 5-second bar and on
    every check of the clock while a bar is forming."""

    def __init__(self):
        self.now = 1000.0
        self.reads = 0
        self._cond = threading.Condition()

    def __call__(self) -> float:
        with self._cond:
            self.reads += 1
            self._cond.notify_all()
        return self.now

    def wait(self, predicate, what: str, timeout: float = 5.0) -> None:
        with self._cond:
            assert self._cond.wait_for(predicate, timeout), f"timed out waiting for {what}"


@pytest.mark.parametrize(("day", "close", "decide_at"), [
    (dt.date(2024, 3, 8), dt.time(16), None),         # a Friday in EST (UTC-5)
    (dt.date(2024, 3, 11), dt.time(16), None),        # the Monday after the DST change (UTC-4)
    (dt.date(2024, 11, 29), dt.time(13), None),       # the half day after Thanksgiving
    (dt.date(2024, 3, 11), dt.time(15, 45), "15:45"),  # decide at 15:45
])
def test_the_day_bar_closes_on_time_when_its_last_5s_bar_never_comes(monkeypatch, ib_log, day,
                                                                     close, decide_at):
    """IB never sends the 5-second bar that ends the day (15:59:55, 12:59:55 on a half
    day, 15:44:55 with --decide-at 15:45). The day's bar still reaches the strategy that
    day, once the feed's clock (the end of the last 5-second bar IB sent, plus the time
    since it came) is ``close_grace`` (10 s) past the cut, never before the cut: not at
    3 s after the last bar, not from the 16:00 of a normal day on a half day. It used to
    wait for the next session's first bar."""
    clock = _Monotonic()
    monkeypatch.setattr("brokers.ib_feed.monotonic", clock)
    cut = dt.datetime.combine(day, close)
    next_day = day + dt.timedelta(days=3 if day.weekday() == 4 else 1)
    at = lambda d, t: ny_epoch(dt.datetime.combine(d, t))  # noqa: E731
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=470.0)
        tws.set_history("SPY", [(day - dt.timedelta(days=1), 470.0, 472.0, 468.0, 471.0, 1e6)])
        with PaperRun(tws, [(day, 0, 0, 0, 0, 0)], [None] * 2, strategy="scripted",
                      actions={}, settings={"bar_size": "1 day", "decide_at": decide_at,
                                            "trade_start": day}) as run:
            data = run.datas[0]
            tws.push_bar("SPY", at(day, dt.time(9, 30)), 471.0, 471.5, 470.5, 471.0, 100.0)
            tws.push_bar("SPY", at(day, dt.time(11, 0)), 471.0, 475.0, 466.0, 474.0, 100.0)
            last = cut - dt.timedelta(seconds=10)  # the bar before the missing one
            tws.push_bar("SPY", ny_epoch(last), 474.0, 474.5, 473.0, 473.5, 100.0)
            clock.wait(lambda: data.last_bar_received == ny_epoch(last),
                       what="the last 5-second bar")
            checks = data.clock_checks
            clock.now += 3  # 3 s after that bar's end: 2 s before the cut
            clock.wait(lambda: data.clock_checks >= checks + 2, what="the feed's clock checks")
            assert run._done_bars == 0, "the day's bar went out before the session closed"
            clock.now += 10  # 8 s after the cut: still within the grace for a late bar
            checks = data.clock_checks
            clock.wait(lambda: data.clock_checks >= checks + 2, what="the feed's clock checks")
            assert run._done_bars == 0
            clock.now += 3  # 11 s after the cut
            run.wait_bars(1, "the day's bar on the clock, before any bar of the next day")
            tws.push_bar("SPY", at(next_day, dt.time(9, 30)), 473.0, 473.0, 472.0, 472.5,
                         100.0)
            next_cut = dt.datetime.combine(next_day, close) if decide_at else \
                session_hours(next_day)[1]
            tws.push_bar("SPY", ny_epoch(next_cut - dt.timedelta(seconds=5)), 472.5, 473.0,
                         471.0, 472.0, 100.0)
            run.join()
    assert (data.datetime.datetime(-1), data.datetime.date(-1)) == (cut, day)
    assert (data.open[-1], data.high[-1], data.low[-1], data.close[-1], data.volume[-1]) == (
        471.0, 475.0, 466.0, 473.5, 300.0)
    assert data.datetime.date(0) == next_day and data.close[0] == 472.0


@pytest.mark.parametrize(("grace", "held", "out"), [
    (30.0, (11, 29), 31),  # longer than the default: not yet at 11 s past the cut
    (2.0, (), 3),          # shorter: out at 3 s past the cut, where 10 s would hold it
])
def test_close_grace_sets_when_the_day_bar_goes_out_on_the_clock(monkeypatch, ib_log, grace,
                                                                 held, out):
    """``close_grace`` from the paper settings (``--close-grace``) reaches the feed: with
    no 15:59:55 bar on the Monday after the DST change, the day's bar goes out ``grace``
    seconds after the 16:00 close on the feed's clock, not after the default 10 s."""
    clock = _Monotonic()
    monkeypatch.setattr("brokers.ib_feed.monotonic", clock)
    day = dt.date(2024, 3, 11)
    cut = dt.datetime.combine(day, dt.time(16))
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=470.0)
        tws.set_history("SPY", [(day - dt.timedelta(days=3), 470.0, 472.0, 468.0, 471.0, 1e6)])
        with PaperRun(tws, [(day, 0, 0, 0, 0, 0)], [None], strategy="scripted", actions={},
                      settings={"bar_size": "1 day", "close_grace": grace,
                                "trade_start": day}) as run:
            data = run.datas[0]
            assert data.p.close_grace == grace
            tws.push_bar("SPY", ny_epoch(cut.replace(hour=9, minute=30)), 471.0, 472.0,
                         470.0, 471.5, 100.0)
            last = cut - dt.timedelta(seconds=10)  # its end, 15:59:55, is the feed's time
            tws.push_bar("SPY", ny_epoch(last), 471.5, 471.5, 470.5, 471.0, 100.0)
            clock.wait(lambda: data.last_bar_received == ny_epoch(last),
                       what="the last 5-second bar")
            for after_cut in held:
                clock.now = 1000.0 + 5 + after_cut
                reads = clock.reads  # two reads later the feed has checked at that time
                clock.wait(lambda r=reads: clock.reads >= r + 2,
                           what=f"the feed's clock checks {after_cut} s after the cut")
                assert run._done_bars == 0, f"out {after_cut} s after the cut"
            clock.now = 1000.0 + 5 + out
            run.wait_bars(1, f"the day's bar {out} s after the cut")
            run.join()
    assert (data.datetime.datetime(0), data.datetime.date(0)) == (cut, day)
    assert (data.open[0], data.high[0], data.low[0], data.close[0]) == (
        471.0, 472.0, 470.0, 471.0)
