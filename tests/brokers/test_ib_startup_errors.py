"""Startup requests that fail on the fake TWS: the paper run stops with one ``error:`` line
and exit code 2 naming the symbol and what to check, never a traceback, and never trades
on indicators that had no backfill to warm up on.

ib_async hands back an empty bar list when reqHistoricalData times out, as if IB had no
bars; the store tells the two apart and both are refused. A connection lost while the feed
asks for contract details or history (ib_async raises ConnectionError) and contract
details that never come (a bare TimeoutError) become ``IBError`` too.
"""

from __future__ import annotations

import threading
import time

import pytest
from ib_async import Stock

import run as cli
from brokers.ib_store import HistoryTimeout, IBError, IBStore
from tests.brokers.test_ib_paper_cli import today_bars
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    FAST,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    paper_equity_argv,
)


@pytest.fixture
def tws():
    bars = today_bars(3)
    with FakeTWS() as fake:
        fake.add_stock("SPY", 756733, price=bars[79][4])
        fake.set_history("SPY", ib_history(bars[:80]))
        yield fake


def only_error_line(err: str) -> str:
    """The one ``error:`` line of stderr (a traceback or a second line fails the test)."""
    lines = [line for line in err.splitlines()
             if not line.startswith("WARNING btml.ib: disconnected")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_empty_backfill_is_refused_naming_the_symbol(tws, tmp_path, capsys, ib_log):
    tws.set_history("SPY", [])
    result = {}

    def run() -> None:
        result["code"] = cli.main(paper_equity_argv(tws, tmp_path, 21, "--max-bars", "1"))
        tws.wake()  # the wait below reads the exit code too

    thread = threading.Thread(target=run)
    thread.start()
    tws.wait_until(lambda: "code" in result or tws.subscribers("SPY") > 0,
                   what="the run to stop, or to go live")
    went_live = tws.subscribers("SPY") > 0
    if went_live:  # the defect: live bars on cold indicators; one bar ends that run
        tws.push_bar("SPY", int(time.time()), 100.0, 101.0, 99.0, 100.5)
    thread.join(10)
    assert not went_live, "the run went live without a backfill"
    assert result["code"] == 2
    out, err = capsys.readouterr()
    line = only_error_line(err)
    assert "IB sent no historical bars of SPY for the backfill (1 D of 5 secs" in line
    assert "market data permissions" in line
    assert " | value " not in out and tws.placed == []  # nothing traded cold


def test_history_that_never_comes_is_an_error_not_an_empty_list(tws, ib_log):
    tws.ignore.add("history")
    store = IBStore(port=tws.port, client_id=5, **{**FAST, "request_timeout": 0.5}).start()
    try:
        [spy] = store.qualify(Stock("SPY", "SMART", "USD"))
        with pytest.raises(HistoryTimeout, match=r"IB sent no historical data for SPY STK "
                                                 r"\(1 D of 5 secs TRADES bars\) within 0.5 s"):
            store.historical_bars(spy, "1 D", "5 secs")
    finally:
        store.stop()


def test_contract_details_that_never_come_are_an_error(tws, ib_log):
    tws.ignore.add("contract_details")
    store = IBStore(port=tws.port, client_id=6, **{**FAST, "request_timeout": 0.5}).start()
    try:
        with pytest.raises(IBError, match=r"sent no contract details for SPY STK within "
                                          r"0.5 s: check that it is logged in"):
            store.qualify(Stock("SPY", "SMART", "USD"))
    finally:
        store.stop()


@pytest.mark.parametrize(("request_name", "what"), [
    ("history", "historical data for SPY STK"),
    ("contract_details", "contract details for SPY STK")])
def test_connection_lost_during_startup_is_one_error_line(request_name, what, tws, tmp_path,
                                                          capsys, ib_log):
    ib_log.allow(r"Peer closed connection", r"Connection reset by peer")
    tws.drop_on.add(request_name)
    assert cli.main(paper_equity_argv(tws, tmp_path, 21, "--max-bars", "1")) == 2
    line = only_error_line(capsys.readouterr().err)
    assert f"connection to TWS/Gateway at 127.0.0.1:{tws.port} was lost while asking for " \
           f"{what} (Socket disconnect)" in line
    assert tws.placed == []
