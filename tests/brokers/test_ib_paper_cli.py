"""``run.py paper`` against the fake TWS: a --max-bars smoke run, live-account refusals,
and the connection handshake at the server versions the client supports."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading

import pytest
from ib_async import Stock

import run as cli
from brokers.ib_store import IBStore
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    FAST,
    NEW_YORK,
    OPERATOR_WAIT,
    CtrlC,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    ny_epoch,
    paper_equity_argv,
    zigzag_bars,
)


def today_bars(n: int) -> list[tuple]:
    """History up to yesterday (it only warms up), then ``n`` live bars of today (New York)."""
    today = dt.datetime.now(NEW_YORK).date()
    bars = zigzag_bars(80 + n, start=today - dt.timedelta(days=80))
    return bars


def test_paper_max_bars_smoke_run(tmp_path, capsys, ib_log):
    bars = today_bars(3)
    ten = dt.datetime.combine(bars[80][0], dt.time(10))  # New York time
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=bars[79][4])
        tws.set_history("SPY", ib_history(bars[:80]))
        result = {}
        thread = threading.Thread(target=lambda: result.setdefault(
            "code", cli.main(paper_equity_argv(tws, tmp_path, 21, "--max-bars", "3"))))
        thread.start()
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars requested")
        for k, (_, o, h, lo, c, v) in enumerate(bars[80:]):
            tws.push_bar("SPY", ny_epoch(ten + dt.timedelta(seconds=5 * k)), o, h, lo, c, v)
            if k == 0:  # the strategy buys on the first live bar; let the order arrive
                tws.wait_until(lambda: len(tws.placed) == 1, what="the first order")
        thread.join(20)
        assert not thread.is_alive()
    out = capsys.readouterr().out
    assert result["code"] == 0
    assert "paper: equity on SPY" in out
    assert out.count(" | value ") == 3  # one status line per live bar, in New York time
    status = [line for line in out.splitlines() if " | value " in line]
    assert [line[:19] for line in status] == [
        f"{ten + dt.timedelta(seconds=5 * k):%Y-%m-%d %H:%M:%S}" for k in range(3)]
    assert "fill BOT" in out and "done: 1 fill(s)" in out
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    rows = db.execute("SELECT o.status, i.strategy, i.intent FROM orders o "
                      "JOIN intents i USING (order_ref)").fetchall()
    assert rows == [("completed", "EquityStrategy", "buy")]
    assert db.execute("SELECT COUNT(*) FROM fills WHERE booked=1").fetchone()[0] == 1


def test_done_counts_this_runs_fills_not_the_journals(tmp_path, capsys, ib_log):
    """A second run on the same journal that trades nothing says 0 fills, not the first
    run's one."""
    bars = today_bars(2)
    ten = dt.datetime.combine(bars[80][0], dt.time(10))
    for run, expected in ((1, "done: 1 fill(s)"), (2, "done: 0 fill(s)")):
        with FakeTWS() as tws:
            tws.add_stock("SPY", 756733, price=bars[79][4])
            tws.set_history("SPY", ib_history(bars[:80]))
            # the second run never calls for a trade (no signal is that confident)
            extra = ("--max-bars", "2") + (("--min-confidence", "1.0") if run == 2 else ())
            result = {}
            thread = threading.Thread(target=lambda e=extra, r=result, t=tws: r.setdefault(
                "code", cli.main(paper_equity_argv(t, tmp_path, 21, *e))))
            thread.start()
            tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars")
            for k, (_, o, h, lo, c, v) in enumerate(bars[80:]):
                tws.push_bar("SPY", ny_epoch(ten + dt.timedelta(seconds=5 * k)), o, h, lo, c, v)
                if k == 0 and run == 1:  # the first live bar buys; let the order arrive
                    tws.wait_until(lambda: len(tws.placed) == 1, what="the first order")
            thread.join(20)
            assert not thread.is_alive() and result["code"] == 0
        out = capsys.readouterr().out
        assert expected in out, out


def test_live_account_is_refused_without_live(tmp_path, capsys, ib_log):
    with FakeTWS(accounts=("U7654321",)) as tws:
        tws.add_stock("SPY", 756733)
        tws.set_history("SPY", ib_history(zigzag_bars(80)))
        code = cli.main(paper_equity_argv(tws, tmp_path, 21))
        assert code == 2
        out, err = capsys.readouterr()
        assert "account U7654321 is not a paper account" in err and "--live" in err
        # refused before the run is announced or any of the account's fills is journalled
        assert "paper:" not in out and "reconciled" not in out
        db = sqlite3.connect(tmp_path / "journal.sqlite")
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 0
        code = cli.main(paper_equity_argv(tws, tmp_path, 21, "--live"))  # stdin is not a terminal
        assert code == 2
        assert "confirm with --confirm-live U7654321" in capsys.readouterr().err
        code = cli.main(paper_equity_argv(tws, tmp_path, 21, "--live", "--confirm-live", "U1111111"))
        assert code == 2
        assert "does not match the live account" in capsys.readouterr().err
        assert tws.placed == []
        tws.wait_until(lambda: tws.connected_client_ids == [], what="every client gone")


@pytest.mark.parametrize("version", [157, 170, 176, 178])
def test_handshake_negotiates_the_server_version(version, ib_log):
    with FakeTWS(server_version=version, cash=25_000.0) as tws:
        tws.add_stock("SPY", 756733)
        store = IBStore(port=tws.port, client_id=4, **FAST).start()
        try:
            assert store.ib.client.serverVersion() == version
            assert store.accounts == ("DU1234567",)
            values = {v.tag: v.value for v in store.last_sync.account_values}
            assert values["TotalCashValue"] == "25000.00"
            [spy] = store.qualify(Stock("SPY", "SMART", "USD"))
            assert spy.conId == 756733 and spy.primaryExchange == "ARCA"
        finally:
            store.stop()


def test_ctrl_c_stops_cleanly_and_cancels_on_exit(tmp_path, capsys, ib_log):
    ib_log.allow(r"Error 202")
    bars = today_bars(1)
    ten = dt.datetime.combine(bars[80][0], dt.time(10))  # New York time
    with FakeTWS() as tws:
        tws.order_mode = "hold"
        tws.add_stock("SPY", 756733, price=bars[79][4])
        tws.set_history("SPY", ib_history(bars[:80]))

        def steps():
            tws.wait_until(lambda: tws.subscribers("SPY") == 1, timeout=OPERATOR_WAIT,
                           what="real-time bars")
            _, o, h, lo, c, v = bars[80]
            tws.push_bar("SPY", ny_epoch(ten), o, h, lo, c, v)
            tws.wait_until(lambda: len(tws.placed) == 1, timeout=OPERATOR_WAIT,
                           what="the order")

        operator = CtrlC(steps)  # then Ctrl-C: a real SIGINT to the main thread
        operator.start()
        code = cli.main(paper_equity_argv(tws, tmp_path, 21, "--cancel-on-exit"))
        operator.check()
        tws.wait_until(lambda: tws.wait_for_order().status == "Cancelled", what="cancelled")
    out = capsys.readouterr().out
    assert code == 130
    # reported once IB confirmed it (the cancel's status came back before the line)
    assert "stopping on Ctrl-C" in out and "1 open order(s) cancelled (IB confirmed)" in out
    assert out.index("canceled btml/") < out.index("1 open order(s) cancelled")
    assert "may still be working" not in out
    assert [f[0] for _, f in tws.received].count("4") == 1  # one cancelOrder
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    assert db.execute("SELECT status FROM orders").fetchall() == [("canceled",)]


def test_ctrl_c_while_disconnected_names_the_orders_still_working(tmp_path, capsys, ib_log):
    """--cancel-on-exit while TWS is away: nothing can be cancelled, so nothing is reported
    cancelled; the order still working at IB is named."""
    ib_log.allow(r"Peer closed connection", r"API connection failed",
                 r"Connection reset by peer")
    bars = today_bars(1)
    ten = dt.datetime.combine(bars[80][0], dt.time(10))
    with FakeTWS() as tws:
        tws.order_mode = "hold"
        tws.add_stock("SPY", 756733, price=bars[79][4])
        tws.set_history("SPY", ib_history(bars[:80]))

        def steps():
            tws.wait_until(lambda: tws.subscribers("SPY") == 1, timeout=OPERATOR_WAIT,
                           what="real-time bars")
            _, o, h, lo, c, v = bars[80]
            tws.push_bar("SPY", ny_epoch(ten), o, h, lo, c, v)
            tws.wait_until(lambda: len(tws.placed) == 1, timeout=OPERATOR_WAIT,
                           what="the order")
            tws.paused = True  # TWS restarting: the client's reconnects are refused
            tws.drop_connections()
            tws.wait_until(lambda: tws.refused_paused >= 1, timeout=OPERATOR_WAIT,
                           what="a refused reconnect")

        operator = CtrlC(steps)
        operator.start()
        code = cli.main(paper_equity_argv(tws, tmp_path, 21, "--cancel-on-exit"))
        operator.check()
        order = tws.wait_for_order()
    out = capsys.readouterr().out
    assert code == 130
    assert order.status == "Submitted"  # still working at IB
    assert "0 open order(s) cancelled (IB confirmed)" in out
    assert (f"warning: 1 order(s) may still be working at IB (not connected to TWS/Gateway, "
            f"so no cancel was sent): {order.order_ref}; check and cancel them in TWS") in out


@pytest.mark.parametrize("argv, message", [
    (["--strategy", "credit-spread", "--stop-multiple", "0.5"],
     "error: --stop-multiple 0.5 is invalid: must be above 1"),
    (["--strategy", "credit-spread", "--dte-min", "45", "--dte-max", "30"],
     "error: --dte-min 45 is above --dte-max 30"),
    (["--min-confidence", "2"], "error: --min-confidence 2.0 is invalid: must be from 0 to 1"),
])
def test_paper_refuses_a_bad_strategy_rule_before_connecting(argv, message, capsys,
                                                             monkeypatch):
    def no_connection(self):
        raise AssertionError("connected for a refused config")

    monkeypatch.setattr(IBStore, "start", no_connection)
    assert cli.main(["paper", "--connect-timeout", "1", *argv]) == 2
    assert capsys.readouterr().err.startswith(message)


def test_paper_settings_take_the_strategy_config_from_the_registry():
    from cli.paper import paper_settings
    from strategies import CreditSpreadConfig, EquityConfig

    args = cli.build_parser().parse_args(["paper", "--strategy", "credit-spread", "--symbols",
                                          "spy,qqq", "--target-delta", "0.25",
                                          "--max-open-spreads", "2"])
    settings = paper_settings(args)
    assert settings.symbols == ["SPY", "QQQ"]
    # --max-open-spreads is the broker's limit, not the strategy's rule of the same name
    assert settings.strategy_config == CreditSpreadConfig(target_delta=0.25)
    assert settings.max_open_spreads == 2
    args = cli.build_parser().parse_args(["paper", "--min-confidence", "0.6"])
    assert paper_settings(args).strategy_config == EquityConfig(min_confidence=0.6)


def test_status_line_shows_new_york_bar_times(tmp_path, capsys, ib_log):
    """The issue's run: 5-second bars from 2024-01-02 10:00:00 New York time, an hour of
    backfill, the default --timezone: the status lines show 10:00:00, 10:00:05, ... (they
    showed 05:00:00 when New York times were stored as if they were UTC)."""
    start = dt.datetime(2024, 1, 2, 10)
    history = [(start - dt.timedelta(seconds=5 * k)).replace(tzinfo=NEW_YORK)
               for k in range(720, 0, -1)]
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=470.0)
        tws.set_history("SPY", [(t, 470.0, 470.5, 469.5, 470.0, 100.0) for t in history])
        result = {}
        argv = ["paper", "--strategy", "credit-spread", "--symbols", "SPY", "--bar-size",
                "5 secs", "--backfill", "3600 S", "--max-bars", "3", "--ib-port",
                str(tws.port), "--client-id", "22", "--journal",
                str(tmp_path / "journal.sqlite"), "--connect-timeout", "3"]
        thread = threading.Thread(target=lambda: result.setdefault("code", cli.main(argv)))
        thread.start()
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars requested")
        for k in range(3):
            tws.push_bar("SPY", ny_epoch(start + dt.timedelta(seconds=5 * k)), 470.0, 470.5,
                         469.5, 470.25)
        thread.join(20)
        assert not thread.is_alive()
    status = [line for line in capsys.readouterr().out.splitlines() if " | value " in line]
    assert result["code"] == 0
    assert [line.split(" SPY ")[0] for line in status] == [
        "2024-01-02 10:00:00", "2024-01-02 10:00:05", "2024-01-02 10:00:10"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--decide-at", "15:45", "--bar-size", "1 min"], "--decide-at needs --bar-size '1 day'"),
    (["--decide-at", "15:45", "--live-bars", "keep_up"], "--decide-at needs --live-bars "
                                                           "realtime"),
    (["--timezone", "Mars/Olympus"], "--timezone 'Mars/Olympus' is not a known time zone"),
])
def test_bar_flags_are_refused_before_connecting(extra, message, capsys):
    argv = ["paper", "--ib-port", "1", "--connect-timeout", "0.1", *extra]
    assert cli.main(argv) == 2
    assert f"error: {message}" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "message"), [
    ("9:30", "09:30 is outside regular hours"), ("16:01", "16:01 is outside regular hours"),
    ("1545", "must be HH:MM"), ("25:00", "must be HH:MM")])
def test_decide_at_outside_regular_hours_is_refused(value, message, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["paper", "--decide-at", value])
    assert stop.value.code == 2
    assert f"argument --decide-at: {message}" in capsys.readouterr().err


def test_a_journal_with_open_orders_of_another_client_id_is_refused_before_connecting(
        tmp_path, capsys, monkeypatch):
    """IB lists open orders only to the clientId that placed them: a restart under another
    id would call the earlier run's working order lost and trade beside it."""
    from brokers.journal import Journal

    def no_connection(self):
        raise AssertionError("connected with another run's orders out of sight")

    monkeypatch.setattr(IBStore, "start", no_connection)
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    journal.record_intent("ref-1", "equity", "buy", "SPY", {})
    journal.record_order("ref-1", "stock", "BUY", 10, "MKT", None)
    journal.order_sent("ref-1", 5, client_id=7)
    journal.close()
    assert cli.main(["paper", "--journal", str(path), "--client-id", "8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the journal {path} has 1 order(s) still open that were "
                          "sent with clientId 7")
    assert "restart with --client-id 7" in err
    monkeypatch.setattr(IBStore, "start", lambda self: (_ for _ in ()).throw(
        RuntimeError("connecting")))
    with pytest.raises(RuntimeError, match="connecting"):  # the same id goes on to connect
        cli.main(["paper", "--journal", str(path), "--client-id", "7"])


@pytest.mark.parametrize(("extra", "message"), [
    (["--close-grace", "-1"], "--close-grace -1.0 is invalid: must be a number of seconds "
                              "from 0 to below 63000"),
    (["--close-grace", "63000"], "--close-grace 63000.0 is invalid: must be a number of "
                                 "seconds from 0 to below 63000"),
    (["--close-grace", "1e9", "--decide-at", "15:45"], "--close-grace 1000000000.0 is "
                                                       "invalid"),
    (["--close-grace", "5", "--live-bars", "keep_up"], "--close-grace applies only with "
                                                       "--live-bars realtime"),
])
def test_close_grace_that_cannot_work_is_refused_before_connecting(extra, message, capsys,
                                                                   monkeypatch):
    """A negative grace, or one so long that the day's bar could only go out with the
    next session's first 5-second bar (the shortest night is 16:00 to 09:30, 17 h 30 min),
    or a grace with keepUpToDate bars (which never close on the clock) stops with one
    ``error:`` line naming the flag, before anything connects."""
    def no_connection(self):
        raise AssertionError("connected with a --close-grace that cannot work")

    monkeypatch.setattr(IBStore, "start", no_connection)
    assert cli.main(["paper", "--ib-port", "1", *extra]) == 2
    assert f"error: {message}" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "inf", "ten"])
def test_close_grace_must_be_a_finite_number(value, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["paper", "--close-grace", value])
    assert stop.value.code == 2
    assert "argument --close-grace: expected a" in capsys.readouterr().err


def test_close_grace_reaches_the_paper_settings_which_refuse_the_same_values():
    """``--close-grace`` fills ``PaperSettings.close_grace`` (the feeds get it from there,
    ``test_ib_daily``); without it the feed's default, 10 s. A script that builds the
    settings itself is refused the same values, naming the field."""
    from cli.paper import paper_settings
    from engine.paper import PaperSettings

    parse = cli.build_parser().parse_args
    assert paper_settings(parse(["paper", "--close-grace", "2.5"])).close_grace == 2.5
    assert paper_settings(parse(["paper", "--close-grace", "0"])).close_grace == 0.0
    assert paper_settings(parse(["paper"])).close_grace == 10.0
    for bad in (-0.5, float("nan"), float("inf"), 63000.0):
        with pytest.raises(ValueError, match=r"close_grace=.* is invalid: must be a number "
                                             r"of seconds from 0 to below 63000"):
            PaperSettings(close_grace=bad)
