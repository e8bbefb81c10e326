"""``run.py paper --request-timeout / --stall-after / --stall-timeout / --cancel-timeout``
(and ``trading --source ib``, which shares the connection flags): a user on a slow link sets
how long the run waits for TWS's answers, for a silent TWS and for IB's cancel
confirmations. Values the store cannot use are refused by ``StoreSettings`` itself, before
anything connects, in both commands; against the fake TWS the flags' values reach the stall
watchdog (a short ``--stall-after`` notices a hung TWS and reconnects; the default 30 s would
not within the test's wait), the cancel-on-exit wait and the wait for the cancel of a spread
order unfilled after its bar (an unanswered cancel is reported after ``--cancel-timeout``,
not the request timeout), and trading's historical request (``--request-timeout``)."""

from __future__ import annotations

import logging
import threading

import pytest

import run as cli
from brokers.ib_store import IBStore, StoreSettings
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    FAST,
    PaperRun,
    frame_bars,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    paper_equity_argv,
    push_today,
    today_market,
)

DROP_ERRORS = (r"Peer closed connection", r"API connection failed", r"Error 326",
               r"Connection reset by peer")


def no_connection(self):
    raise AssertionError("connected with settings that should have been refused")


#: the connection flags' refusals, the same in every command that connects to IB
SHARED_REFUSALS = [
    (["--stall-after", "-1"], "--stall-after -1.0 is invalid: must be a number of seconds, "
                              "0 or more (0: no stall watchdog)"),
    (["--stall-timeout", "0"], "--stall-timeout 0.0 is invalid: must be a number of seconds "
                               "above 0"),
    (["--stall-timeout", "-5"], "--stall-timeout -5.0 is invalid"),
    (["--stall-after", "0", "--stall-timeout", "5"],
     "--stall-timeout applies only with the stall watchdog on"),
    (["--request-timeout", "0"], "--request-timeout 0.0 is invalid: must be a number of "
                                 "seconds above 0"),
]
#: the commands that connect to IB (trading: with --source ib only)
IB_COMMANDS = [["paper"], ["trading", "--source", "ib", "-s", "MSFT"]]


@pytest.mark.parametrize("command", IB_COMMANDS, ids=["paper", "trading"])
@pytest.mark.parametrize(("extra", "message"), SHARED_REFUSALS)
def test_bad_connection_flags_are_refused_before_connecting(command, extra, message, capsys,
                                                            monkeypatch):
    monkeypatch.setattr(IBStore, "start", no_connection)
    assert cli.main([*command, *extra]) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")


@pytest.mark.parametrize(("extra", "message"), [
    (["--cancel-timeout", "20"], "--cancel-timeout applies only with --cancel-on-exit or "
                                 "--strategy credit-spread (this run, --strategy equity "
                                 "without --cancel-on-exit, cancels no order)"),
    (["--cancel-on-exit", "--cancel-timeout", "0"],
     "--cancel-timeout 0.0 is invalid: must be a number of seconds above 0"),
    (["--strategy", "credit-spread", "--cancel-timeout", "-1"],
     "--cancel-timeout -1.0 is invalid: must be a number of seconds above 0"),
])
def test_bad_cancel_timeouts_are_refused_before_connecting(extra, message, capsys,
                                                           monkeypatch):
    monkeypatch.setattr(IBStore, "start", no_connection)
    assert cli.main(["paper", *extra]) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")


def test_trading_without_source_ib_refuses_the_connection_flags(capsys, monkeypatch):
    monkeypatch.setattr(IBStore, "start", no_connection)
    assert cli.main(["trading", "-s", "MSFT", "--request-timeout", "40"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: --request-timeout applies only with --source ib (this run has --source auto)")


@pytest.mark.parametrize("value", ["nan", "inf", "soon"])
def test_a_timeout_that_is_not_a_finite_number_is_refused_by_argparse(value, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["paper", "--stall-after", value])
    assert stop.value.code == 2
    assert "argument --stall-after: expected a" in capsys.readouterr().err


@pytest.mark.parametrize(("field", "value"), [
    ("stall_after", -0.5), ("stall_after", float("nan")), ("stall_timeout", 0.0),
    ("stall_timeout", float("inf")), ("cancel_timeout", 0.0), ("request_timeout", -1.0),
    ("connect_timeout", 0.0)])
def test_store_settings_refuse_what_the_store_cannot_use(field, value):
    """The rule lives in the settings, so a command or a script that builds them without
    the paper flags is refused the same way."""
    with pytest.raises(ValueError, match=rf"^{field}=.* is invalid: must be"):
        StoreSettings(**{field: value})


def test_the_flags_fill_the_store_settings_and_zero_turns_the_watchdog_off():
    from cli.paper import paper_settings

    def store(*argv):
        return paper_settings(cli.build_parser().parse_args(["paper", *argv])).store

    given = store("--connect-timeout", "4", "--request-timeout", "50", "--stall-after", "90",
                  "--stall-timeout", "25", "--cancel-on-exit", "--cancel-timeout", "40")
    assert (given.connect_timeout, given.request_timeout, given.stall_after,
            given.stall_timeout, given.cancel_wait) == (4.0, 50.0, 90.0, 25.0, 40.0)
    default = store()
    assert (default.connect_timeout, default.stall_after, default.stall_timeout) == (
        8.0, 30.0, 10.0)
    assert default.cancel_wait == default.request_timeout == 15.0
    assert store("--request-timeout", "50").cancel_wait == 50.0  # the cancel wait follows
    # a spread order unfilled after its bar is cancelled: the wait applies without --cancel-on-exit
    assert store("--strategy", "credit-spread", "--cancel-timeout", "40").cancel_wait == 40.0
    assert store("--stall-after", "0").stall_after == 0.0


def test_trading_fills_the_same_store_settings():
    from cli.ml_trading import settings_from_args

    args = cli.build_parser().parse_args(
        ["trading", "--source", "ib", "-s", "MSFT", "--ib-port", "4002", "--client-id", "7",
         "--connect-timeout", "4", "--request-timeout", "50", "--stall-after", "90",
         "--stall-timeout", "25"])
    ib = settings_from_args(args).ib
    assert (ib.port, ib.client_id, ib.connect_timeout, ib.request_timeout, ib.stall_after,
            ib.stall_timeout) == (4002, 7, 4.0, 50.0, 90.0, 25.0)
    default = settings_from_args(cli.build_parser().parse_args(["trading", "-s", "MSFT"])).ib
    assert default == StoreSettings()





def test_stall_after_reaches_the_watchdog_a_hung_tws_is_reconnected(tmp_path, capsys,
                                                                     caplog, ib_log):
    ib_log.allow(*DROP_ERRORS)
    caplog.set_level(logging.WARNING, logger="btml.ib")
    with FakeTWS() as tws:
        live = today_market(tws, 2)
        result = {}
        argv = paper_equity_argv(tws, tmp_path, 23, "--max-bars", "2", "--stall-after", "0.3",
                          "--stall-timeout", "0.4")
        thread = threading.Thread(target=lambda: result.setdefault("code", cli.main(argv)))
        thread.start()
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars requested")
        push_today(tws, live[0], 0)
        tws.wait_until(lambda: len(tws.placed) == 1, what="the first bar's order")
        tws.freeze()  # TWS hangs: the socket stays open, nothing more comes from it
        # the default --stall-after 30 would not notice within this wait (5 s)
        tws.wait_until(lambda: tws.connects == 2 and tws.subscribers("SPY") == 1,
                       what="the run reconnected and subscribed again")
        push_today(tws, live[1], 1)  # the second and last bar, on the new connection
        thread.join(20)
        assert not thread.is_alive()
    out = capsys.readouterr().out
    assert result["code"] == 0
    assert "IB connection disconnected" in out and "IB connection connected" in out
    stalls = [r.getMessage() for r in caplog.records if "stopped answering" in r.getMessage()]
    assert len(stalls) == 1 and "no reply to reqCurrentTime within 0.4 s" in stalls[0]


def test_cancel_timeout_bounds_the_wait_for_an_unanswered_cancel(tmp_path, capsys, ib_log):
    """The first live bar buys; the order stays working (the fake holds it) and the fake
    never answers its cancel: the run reports it as possibly working after the 0.5 s of
    --cancel-timeout, and says so."""
    with FakeTWS() as tws:
        live = today_market(tws, 2)
        tws.order_mode = "hold"
        tws.ignore.add("cancel_order")
        result = {}
        argv = paper_equity_argv(tws, tmp_path, 23, "--max-bars", "1", "--cancel-on-exit",
                          "--cancel-timeout", "0.5")
        thread = threading.Thread(target=lambda: result.setdefault("code", cli.main(argv)))
        thread.start()
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars requested")
        push_today(tws, live[0], 0)
        thread.join(20)
        assert not thread.is_alive()
        order = tws.wait_for_order()
    out = capsys.readouterr().out
    assert result["code"] == 0
    assert order.status == "Submitted"  # still working at IB: the cancel went unanswered
    assert [f[0] for _, f in tws.received].count("4") == 1  # the cancel was sent
    assert "0 open order(s) cancelled (IB confirmed)" in out
    assert (f"warning: 1 order(s) may still be working at IB (IB did not confirm the cancel "
            f"within 0.5 s): {order.order_ref}") in out


def test_cancel_timeout_bounds_the_wait_for_an_expiring_spread_orders_cancel(
        sample_market, ib_log):
    """The spread order of the first bar is held by the fake, which never answers its
    cancel: on the next bar the one-bar rule cancels it and waits ``cancel_timeout``
    (0.3 s), then says IB did not confirm. With the request timeout's 60 s that bar would
    not be done within the harness's 5 s wait for it."""
    from brokers.spreads import SpreadRequest

    bars = frame_bars(sample_market.bars("SPY", "2022-09-01", "2023-01-31"))
    history, live = bars[:80], bars[80:82]
    request = SpreadRequest("SPY", "put_credit", target_delta=0.30, width=5.0, dte_min=30,
                            dte_max=45, contracts=1)
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        tws.add_chain_frame("SPY", sample_market.option_chain("SPY").chain(live[0][0]))
        tws.order_mode = "hold"
        tws.ignore.add("cancel_order")
        store = StoreSettings(port=tws.port, client_id=12,
                              **{**FAST, "request_timeout": 60.0, "cancel_timeout": 0.3})
        actions = {0: lambda s: s.broker.open_credit_spread(s, s.data, request)}
        with PaperRun(tws, history, live, strategy="scripted", actions=actions,
                      settings={"store": store}) as run:
            run.push()
            ref = tws.placed[0].order_ref
            run.push()  # the expiring order's cancel goes unanswered
            said = [e for e in run.events if ref in e]
            cancels = [f for _, f in tws.received if f[0] == "4"]
            run.join()
        assert tws.order_by_ref(ref).status == "Submitted"  # still working at IB
    assert len(cancels) == 1
    assert said[-2].startswith(f"expiring {ref}: limit credit ")
    assert said[-1] == (f"IB did not confirm the cancel of {ref} within 0.3 s: it may still "
                        "be working at IB (IB's answer, when it comes, ends it)")


def test_request_timeout_reaches_tradings_historical_request(tmp_path, capsys, ib_log):
    """``trading --source ib``: the fake never answers the 1-min bars request; the symbol
    fails after ``--request-timeout`` 0.5 s, which its error names (the default would wait
    15 s)."""
    with FakeTWS() as tws:
        tws.add_stock("MSFT")
        tws.ignore.add("history")
        code = cli.main(["trading", "--source", "ib", "--history-source", "sample",
                         "--ib-port", str(tws.port), "--client-id", "8", "-s", "MSFT",
                         "--end-date", "2025-11-28", "--request-timeout", "0.5",
                         "--models-dir", str(tmp_path / "store"),
                         "--report", str(tmp_path / "signals"), "-q"])
    assert code == 1
    assert ("MSFT: error: IB sent no 1-min bars of MSFT for 2025-11-28 within 0.5 s"
            in capsys.readouterr().out)
