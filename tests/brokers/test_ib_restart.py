"""A restarted paper run picks up what the one before it left: IB's stock position, the
orders still working at IB, and replies to the last bar's orders.

Each test runs two processes' worth of paper runs (``PaperRun``: store, broker, feeds,
strategy) one after the other on the same journal file and the same fake TWS, with the
same clientId, as a trader restarting ``run.py paper`` does.
"""

from __future__ import annotations

import backtrader as bt

from brokers.journal import Journal
from strategies.equity import EquityConfig, EquityStrategy
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    PaperRun,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    zigzag_bars,
)

HISTORY = zigzag_bars(80)
LIVE = zigzag_bars(86)[80:]


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
