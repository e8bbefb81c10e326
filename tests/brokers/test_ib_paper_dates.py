"""Dates on IB come from the exchange's clock, not the machine's: a spread opens on the date
its legs filled (not the bar current when the fills are booked, nor the machine's today when
an earlier process's order fills while away), and the daily loss limit keys its days on the
bars' exchange dates (a replay of 2022 is not "today")."""

from __future__ import annotations

from brokers.journal import Journal
from brokers.spreads import SpreadRequest
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    PaperRun,
    frame_bars,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    zigzag_bars,
)

REQUEST = SpreadRequest("SPY", "put_credit", target_delta=0.30, width=5.0, dte_min=30,
                        dte_max=45, contracts=1)


def spread_market(sample_market):
    bars = frame_bars(sample_market.bars("SPY", "2022-09-01", "2023-01-31"))
    history, live = bars[:80], bars[80:84]
    frame = sample_market.option_chain("SPY").chain(live[0][0])
    return history, live, frame


def fake_market(tws, history, frame):
    tws.add_stock("SPY", 756733, price=history[-1][4])
    tws.set_history("SPY", ib_history(history))
    tws.add_chain_frame("SPY", frame)


def open_spread(s):
    s.broker.open_credit_spread(s, s.data, REQUEST)


def test_spread_entry_date_is_the_fill_date_not_the_bar_date(sample_market, ib_log):
    """Sent at the close of day 0, filled at day 1's open (the fake's next_bar_open): the
    spread opened on day 1, as the simulated broker dates it."""
    history, live, frame = spread_market(sample_market)
    with FakeTWS() as tws:
        fake_market(tws, history, frame)
        tws.order_mode = "next_bar_open"
        with PaperRun(tws, history, live[:3], strategy="scripted",
                      actions={0: open_spread}) as run:
            run.finish()
    [spread] = run.broker.open_spreads()
    assert spread.entry_date == live[1][0] != live[0][0]
    assert run.broker.journal.spreads()[0].entry_date == live[1][0]


def test_fill_while_away_dates_the_spread_by_its_execution(sample_market, tmp_path, ib_log):
    """Process 1 sends the BAG on day 0 and stops; it fills on day 0 while nobody is
    connected; process 2 learns of it at its first sync (before any bar: the old code took
    the machine's today) and holds a spread opened on day 0."""
    history, live, frame = spread_market(sample_market)
    path = tmp_path / "journal.sqlite"
    with FakeTWS() as tws:
        fake_market(tws, history, frame)
        tws.order_mode = "hold"
        with PaperRun(tws, history, live[:1], strategy="scripted", actions={0: open_spread},
                      journal=Journal(path)) as first:
            first.finish()
        tws.fill(tws.wait_for_order())  # the fake's clock: day 0's close
        with PaperRun(tws, history, live[1:2], strategy="scripted", actions={},
                      journal=Journal(path)) as second:
            second.finish()
    [spread] = second.broker.open_spreads()
    assert spread.entry_date == live[0][0]


def test_daily_loss_limit_keys_on_the_bars_exchange_date(ib_log):
    history = zigzag_bars(80)
    live = zigzag_bars(83)[80:]
    live[1] = (live[1][0], 80.0, 80.0, 80.0, 80.0, 1000.0)  # a crash on the second day
    actions = {0: lambda s: s.buy(size=100), 1: lambda s: s.buy(size=10),
               2: lambda s: s.buy(size=10)}
    with FakeTWS(stock_commission=lambda shares, price: 1.0) as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        with PaperRun(tws, history, live, strategy="scripted", actions=actions,
                      settings={"max_daily_loss": 1_000.0}) as run:
            run.finish()
            days = [r[0] for r in run.broker.journal._exec(
                "SELECT day FROM days ORDER BY day").fetchall()]
    # each exchange date's count starts from the value last seen the date before: the
    # crash on day 2 stops day 2's opening order, day 3 (back up) counts from day 2's close
    assert days == [f"{d[0]:%Y-%m-%d}" for d in live]
    refused = [n[1]["reason"] for n in run.notes if n[0] == "Rejected"]
    assert len(refused) == 1 and refused[0].startswith("daily max loss reached: down ")
    assert f"at the start of {live[1][0]:%Y-%m-%d}" in refused[0]
    assert [(p.action, p.quantity) for p in tws.placed] == [("BUY", 100), ("BUY", 10)]
