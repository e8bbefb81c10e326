"""A restarted paper run picks up what the one before it left: IB's stock position, the
orders still working at IB, and replies to the last bar's orders.

Each test runs two processes' worth of paper runs (``PaperRun``: store, broker, feeds,
strategy) one after the other on the same journal file and the same fake TWS, with the
same clientId, as a trader restarting ``run.py paper`` does.
"""

from __future__ import annotations

import datetime as dt
import threading

import backtrader as bt
import pytest

import run as cli
from brokers.journal import Journal
from brokers.spreads import SpreadRequest
from strategies.credit_spread import CreditSpreadConfig, CreditSpreadStrategy
from strategies.equity import EquityConfig, EquityStrategy
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    NEW_YORK,
    PaperRun,
    frame_bars,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    ny_epoch,
    zigzag_bars,
)

HISTORY = zigzag_bars(80)
LIVE = zigzag_bars(86)[80:]
REQUEST = SpreadRequest("SPY", "put_credit", target_delta=0.30, width=5.0, dte_min=30,
                        dte_max=45, contracts=2)


class Constant(bt.Indicator):
    """The same call on every bar (the strategies' signal lines), set per test."""

    lines = ("signal", "direction", "confidence")
    params = (("signal", 0.0), ("direction", 0.0))

    def next(self):
        self.l.signal[0] = self.p.signal
        self.l.direction[0] = self.p.direction
        self.l.confidence[0] = 1.0


def sell_signal(data):
    return Constant(data, direction=-1.0)


def put_spread_signal(data):
    return Constant(data, signal=2.0, direction=1.0)


def use_strategy(run: PaperRun, cls, signal_factory, config) -> None:
    """Run ``cls`` on ``signal_factory``'s lines instead of the run's strategy."""
    run.cerebro.strats.clear()
    run.cerebro.addstrategy(cls, config=config, signal_factory=signal_factory,
                            trade_start=run.settings.trade_start)


def gone(tws: FakeTWS) -> None:
    """The first process has disconnected (its clientId is free again)."""
    tws.wait_until(lambda: tws.connected_client_ids == [], what="the first run gone")


def stock_market(tws: FakeTWS) -> None:
    tws.add_stock("SPY", 756733, price=HISTORY[-1][4])
    tws.set_history("SPY", ib_history(HISTORY))


def status_lines(run: PaperRun) -> list[str]:
    return [e for e in run.events if " | value " in e]


# ---------------------------------------------------------------------- stock positions
def test_restart_holds_ibs_position_and_buys_nothing_again(tmp_path, ib_log):
    """Run 1 buys and fills; run 2 starts holding the shares (status line, getposition)
    and the equity strategy, still called BUY, sends nothing."""
    path = tmp_path / "journal.sqlite"
    with FakeTWS() as tws:
        stock_market(tws)
        with PaperRun(tws, HISTORY, LIVE[:1], journal=Journal(path)) as first:
            first.finish()
        [bought] = tws.placed
        assert bought.action == "BUY" and bought.quantity > 0
        gone(tws)
        with PaperRun(tws, HISTORY, LIVE[1:3], journal=Journal(path)) as second:
            assert second.broker.getposition(second.datas[0]).size == bought.quantity
            second.finish()
    assert len(tws.placed) == 1  # no second BUY
    assert second.broker.getposition(second.datas[0]).size == bought.quantity
    assert all(f"positions SPY {bought.quantity:g} |" in line
               for line in status_lines(second)), status_lines(second)


def test_fill_while_no_run_was_going_is_booked_on_its_order(tmp_path, ib_log):
    """Run 1's order fills after it stopped: run 2 books the fill on the order's journal
    row (completed, filled), holds the shares and buys nothing again."""
    path = tmp_path / "journal.sqlite"
    with FakeTWS() as tws:
        stock_market(tws)
        tws.order_mode = "hold"
        with PaperRun(tws, HISTORY, LIVE[:1], journal=Journal(path)) as first:
            first.finish()
        gone(tws)
        order = tws.wait_for_order()
        tws.fill(order, price=125.0)  # nobody is connected
        with PaperRun(tws, HISTORY, LIVE[1:3], journal=Journal(path)) as second:
            second.finish()
    assert len(tws.placed) == 1
    row = second.broker.journal.order(order.order_ref)
    assert (row["status"], row["filled"]) == ("completed", order.quantity)
    assert second.broker.reconcile_reports[0]["new_fills"] == 1
    assert second.broker.getposition(second.datas[0]).size == order.quantity


def test_equity_strategy_sells_an_inherited_long_on_a_sell_call(tmp_path, ib_log):
    """The equity strategy starts from the broker's position: a SELL call closes the long
    run 1 bought (it started 'flat' and ignored the call)."""
    path = tmp_path / "journal.sqlite"
    with FakeTWS() as tws:
        stock_market(tws)
        with PaperRun(tws, HISTORY, LIVE[:1], journal=Journal(path)) as first:
            first.finish()
        gone(tws)
        second = PaperRun(tws, HISTORY, LIVE[1:3], journal=Journal(path))
        use_strategy(second, EquityStrategy, sell_signal, EquityConfig())
        with second:
            second.finish()
    bought = tws.placed[0].quantity
    assert [(p.action, p.quantity) for p in tws.placed] == [("BUY", bought), ("SELL", bought)]
    assert second.broker.getposition(second.datas[0]).size == 0


# ---------------------------------------------------------------------- working orders
def test_restart_adopts_the_order_still_working_at_ib(tmp_path, ib_log):
    """Run 1's BUY still works at IB: run 2 takes it over as its own open order (no second
    BUY, 'orders 1 open'), and its fill reaches the strategy as Completed."""
    path = tmp_path / "journal.sqlite"
    with FakeTWS() as tws:
        stock_market(tws)
        tws.order_mode = "hold"
        with PaperRun(tws, HISTORY, LIVE[:1], journal=Journal(path)) as first:
            first.finish()
        gone(tws)
        order = tws.wait_for_order()
        with PaperRun(tws, HISTORY, LIVE[1:4], journal=Journal(path)) as second:
            second.push()
            assert len(tws.placed) == 1
            assert "orders 1 open" in status_lines(second)[-1]
            tws.fill(order, price=125.0)
            second.wait(lambda: "Completed" in second.statuses(), what="Completed")
            second.finish()
    assert len(tws.placed) == 1
    assert second.statuses() == ["Accepted", "Completed"]
    _, info, size, price, _, _ = second.notes[-1]
    assert (info["order_ref"], size, price) == (order.order_ref, order.quantity, 125.0)
    assert info["adopted"] is True
    assert second.broker.getposition(second.datas[0]).size == order.quantity
    assert "orders 0 open" in status_lines(second)[-1]
    assert second.broker.journal.order(order.order_ref)["status"] == "completed"


@pytest.fixture(scope="module")
def spread_market(sample_market):
    frame = sample_market.bars("SPY", "2022-09-01", "2023-01-31")
    bars = frame_bars(frame)
    history, live = bars[:80], bars[80:84]
    return history, live, sample_market.option_chain("SPY").chain(live[0][0])


def spread_fake(tws: FakeTWS, history, chain) -> None:
    tws.add_stock("SPY", 756733, price=history[-1][4])
    tws.set_history("SPY", ib_history(history))
    tws.add_chain_frame("SPY", chain)
    tws.order_mode = "hold"


def open_spread(s):
    s.broker.open_credit_spread(s, s.data, REQUEST)


def test_adopted_spread_opening_counts_against_max_open_spreads(spread_market, tmp_path,
                                                                 ib_log):
    """Run 1's BAG still works (a DAY order: ``spread_order_bars=None``): with
    --max-open-spreads 1, run 2's opening is refused, counting it as pending."""
    history, live, chain = spread_market
    path = tmp_path / "journal.sqlite"
    with FakeTWS() as tws:
        spread_fake(tws, history, chain)
        first = PaperRun(tws, history, live[:1], strategy="scripted",
                         actions={0: open_spread}, journal=Journal(path),
                         settings={"max_open_spreads": 1})
        first.broker.p.spread_order_bars = None
        with first:
            first.finish()
        gone(tws)
        second = PaperRun(tws, history, live[1:2], strategy="scripted",
                          actions={0: open_spread}, journal=Journal(path),
                          settings={"max_open_spreads": 1})
        second.broker.p.spread_order_bars = None
        with second:
            second.finish()
    assert [p.contract["secType"] for p in tws.placed] == ["BAG"]
    refused = [e.split(": ", 1)[1] for e in second.events if e.startswith("refused ")]
    assert refused == ["max open spreads reached (0 open, 1 pending, limit 1)"]
    assert "orders 1 open" in status_lines(second)[-1]


def test_one_bar_rule_expires_an_adopted_spread_order(spread_market, tmp_path, ib_log):
    """Run 1's BAG was good for one bar: on run 2's first bar (after its request bar) the
    broker cancels it and reports it Expired, before the strategy's new opening goes."""
    ib_log.allow(r"Error 202")
    history, live, chain = spread_market
    path = tmp_path / "journal.sqlite"
    with FakeTWS() as tws:
        spread_fake(tws, history, chain)
        with PaperRun(tws, history, live[:1], strategy="scripted", actions={0: open_spread},
                      journal=Journal(path), settings={"max_open_spreads": 1}) as first:
            first.finish()
        gone(tws)
        with PaperRun(tws, history, live[1:2], strategy="scripted", actions={0: open_spread},
                      journal=Journal(path), settings={"max_open_spreads": 1}) as second:
            second.finish()
    old = tws.placed[0].order_ref
    assert tws.order_by_ref(old).status == "Cancelled"
    kinds = [f[0] for _, f in tws.received if f[0] in ("3", "4")]
    assert kinds == ["3", "4", "3"]  # run 1's BAG, its cancel, then run 2's BAG
    adopted = [n for n in second.notes if n[1]["order_ref"] == old]
    assert [n[0] for n in adopted] == ["Accepted", "Expired"]
    assert adopted[-1][1]["reason"].startswith("limit credit ")
    assert second.broker.journal.order(old)["status"] == "expired"


def test_credit_spread_strategy_waits_for_an_adopted_opening(spread_market, tmp_path,
                                                             ib_log):
    """The credit-spread strategy counts run 1's working BAG as its pending opening: it
    sends no second one while it works (no broker cap set)."""
    history, live, chain = spread_market
    path = tmp_path / "journal.sqlite"
    with FakeTWS() as tws:
        spread_fake(tws, history, chain)
        runs = []
        for part in (live[:1], live[1:3]):
            run = PaperRun(tws, history, part, journal=Journal(path),
                           settings={"strategy": "credit-spread"})
            run.broker.p.spread_order_bars = None
            use_strategy(run, CreditSpreadStrategy, put_spread_signal,
                         CreditSpreadConfig())
            with run:
                run.finish()
            runs.append(run)
            gone(tws)
    assert [p.contract["secType"] for p in tws.placed] == ["BAG"]
    assert runs[1].broker.get_orders_open()[0].info["order_ref"] == tws.placed[0].order_ref


# ---------------------------------------------------------------------- the end of a run
def test_max_bars_end_waits_for_the_reply_to_the_last_bars_order(ib_log):
    """An order sent on the last bar whose rejection comes after that bar: the run waits
    for it before the strategy stops, so the journal says rejected (it used to stay
    'submitted' and the next run called it lost) and the strategy hears Rejected (it used
    to have stopped already)."""
    ib_log.allow(r"Error 201")
    with FakeTWS() as tws:
        stock_market(tws)
        tws.order_mode = "silent"
        run = PaperRun(tws, HISTORY, LIVE[:1], strategy="scripted",
                       actions={0: lambda s: s.buy(size=100)})
        with run:
            run.push()
            tws.reject(tws.wait_for_order(), "no trading permissions")
            run.join()
    ref = tws.placed[0].order_ref
    row = run.broker.journal.order(ref)
    assert (row["status"], row["reason"]) == ("rejected", "no trading permissions")
    assert run.statuses() == ["Submitted", "Rejected"]


def test_paper_command_restart_takes_over_and_done_reports_orders_at_ib(tmp_path, capsys,
                                                                         ib_log):
    """``run.py paper`` twice on one journal while the first run's BUY works at IB: each
    ``done:`` line says the order is still working there; the second run takes it over
    (status line 'orders 1 open') and sends nothing."""
    today = dt.datetime.now(NEW_YORK).date()
    bars = zigzag_bars(82, start=today - dt.timedelta(days=80))
    ten = dt.datetime.combine(today, dt.time(10))
    argv = ["paper", "--strategy", "equity", "--symbols", "SPY", "--client-id", "21",
            "--bar-size", "5 secs", "--backfill", "1 D", "--max-bars", "1",
            "--journal", str(tmp_path / "journal.sqlite"), "--connect-timeout", "3"]
    outs = []
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=bars[79][4])
        tws.set_history("SPY", ib_history(bars[:80]))
        tws.order_mode = "hold"
        for k in (0, 1):
            result = {}
            thread = threading.Thread(target=lambda r=result: r.setdefault(
                "code", cli.main([*argv, "--ib-port", str(tws.port)])))
            thread.start()
            tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars")
            _, o, h, lo, c, v = bars[80 + k]
            tws.push_bar("SPY", ny_epoch(ten + dt.timedelta(seconds=5 * k)), o, h, lo, c, v)
            thread.join(20)
            assert not thread.is_alive() and result["code"] == 0
            outs.append(capsys.readouterr().out)
            gone(tws)
    first, second = outs
    assert len(tws.placed) == 1 and tws.orders[900001].status == "Submitted"
    assert "1 order(s) still working at IB" in first.splitlines()[-1], first
    assert "taken over btml/EquityStrategy/buy/SPY/" in second
    assert "orders 1 open" in next(line for line in second.splitlines() if " | value " in line)
    assert second.splitlines()[-1].startswith("done: 0 fill(s)")
    assert "1 order(s) still working at IB" in second.splitlines()[-1], second

