"""``run.py paper`` says the strategy's skipped entries and its orders not filled (its
``skipped`` and ``rejections``, a backtest's end-of-run warnings) on the bar they happen,
once each, and counts them in the ``done:`` line: against the fake TWS, an account too
small for one share skips every entry, and an order the fake rejects is said after the
broker's own ``rejected`` line and before the next bar's status line."""

from __future__ import annotations

import datetime as dt
import threading

import run as cli
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    NEW_YORK,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    paper_equity_argv,
    push_today,
    today_market,
)


def run_paper(tws, argv, between=None, bars: int = 2) -> int:
    """Run ``argv`` on a thread, streaming ``bars`` live bars (``between(k)`` after the
    k-th); the exit code."""
    live, result = today_market(tws, 3), {}
    thread = threading.Thread(target=lambda: result.setdefault("code", cli.main(argv)))
    thread.start()
    tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars requested")
    for k in range(bars):
        push_today(tws, live[k], k)
        if between is not None:
            between(k)
    thread.join(20)
    assert not thread.is_alive()
    return result["code"]


def test_an_account_too_small_for_one_share_says_each_skipped_entry(tmp_path, capsys,
                                                                     ib_log):
    with FakeTWS(cash=50.0) as tws:
        code = run_paper(tws, paper_equity_argv(tws, tmp_path, 24, "--max-bars", "2"))
        placed = list(tws.placed)
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and placed == []
    today = dt.datetime.now(NEW_YORK).date()
    skipped = [i for i, line in enumerate(out) if line.startswith("skipped: ")]
    status = [i for i, line in enumerate(out) if " | value " in line]
    assert len(skipped) == 2 and len(status) == 2  # one per bar, each said once
    for line in (out[i] for i in skipped):
        assert line.startswith("skipped: SPY: 95% of the account (47.50) is less than one "
                               "share at ")
        assert line.endswith(f" on {today:%Y-%m-%d}")  # the New York date of the bar
    # said on its bar, before that bar's status line
    assert skipped[0] < status[0] < skipped[1] < status[1]
    assert out[-1].endswith(", 2 entries skipped, 0 order(s) not filled")


def test_an_order_ib_rejects_is_said_when_it_happens(tmp_path, capsys, ib_log):
    """The first bar's buy is rejected; IB's answer reaches the client before the second
    bar (one socket, in order), so the strategy tries again on that bar and the fake fills
    it: one line for one rejection, not repeated at the end."""
    ib_log.allow(r"Error 201")
    with FakeTWS() as tws:
        tws.order_mode = "reject"

        def fill_from_now_on(k: int) -> None:
            if k == 0:
                tws.wait_until(lambda: len(tws.placed) == 1, what="the first order")
                tws.order_mode = "fill"

        code = run_paper(tws, paper_equity_argv(tws, tmp_path, 24, "--max-bars", "2"), fill_from_now_on)
        placed = len(tws.placed)
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and placed == 2
    today = dt.datetime.now(NEW_YORK).date()
    rejected = [i for i, line in enumerate(out) if line.startswith("rejected btml/")]
    not_filled = [i for i, line in enumerate(out) if line.startswith("not filled: ")]
    status = [i for i, line in enumerate(out) if " | value " in line]
    assert len(rejected) == len(not_filled) == 1 and len(status) == 2
    assert status[0] < rejected[0] < not_filled[0] < status[1]
    line = out[not_filled[0]]
    assert line.startswith("not filled: SPY: buy of ")
    assert line.endswith(f" shares on {today:%Y-%m-%d}: rejected by the broker")
    assert out[-1].startswith("done: 1 fill(s)")
    assert out[-1].endswith(", 0 entries skipped, 1 order(s) not filled")


def test_an_order_ib_rejects_after_the_last_bar_is_said(tmp_path, capsys, ib_log):
    """``--max-bars 1``: the order sent on the run's only live bar is rejected after that
    bar was processed. The run waits for IB's answer before the strategy stops, so the
    strategy hears it: the ``not filled:`` line and the ``done:`` count say it. (The
    answer used to be journalled only: the strategy had stopped, nothing was said.)"""
    ib_log.allow(r"Error 201")
    with FakeTWS() as tws:
        tws.order_mode = "silent"  # acknowledged later, after the bar: see ``between``

        def reject_after_the_bar(k: int) -> None:
            tws.reject(tws.wait_for_order(), "no trading permissions")

        code = run_paper(tws, paper_equity_argv(tws, tmp_path, 24, "--max-bars", "1"),
                         reject_after_the_bar, bars=1)
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    today = dt.datetime.now(NEW_YORK).date()
    rejected = [i for i, line in enumerate(out) if line.startswith("rejected btml/")]
    not_filled = [i for i, line in enumerate(out) if line.startswith("not filled: ")]
    assert len(rejected) == len(not_filled) == 1 and rejected[0] < not_filled[0]
    assert out[not_filled[0]] == (f"not filled: SPY: buy of {tws.placed[0].quantity:g} "
                                  f"shares on {today:%Y-%m-%d}: rejected by the broker")
    assert out[-1].endswith(", 0 entries skipped, 1 order(s) not filled")


def test_a_credit_spread_no_contract_of_fits_is_said_as_skipped(tmp_path, capsys, ib_log):
    """``--strategy credit-spread`` on an account of 1,000: the risk budget (2 % of the
    value, 20.00) sizes no contract of a spread whose full width is 500.00, so every entry
    is skipped; each is said on its bar, before its status line, with the New York date,
    and counted in the ``done:`` line. Nothing is asked of IB's option chain or sent."""
    with FakeTWS(cash=1_000.0) as tws:
        argv = paper_equity_argv(tws, tmp_path, 25, "--max-bars", "2")
        argv[argv.index("equity")] = "credit-spread"
        code = run_paper(tws, argv)
        placed = list(tws.placed)
        asked = {f[0] for _, f in tws.received}
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and placed == []
    assert "78" not in asked  # no reqSecDefOptParams: sizing refused before the legs
    today = dt.datetime.now(NEW_YORK).date()
    skipped = [i for i, line in enumerate(out) if line.startswith("skipped: ")]
    status = [i for i, line in enumerate(out) if " | value " in line]
    assert len(skipped) == 2 and len(status) == 2
    assert skipped[0] < status[0] < skipped[1] < status[1]
    for line in (out[i] for i in skipped):
        assert line == (f"skipped: SPY: no contract of a 5-wide spread fits the risk budget "
                        f"(risk_per_trade=0.02, max_portfolio_risk=0.3 of 1,000.00, 0.00 "
                        f"already at risk) on {today:%Y-%m-%d}")
    assert out[-1] == ("done: 0 fill(s), value 1,000.00, 0 open spread(s), 0 order(s) still "
                       "working at IB, 2 entries skipped, 0 order(s) not filled")
