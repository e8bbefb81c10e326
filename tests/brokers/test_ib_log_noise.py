"""ib_async's own lines about what the run already says in one line of its own are dropped
(kept with -v, debug logging): a refused or dropped connection, a rejected order's ERROR
plus its multi-line ``Trade(...)`` dump, an unknown contract; TWS codes nobody here
reports still pass. Ctrl-C during the backfill leaves no pending asyncio task behind
("Task was destroyed but it is pending!"). ``paper -q`` drops the status line per bar."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import threading

import run as cli
from tests.brokers.test_ib_paper_cli import today_bars
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    OPERATOR_WAIT,
    CtrlC,
    ib_history,
    ny_epoch,
    paper_equity_argv,
)


def test_only_lines_said_elsewhere_are_dropped(caplog):
    client, wrapper = logging.getLogger("ib_async.client"), logging.getLogger("ib_async.wrapper")
    with caplog.at_level(logging.WARNING):
        client.error("API connection failed: ConnectionRefusedError(111, 'refused')")
        client.error("Make sure API port on TWS/IBG is open")
        client.error("Peer closed connection.")
        wrapper.error("Error 201, reqId 7: Order rejected - reason:too big")
        wrapper.warning("Canceled order: Trade(contract=Stock(symbol='SPY'),\n ...)")
        logging.getLogger("ib_async.ib").warning("Unknown contract: Stock(symbol='SPYX')")
        wrapper.error("Error 354, reqId 3: Requested market data is not subscribed.")
        logging.getLogger("ib_async.Decoder").error("Error handling fields: [...]")
    assert [r.getMessage() for r in caplog.records] == [
        "Error 354, reqId 3: Requested market data is not subscribed.",
        "Error handling fields: [...]"]


def test_debug_logging_keeps_them(caplog):
    client = logging.getLogger("ib_async.client")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG):
            client.error("Make sure API port on TWS/IBG is open")
            logging.getLogger("ib_async.wrapper").error("Error 201, reqId 7: rejected")
    finally:
        root.setLevel(level)
    assert [r.getMessage() for r in caplog.records] == [
        "Make sure API port on TWS/IBG is open", "Error 201, reqId 7: rejected"]


def ib_async_lines(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records
            if r.name.startswith("ib_async") and r.levelno >= logging.WARNING]


def test_a_rejected_order_is_one_line_and_quiet_drops_the_status_lines(tmp_path, capsys,
                                                                      caplog):
    bars = today_bars(2)
    ten = dt.datetime.combine(bars[80][0], dt.time(10))
    with FakeTWS() as tws:
        tws.order_mode = "reject"
        tws.add_stock("SPY", 756733, price=bars[79][4])
        tws.set_history("SPY", ib_history(bars[:80]))
        result = {}
        thread = threading.Thread(target=lambda: result.setdefault(
            "code", cli.main(paper_equity_argv(tws, tmp_path, 21, "--max-bars", "2", "-q"))))
        with caplog.at_level(logging.WARNING):
            thread.start()
            tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars")
            for k, (_, o, h, lo, c, v) in enumerate(bars[80:]):
                tws.push_bar("SPY", ny_epoch(ten + dt.timedelta(seconds=5 * k)), o, h, lo, c, v)
                if k == 0:
                    tws.wait_until(lambda: len(tws.placed) == 1, what="the first order")
            thread.join(20)
    out = capsys.readouterr().out
    assert result["code"] == 0
    assert out.count("rejected btml/EquityStrategy/buy/SPY/") >= 1
    assert " | value " not in out and "done: 0 fill(s)" in out
    assert ib_async_lines(caplog) == []


def test_an_unknown_symbol_is_only_the_error_line(tmp_path, capsys, caplog):
    with FakeTWS() as tws, caplog.at_level(logging.WARNING):
        tws.add_stock("SPY", 756733)
        code = cli.main([*paper_equity_argv(tws, tmp_path, 21), "--symbols", "SPYX"])
    assert code == 2
    assert "error: IB has no (unique) contract for SPYX STK" in capsys.readouterr().err
    assert ib_async_lines(caplog) == []


def test_ctrl_c_during_the_backfill_leaves_no_pending_task(tmp_path, capsys, caplog):
    with FakeTWS() as tws, caplog.at_level(logging.WARNING):
        tws.add_stock("SPY", 756733)
        tws.ignore.add("history")  # the backfill never comes; the operator gives up

        operator = CtrlC(lambda: tws.wait_until(
            lambda: any(f[0] == "20" for _, f in tws.received), timeout=OPERATOR_WAIT,
            what="the backfill asked for"))
        operator.start()
        code = cli.main(paper_equity_argv(tws, tmp_path, 21))
        operator.check()
        gc.collect()  # a task left pending on the stopped loop is reported when collected
    assert code == 130
    assert "stopping on Ctrl-C" in capsys.readouterr().out
    assert not [r for r in caplog.records if "Task was destroyed" in r.getMessage()]
