"""``run.py paper --stall-after / --stall-timeout / --cancel-timeout``: a user on a slow link
sets how long the run waits for a silent TWS and for IB's cancel confirmations. Values the
store cannot use are refused by ``StoreSettings`` itself, before anything connects; against
the fake TWS the flags' values reach the stall watchdog (a short ``--stall-after`` notices a
hung TWS and reconnects; the default 30 s would not within the test's wait) and the
cancel-on-exit wait (an unanswered cancel is reported after ``--cancel-timeout``, not the
15 s request timeout)."""

from __future__ import annotations

import datetime as dt
import logging
import threading

import pytest

import run as cli
from brokers.ib_store import IBStore, StoreSettings
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    NEW_YORK,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    ny_epoch,
    zigzag_bars,
)

DROP_ERRORS = (r"Peer closed connection", r"API connection failed", r"Error 326",
               r"Connection reset by peer")


def no_connection(self):
    raise AssertionError("connected with settings that should have been refused")


@pytest.mark.parametrize(("extra", "message"), [
    (["--stall-after", "-1"], "--stall-after -1.0 is invalid: must be a number of seconds, "
                              "0 or more (0: no stall watchdog)"),
    (["--stall-timeout", "0"], "--stall-timeout 0.0 is invalid: must be a number of seconds "
                               "above 0"),
    (["--stall-timeout", "-5"], "--stall-timeout -5.0 is invalid"),
    (["--stall-after", "0", "--stall-timeout", "5"],
     "--stall-timeout applies only with the stall watchdog on"),
    (["--cancel-timeout", "20"], "--cancel-timeout applies only with --cancel-on-exit"),
    (["--cancel-on-exit", "--cancel-timeout", "0"],
     "--cancel-timeout 0.0 is invalid: must be a number of seconds above 0"),
])
def test_bad_timeouts_are_refused_before_connecting(extra, message, capsys, monkeypatch):
    monkeypatch.setattr(IBStore, "start", no_connection)
    assert cli.main(["paper", *extra]) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")


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

    args = cli.build_parser().parse_args(["paper", "--stall-after", "90", "--stall-timeout",
                                          "25", "--cancel-on-exit", "--cancel-timeout", "40"])
    store = paper_settings(args).store
    assert (store.stall_after, store.stall_timeout, store.cancel_wait) == (90.0, 25.0, 40.0)
    default = paper_settings(cli.build_parser().parse_args(["paper"])).store
    assert (default.stall_after, default.stall_timeout) == (30.0, 10.0)
    assert default.cancel_wait == default.request_timeout == 15.0
    off = paper_settings(cli.build_parser().parse_args(["paper", "--stall-after", "0"])).store
    assert off.stall_after == 0.0


def paper_argv(tws, tmp_path, *extra) -> list[str]:
    return ["paper", "--strategy", "equity", "--symbols", "SPY", "--ib-port", str(tws.port),
            "--client-id", "23", "--bar-size", "5 secs", "--backfill", "1 D",
            "--journal", str(tmp_path / "journal.sqlite"), "--connect-timeout", "3", *extra]


def market(tws: FakeTWS) -> list[tuple]:
    """History up to yesterday (New York), today's bars after it."""
    today = dt.datetime.now(NEW_YORK).date()
    bars = zigzag_bars(82, start=today - dt.timedelta(days=80))
    tws.add_stock("SPY", 756733, price=bars[79][4])
    tws.set_history("SPY", ib_history(bars[:80]))
    return bars[80:]


def push(tws: FakeTWS, bar: tuple, k: int) -> None:
    """Today's k-th 5-second bar from 10:00 New York time."""
    ten = dt.datetime.combine(bar[0], dt.time(10))
    _, o, h, lo, c, v = bar
    tws.push_bar("SPY", ny_epoch(ten + dt.timedelta(seconds=5 * k)), o, h, lo, c, v)


def test_stall_after_reaches_the_watchdog_a_hung_tws_is_reconnected(tmp_path, capsys,
                                                                     caplog, ib_log):
    ib_log.allow(*DROP_ERRORS)
    caplog.set_level(logging.WARNING, logger="btml.ib")
    with FakeTWS() as tws:
        live = market(tws)
        result = {}
        argv = paper_argv(tws, tmp_path, "--max-bars", "2", "--stall-after", "0.3",
                          "--stall-timeout", "0.4")
        thread = threading.Thread(target=lambda: result.setdefault("code", cli.main(argv)))
        thread.start()
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars requested")
        push(tws, live[0], 0)
        tws.wait_until(lambda: len(tws.placed) == 1, what="the first bar's order")
        tws.freeze()  # TWS hangs: the socket stays open, nothing more comes from it
        # the default --stall-after 30 would not notice within this wait (5 s)
        tws.wait_until(lambda: tws.connects == 2 and tws.subscribers("SPY") == 1,
                       what="the run reconnected and subscribed again")
        push(tws, live[1], 1)  # the second and last bar, on the new connection
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
        live = market(tws)
        tws.order_mode = "hold"
        tws.ignore.add("cancel_order")
        result = {}
        argv = paper_argv(tws, tmp_path, "--max-bars", "1", "--cancel-on-exit",
                          "--cancel-timeout", "0.5")
        thread = threading.Thread(target=lambda: result.setdefault("code", cli.main(argv)))
        thread.start()
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars requested")
        push(tws, live[0], 0)
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
