"""Dates on IB come from the exchange's clock, not the machine's: a spread opens on the date
its legs filled (not the bar current when the fills are booked, nor the machine's today when
an earlier process's order fills while away), and the daily loss limit keys its days on the
bars' exchange dates (a replay of 2022 is not "today")."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from brokers.journal import Journal
from brokers.spreads import SpreadRequest
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


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Tokyo"])
def test_display_zone_changes_no_exchange_date(ib_log, tz):
    """30-minute bars of Friday 2024-03-08 and Monday 2024-03-11 (the clocks changed on
    Sunday), shown in ``tz``: in Tokyo Friday's bars from 10:00 New York on fall on
    Saturday 03-09 and Monday's session opens at 22:30 Monday. The exchange date (the
    daily-loss day) is New York's in both zones: Friday's loss
    counts from Friday's start, Monday's from Friday's last value, and nothing else."""
    friday, monday = dt.date(2024, 3, 8), dt.date(2024, 3, 11)
    history = [(dt.datetime.combine(dt.date(2024, 3, 7), dt.time(15, 30), NEW_YORK), 100.0,
                100.5, 99.5, 100.0, 1000.0)]
    slots = [(friday, dt.time(9, 30), 100.0), (friday, dt.time(10), 100.0),
             (friday, dt.time(15, 30), 80.0), (monday, dt.time(9, 30), 80.0),
             (monday, dt.time(10), 81.0)]
    seen = []

    def record(s):
        seen.append((s.data.datetime.datetime(0), s.broker._exchange_today()))

    def buy(size):
        return lambda s: (record(s), s.buy(size=size))

    actions = {0: buy(100), 1: record, 2: buy(10), 3: buy(10), 4: record}
    with FakeTWS(stock_commission=lambda shares, price: 0.0) as tws:
        tws.add_stock("SPY", 756733, price=100.0)
        tws.set_history("SPY", history)
        with PaperRun(tws, [(friday, 0, 0, 0, 0, 0)], [None] * 5, strategy="scripted",
                      actions=actions, settings={"bar_size": "30 mins", "tz": tz,
                                                 "max_daily_loss": 1_000.0,
                                                 "trade_start": friday}) as run:
            for k, (day, at, price) in enumerate(slots):
                start = dt.datetime.combine(day, at)
                for offset in (0, 1795):  # the slot's first and last 5-second bars
                    tws.push_bar("SPY", ny_epoch(start + dt.timedelta(seconds=offset)),
                                 price, price, price, price)
                run.wait_bars(k + 1, f"bar {start}")
                tws.wait_until(lambda: len(tws.placed) >= run.broker.sent, what="orders")
            run.join()
            days = [tuple(r) for r in run.broker.journal._exec(
                "SELECT day, start_value FROM days ORDER BY day").fetchall()]
    zone = ZoneInfo(tz)
    assert seen == [(dt.datetime.combine(d, t, NEW_YORK).astimezone(zone).replace(tzinfo=None),
                     d) for d, t, _ in slots]
    # Friday starts at 100,000 (before any bar of it); Monday at Friday's last value
    assert days == [("2024-03-08", 100_000.0), ("2024-03-11", 100_000.0 - 100 * 20.0)]
    refused = [n[1]["reason"] for n in run.notes if n[0] == "Rejected"]
    assert refused == ["daily max loss reached: down 2,000.00 since 100,000.00 at the start "
                       "of 2024-03-08 (limit 1,000.00)"]
    assert [(p.action, p.quantity) for p in tws.placed] == [("BUY", 100), ("BUY", 10)]



@pytest.mark.parametrize("tz", ["America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_first_live_session_is_new_yorks_today_in_any_display_zone(ib_log, tz):
    """No ``trade_start`` given: bars before New York's today only warm up, whatever zone
    they are shown in. Kiritimati (UTC+14) is a day ahead of New York from about 05:00 New
    York time, Pago Pago (UTC-11) a day behind until about 06:00; taking today there
    warmed up through today's live bar (no trade) or traded on yesterday's backfill bar
    (refused: "placed on a historical backfill bar"). The equity strategy (BUY once warm)
    orders once, on today's live bar."""
    today = dt.datetime.now(NEW_YORK).date()
    bars = zigzag_bars(81, start=today - dt.timedelta(days=80))
    history, live = bars[:80], bars[80:]
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        with PaperRun(tws, history, live, settings={"bar_size": "1 day", "tz": tz,
                                                    "trade_start": None}) as run:
            run.finish()
    assert [n[1].get("reason") for n in run.notes if n[0] == "Rejected"] == []
    assert [p.action for p in tws.placed] == ["BUY"]


@pytest.mark.parametrize("strategy", ["equity", "credit-spread"])
@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Tokyo"])
def test_strategy_messages_name_the_exchange_date_in_any_display_zone(ib_log, tz, strategy):
    """Daily bars of Thursday 2024-03-07 to Tuesday 2024-03-12 (New York's clocks changed on
    Sunday 03-10), on an account too small to size anything: each bar's decision is skipped
    and the strategy says so, naming a date. A daily bar is stamped at the session close,
    16:00 New York, which is 06:00 (05:00 after the change) the next morning in Tokyo:
    ``date(0)`` in the display zone named Friday, Saturday, Tuesday and Wednesday there. The
    message names the New York date the decision was made on, in both zones."""
    days = [dt.date(2024, 3, 7), dt.date(2024, 3, 8), dt.date(2024, 3, 11),
            dt.date(2024, 3, 12)]
    bars = zigzag_bars(84, start=days[0] - dt.timedelta(days=80))
    history, live = bars[:80], [(day, *bar[1:]) for day, bar in zip(days, bars[80:],
                                                                     strict=True)]
    with FakeTWS(cash=50.0) as tws:  # less than one share, less than one spread's width
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        with PaperRun(tws, history, live, strategy=strategy,
                      settings={"bar_size": "1 day", "tz": tz}) as run:
            run.finish()
    [traded] = run.result
    zone = ZoneInfo(tz)
    shown = [dt.datetime.combine(d, dt.time(16), NEW_YORK).astimezone(zone).date()
             for d in days]
    assert (shown != days) == (tz == "Asia/Tokyo")  # the zone does move the date shown
    named = [line.rsplit(" on ", 1)[1] for line in traded.skipped]
    assert named == [f"{d:%Y-%m-%d}" for d in days], traded.skipped
    assert tws.placed == []


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Tokyo"])
def test_a_rejection_names_the_exchange_date_of_its_bar(ib_log, tz):
    """The equity strategy's order of Friday 2024-03-08 (stamped 06:00 Saturday in Tokyo)
    is rejected by IB before Monday's bar: the strategy's line names Friday."""
    ib_log.allow(r"Error 201")
    days = [dt.date(2024, 3, 8), dt.date(2024, 3, 11)]
    bars = zigzag_bars(82, start=days[0] - dt.timedelta(days=80))
    history, live = bars[:80], [(day, *bar[1:]) for day, bar in zip(days, bars[80:],
                                                                     strict=True)]
    with FakeTWS() as tws:
        tws.order_mode = "reject"
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        with PaperRun(tws, history, live, settings={"bar_size": "1 day", "tz": tz}) as run:
            run.push()
            run.wait(lambda: "Rejected" in run.statuses(), what="Friday's order rejected")
            run.finish()
    [traded] = run.result
    assert traded.rejections[0].startswith("SPY: buy of ")
    assert " shares on 2024-03-08: " in traded.rejections[0], traded.rejections
