"""A multi-day soak of the paper loop on the fake TWS (``bench/soak_paper.py`` runs it and
``test_ib_paper_soak.py`` checks its report).

Five NYSE sessions across the 2024 spring DST change (2024-03-06 .. 2024-03-12) are
replayed as 5-second real-time bars (4,680 a session, 23,400 in all) at full speed: the
fake's clock is each bar's own time, nothing sleeps; the driver waits only for the paper
loop to finish each 5-minute strategy bar and for its orders to reach the fake. The
strategy (``SoakStrategy``) trades shares every 13 bars and opens, closes and holds put
credit spreads on the sample market's option chain of each day. On the way:

* the connection is dropped mid-order three times (a stock order, a spread opening, a
  spread closing): the fake takes the order, the socket closes, the order fills while
  nobody is connected, reconnects are refused until the driver lets TWS "come back";
* TWS reports 1100 (connectivity with IB lost), then 1101 (restored, data lost);
* a short put of an open spread is assigned early (1 of its 2 contracts; positions only,
  as IB reports it);
* the clocks go forward on 2024-03-10 (the sessions after it open at 09:30 New York time,
  13:30 UTC instead of 14:30).

At the end the journal, the broker and the fake's own ledger must agree exactly: every
execution booked once with its commission, cash, positions per contract, the open spreads'
legs held; and no order reached the fake twice. ``soak()`` returns the figures and the list
of disagreements (empty when all agree).
"""

from __future__ import annotations

import datetime as dt
import logging
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import backtrader as bt

from brokers.bar_times import session_hours
from brokers.journal import Journal
from brokers.spreads import SpreadRequest
from feeds.sample_market import SampleMarket
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import IBLogCollector, PaperRun, frame_bars, ib_history, ny_epoch

DAYS = ("2024-03-06", "2024-03-12")  # Wed .. Tue: the clocks change on Sunday 2024-03-10
BARS_PER_DAY = 78  # 5-minute bars of a regular session
FIVE_S_PER_BAR = 60
START_CASH = 100_000.0
REQUEST = SpreadRequest("SPY", "put_credit", target_delta=0.30, width=5.0, dte_min=30,
                        dte_max=45, contracts=2)
#: errors the drops, the outage and the cancel-free run may log
ALLOWED = (r"Peer closed connection", r"API connection failed", r"Error 326",
           r"clientId .* in use", r"Error 110[012]", r"Connection reset by peer")


class SoakStrategy(bt.Strategy):
    """A fixed plan by (session, bar of the session): shares every 13 bars, a put credit
    spread opened on bar 2 of sessions 0-3, the first closed in session 2, the second in
    session 4; ``drop`` names the (session, bar) whose order the fake takes and then loses
    the connection on."""

    params = (("soak", None), ("signal_factory", None), ("trade_start", None),
              ("config", None))

    def __init__(self):
        self.k = 0
        self.day_opens: list[str] = []

    def next(self):
        if self.data.backfilling:
            return
        soak: Soak = self.p.soak
        day, i = divmod(self.k, BARS_PER_DAY)
        self.k += 1
        if i == 0:  # New York wall-clock time, and the instant in UTC
            self.day_opens.append((f"{self.data.datetime.datetime(0):%Y-%m-%d %H:%M}",
                                   f"{bt.num2date(self.data.datetime[0]):%H:%M}"))
        soak.drop_next = (day, i) in soak.drops
        if i % 13 == 5:
            self.buy(size=20) if (i // 13) % 2 == 0 else self.sell(size=20)
        elif i == 2 and day <= 3:
            self.broker.open_credit_spread(self, self.data, REQUEST)
        elif (day, i) in ((2, 40), (4, 10)):
            spread = min(self.broker.open_spreads("SPY"), key=lambda p: p.id)
            self.broker.close_spread(self, spread.id, tag="soak")


class Soak:
    """The driver's state that the strategy and the fake's order hook share."""

    def __init__(self, drops: set[tuple[int, int]]):
        self.drops = drops
        self.drop_next = False
        self.dropped: list[str] = []
        self.refused_at_drop = 0
        self.assigned: int | None = None

    def order_mode(self, tws: FakeTWS, order) -> None:
        """The fake's order hook: fill at once, or lose the connection first and fill
        while nobody is connected (IB replays it through reqExecutions only)."""
        if self.drop_next:
            self.drop_next = False
            self.dropped.append(order.order_ref)
            self.refused_at_drop = tws.refused_paused
            tws.paused = True
            tws.drop_connections()
        tws.fill(order)


def five_second_bars(day: dt.date, o: float, h: float, lo: float, c: float) -> list[tuple]:
    """The session's 5-second bars: a straight path from the open to the close touching the
    high and the low once (as ``test_ib_daily.session_5s_bars``)."""
    opens, closes = session_hours(day)
    n = int((closes - opens).total_seconds()) // 5
    path = [o + (c - o) * k / n for k in range(n)] + [c]
    out = []
    for k in range(n):
        a, b = path[k], path[k + 1]
        out.append((ny_epoch(opens + dt.timedelta(seconds=5 * k)), a,
                    h if k == n // 3 else max(a, b), lo if k == 2 * n // 3 else min(a, b), b))
    return out


def rss_mb() -> float:
    """The process's peak resident set size so far, in MiB: Linux's VmHWM of this program
    (``ru_maxrss`` would also count the parent's memory at the fork of a subprocess), else
    ``ru_maxrss`` (KiB on Linux, bytes on macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)


def soak(journal_path: Path, seed: int = 42) -> dict:
    """Run the soak; the figures and ``mismatches`` (what disagrees at the end)."""
    market = SampleMarket(seed=seed)
    frame = market.bars("SPY", "2023-10-01", DAYS[1])
    bars = frame_bars(frame)
    first = next(k for k, b in enumerate(bars) if f"{b[0]:%Y-%m-%d}" == DAYS[0])
    history, days = bars[first - 60:first], bars[first:]
    assert len(days) == 5, days
    chain = market.option_chain("SPY")
    state = Soak(drops={(0, 18), (1, 2), (2, 40)})
    log = IBLogCollector()
    log.allow(*ALLOWED)
    ib_logger = logging.getLogger("ib_async")
    ib_logger.setLevel(logging.INFO)
    ib_logger.addHandler(log)
    started = time.perf_counter()
    rss_before = rss_mb()
    rss_days = []
    pushed = 0
    try:
        with FakeTWS(cash=START_CASH,
                     stock_commission=lambda shares, price: max(1.0, 0.005 * shares)) as tws:
            tws.add_stock("SPY", 756733, price=history[-1][4])
            tws.set_history("SPY", ib_history(history))
            tws.order_mode = state.order_mode
            run = PaperRun(tws, history, [None] * (5 * BARS_PER_DAY), strategy="scripted",
                           journal=Journal(journal_path),
                           settings={"bar_size": "5 mins", "trade_start": days[0][0]})
            run.cerebro.strats.clear()
            run.cerebro.addstrategy(SoakStrategy, soak=state)
            done = 0
            with run:
                for d, (day, o, h, lo, c, _) in enumerate(days):
                    tws.add_chain_frame("SPY", chain.chain(day))
                    for k, (epoch, *bar) in enumerate(five_second_bars(day, o, h, lo, c)):
                        last = (k + 1) % FIVE_S_PER_BAR == 0
                        tws.push_bar("SPY", epoch, *bar, v=100.0, account=last)
                        pushed += 1
                        if not last:
                            continue
                        done += 1
                        run.wait_bars(done)
                        tws.wait_until(lambda: len(tws.placed) >= run.broker.sent,
                                       what="orders at the fake")
                        _disturb(tws, run, state, d, done - 1 - d * BARS_PER_DAY)
                    rss_days.append(round(rss_mb(), 1))
                run.join(30)
                tws.wait_until(lambda: len(tws.placed) >= run.broker.sent, what="orders")
                figures = _figures(tws, run, state, pushed)
                figures["mismatches"] = _mismatches(tws, run)
    finally:
        ib_logger.removeHandler(log)
    figures.update(seconds=round(time.perf_counter() - started, 1),
                   rss_start_mb=round(rss_before, 1), rss_by_day_mb=rss_days,
                   max_rss_mb=round(rss_mb(), 1), log_problems=log.problems())
    return figures


def _reconciled(run: PaperRun) -> int:
    return sum(e.startswith("reconciled") for e in run.events)


def _disturb(tws: FakeTWS, run: PaperRun, state: Soak, day: int, i: int) -> None:
    """After strategy bar ``i`` of session ``day``: bring TWS back after a drop, the
    1100/1101 outage, the early assignment."""
    if tws.paused:  # an order just dropped the connection: TWS comes back
        seen = _reconciled(run)
        run.wait(lambda: "IB connection disconnected" in run.events[-50:], what="drop seen")
        tws.wait_until(lambda: tws.refused_paused > state.refused_at_drop,
                       what="a reconnect refused while TWS is away")
        tws.paused = False
        run.wait(lambda: _reconciled(run) > seen, timeout=20, what="reconciled after a drop")
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="bars re-subscribed")
    for code, when in ((1100, (1, 50)), (1101, (1, 55))):
        if (day, i) == when:
            seen = _reconciled(run)
            tws.send_error(-1, code, f"Connectivity between IB and Trader Workstation: "
                                     f"notice {code}")
            run.wait(lambda seen=seen: _reconciled(run) > seen, timeout=20,
                     what=f"reconciled after {code}")
            tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="bars re-subscribed")
    if (day, i) == (3, 20):  # session 3 (after the DST change): the third spread's short put
        spread = max(run.broker.open_spreads("SPY"), key=lambda p: p.id)
        short = tws.options[int(spread.extra["con_ids"][0])]
        tws.assign_early(short, 1)
        state.assigned = spread.id


def _figures(tws: FakeTWS, run: PaperRun, state: Soak, pushed: int) -> dict:
    strategy = run.result[0]
    journal = run.broker.journal
    return {
        "five_second_bars": pushed, "strategy_bars": strategy.k,
        "orders": len(tws.placed), "fills": len(tws.executions),
        "reconnects": run.store.reconnects, "drops_mid_order": len(state.dropped),
        "fills_booked_at_reconnect": sum(r["new_fills"] for r in run.broker.reconcile_reports),
        "dropped_orders_filled": sum(journal.order(ref)["status"] == "completed"
                                     for ref in state.dropped),
        "outage_notices": [e for e in run.events if e in (
            "IB connection lost", "IB connection restored, data lost")],
        "assignments": len(journal.events("assignment")),
        "open_spreads": len(run.broker.open_spreads()),
        "closed_spreads": len(run.broker.closed_spreads()),
        "session_opens_ny_utc": strategy.day_opens,
    }


def _mismatches(tws: FakeTWS, run: PaperRun) -> list[str]:
    """Where the journal, the broker and the fake's ledger disagree (empty: they agree)."""
    out = []
    broker, journal = run.broker, run.broker.journal
    ours = {f["exec_id"]: f for f in journal.fills()
            if not f["exec_id"].startswith(("assign/", "expire/"))}
    theirs = {e.exec_id: e for e in tws.executions}
    if set(ours) != set(theirs):
        out.append(f"executions: journal has {sorted(set(ours) - set(theirs))} extra, lacks "
                   f"{sorted(set(theirs) - set(ours))}")
    for exec_id, e in theirs.items():
        f = ours.get(exec_id)
        if f is None:
            continue
        if (f["con_id"], f["side"], f["shares"], f["price"]) != (
                e.contract.con_id, e.side, e.shares, e.price):
            out.append(f"execution {exec_id}: journal {dict(f)} vs fake {e}")
        if e.commission is not None and f["commission"] != e.commission:
            out.append(f"commission {exec_id}: journal {f['commission']} vs fake "
                       f"{e.commission}")
        if e.contract.sec_type != "BAG" and f["booked"] != 1:
            out.append(f"execution {exec_id} not booked")
    fake_comm = round(sum(e.commission or 0.0 for e in tws.executions), 6)
    journal_comm = round(sum(f["commission"] or 0.0 for f in ours.values()), 6)
    if fake_comm != journal_comm:
        out.append(f"commissions: journal {journal_comm} vs fake {fake_comm}")
    # cash from the journal alone (every booked execution and delivery, commissions) ...
    booked = [f for f in journal.fills() if f["booked"] == 1 and f["sec_type"] != "BAG"]
    journal_cash = START_CASH + sum(
        (-1 if f["side"] == "BOT" else 1) * f["shares"] * f["price"]
        * (f["multiplier"] if f["sec_type"] == "OPT" else 1.0) - (f["commission"] or 0.0)
        for f in booked)
    if round(journal_cash, 2) != round(tws.cash, 2):
        out.append(f"cash: journal {journal_cash:.2f} vs fake {tws.cash:.2f}")
    # ... and as the broker holds it (IB's TotalCashValue, in cents, plus fills since)
    if round(broker.cash_total(), 2) != round(tws.cash, 2):
        out.append(f"cash: broker {broker.cash_total():.2f} vs fake {tws.cash:.2f}")
    fake_pos = {con_id: qty for con_id, (_, qty, _) in tws.positions.items()}
    held = {con_id: p.quantity for con_id, p in broker.ledger.account.held.items()}
    expected = {c: q for c, q in journal.expected_quantities().items() if abs(q) > 1e-9}
    if not fake_pos == held == expected:
        out.append(f"positions: fake {fake_pos}, broker {held}, journal {expected}")
    stock = broker.getposition(run.datas[0]).size
    if stock != fake_pos.get(756733, 0.0):
        out.append(f"shares: strategy sees {stock}, fake holds {fake_pos.get(756733)}")
    for spread in broker.open_spreads():
        short_id, long_id = (int(c) for c in spread.extra["con_ids"])
        if fake_pos.get(short_id, 0) > -spread.contracts or \
                fake_pos.get(long_id, 0) < spread.contracts:
            out.append(f"open spread {spread.id} ({spread.contracts}) not held at the fake: "
                       f"{fake_pos.get(short_id)} / {fake_pos.get(long_id)}")
    stored = {p.id: (p.status, p.contracts) for p in journal.spreads()}
    live = {p.id: (p.status, p.contracts)
            for p in broker.open_spreads() + broker.closed_spreads()}
    if stored != live:
        out.append(f"spreads: journal {stored} vs broker {live}")
    refs = Counter(p.order_ref for p in tws.placed)
    twice = [ref for ref, n in refs.items() if n > 1]
    if twice:
        out.append(f"orders sent twice: {twice}")
    sent = [o for o in journal.orders() if o["order_id"] is not None]
    if len(sent) != len(tws.placed):
        out.append(f"orders: journal sent {len(sent)}, fake received {len(tws.placed)}")
    if broker.position_diffs():
        out.append(f"broker position diffs: {broker.position_diffs()}")
    return out
