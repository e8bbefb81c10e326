"""A cancel TWS refuses while the order goes on working: error 10148 "OrderId N that needs
to be cancelled cannot be cancelled, state: Submitted" (or PreSubmitted, or PendingCancel
when a cancel is already pending there).

ib_async 2.1.0 takes every 10148 for the end of the order: ``wrapper.error`` marks the
trade Cancelled. The order is still working at TWS, so the strategy must keep seeing it
Accepted, a later cancel of it (the strategy's, or ``--cancel-on-exit``'s) must reach TWS
(``IBStore`` looks orders up in ``ib.openTrades()``, which leaves out trades ib_async
thinks done), TWS's own later end of it must reach the strategy (ib_async drops an
orderStatus Cancelled that changes nothing it holds, and a 202 for a trade it thinks
done), and a later fill must be booked once.
"""

from __future__ import annotations

import backtrader as bt
import pytest

from brokers.ib_store import StoreSettings
from tests.fakes.ib_harness import (
    FAST,
    PaperRun,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    spy_tws,
    zigzag_bars,
)

HISTORY = zigzag_bars(80)
LIVE = zigzag_bars(86)[80:]


@pytest.fixture
def tws(ib_log):
    ib_log.allow(r"Error 202", r"Error 10148")
    with spy_tws(HISTORY) as fake:
        fake.order_mode = "hold"
        yield fake


def buy_limit(s) -> None:
    s.o = s.buy(size=10, exectype=bt.Order.Limit, price=50.0)


def cancels(tws) -> int:
    """cancelOrder messages the fake TWS received."""
    return sum(fields[0] == "4" for _, fields in list(tws.received))


def refused_cancel(run: PaperRun, tws, state: str) -> None:
    """Bar 0 buys 10 at a limit of 50, bar 1 cancels; TWS refuses the cancel with
    ``state``: wait until the broker has said so."""
    tws.cancel_refusals = [state]
    run.push()
    run.wait(lambda: "Accepted" in run.statuses(), what="Accepted")
    run.push()
    tws.wait_until(lambda: cancels(tws) == 1, what="the strategy's cancel at TWS")
    run.wait(lambda: any(e.startswith("IB did not cancel ") for e in run.events),
             what="the refusal said")


@pytest.mark.parametrize("state", ["Submitted", "PreSubmitted"])
def test_a_cancel_after_a_refused_one_reaches_tws_and_ends_the_order(tws, state):
    """The strategy's cancel is refused (the order still working), so it cancels again on
    the next bar: that cancel goes to TWS, which confirms it, and the strategy sees
    Accepted, then Canceled. The second cancel used to stay unsent: ib_async had marked
    the trade Cancelled on the 10148, so the broker found no open order to cancel and the
    order stayed Accepted for the strategy, working at IB."""
    actions = {0: buy_limit, 1: lambda s: s.cancel(s.o), 2: lambda s: s.cancel(s.o)}
    with PaperRun(tws, HISTORY, LIVE[:4], strategy="scripted", actions=actions) as run:
        refused_cancel(run, tws, state)
        assert run.statuses() == ["Submitted", "Accepted"]
        assert run.broker.get_orders_open() != []
        run.push()
        tws.wait_until(lambda: cancels(tws) == 2, what="the second cancel at TWS")
        run.wait(lambda: "Canceled" in run.statuses(), what="Canceled")
        run.finish()
    order = tws.wait_for_order()
    assert order.status == "Cancelled"
    assert run.statuses() == ["Submitted", "Accepted", "Canceled"]
    assert run.broker.journal.order(order.order_ref)["status"] == "canceled"
    assert run.broker.get_orders_open() == []


def test_tws_ending_the_order_after_a_refused_cancel_reaches_the_strategy(tws):
    """TWS refuses the cancel, then ends the order itself (orderStatus Cancelled and 202,
    as a DAY order at the close): the strategy is told Canceled and the journal says
    canceled. ib_async used to drop both (it held the trade Cancelled already, from the
    10148), so the order stayed Accepted in the run."""
    actions = {0: buy_limit, 1: lambda s: s.cancel(s.o)}
    with PaperRun(tws, HISTORY, LIVE[:3], strategy="scripted", actions=actions) as run:
        refused_cancel(run, tws, "Submitted")
        tws.cancel_by_server(tws.wait_for_order(), "")
        run.wait(lambda: "Canceled" in run.statuses(), what="Canceled")
        run.finish()
    assert run.statuses() == ["Submitted", "Accepted", "Canceled"]
    ref = tws.wait_for_order().order_ref
    assert run.broker.journal.order(ref)["status"] == "canceled"
    assert cancels(tws) == 1


def test_a_fill_after_a_refused_cancel_is_booked_once(tws):
    """TWS refuses the cancel and the exchange then fills the order: the strategy goes
    from Accepted to Completed for 10 shares, booked once (one journal fill, 10 held, the
    price and commission paid once)."""
    actions = {0: buy_limit, 1: lambda s: s.cancel(s.o)}
    with PaperRun(tws, HISTORY, LIVE[:3], strategy="scripted", actions=actions) as run:
        refused_cancel(run, tws, "PreSubmitted")
        tws.fill(tws.wait_for_order())
        run.wait(lambda: "Completed" in run.statuses(), what="Completed")
        run.finish()
    assert run.statuses() == ["Submitted", "Accepted", "Completed"]
    _, info, size, price, comm, _ = run.notes[-1]
    assert (size, price, comm) == (10, 50.0, pytest.approx(0.05))
    broker = run.broker
    row = broker.journal.order(info["order_ref"])
    assert (row["status"], row["filled"]) == ("completed", 10)
    fills = broker.journal.fills(info["order_ref"])
    assert [(f["shares"], f["booked"]) for f in fills] == [(10, 1)]
    assert broker.getposition(run.datas[0]).size == 10
    assert broker.cash_total() == pytest.approx(tws.cash)
    assert broker.cash_total() == pytest.approx(100_000 - 500 - 0.05)


def exit_run(tws, actions: dict) -> PaperRun:
    """A scripted run that cancels on exit, its confirmation wait cut to 0.5 s."""
    store = StoreSettings(port=tws.port, client_id=12, **{**FAST, "request_timeout": 0.5})
    return PaperRun(tws, HISTORY, LIVE[:3], strategy="scripted", actions=actions,
                    settings={"cancel_on_exit": True, "store": store})


def test_cancel_on_exit_cancels_an_order_whose_cancel_was_refused(tws):
    """The strategy's cancel was refused; ``--cancel-on-exit`` sends its own, which TWS
    confirms: the order is counted cancelled. It used to be left out (no open trade at
    ib_async), neither cancelled nor named as possibly working, while it worked at IB."""
    actions = {0: buy_limit, 1: lambda s: s.cancel(s.o)}
    with exit_run(tws, actions) as run:
        refused_cancel(run, tws, "Submitted")
        run.finish()
    order = tws.wait_for_order()
    cancels_ = run.broker.exit_cancels
    assert cancels(tws) == 2 and order.status == "Cancelled"
    assert cancels_.cancelled == (order.order_ref,) and cancels_.working == ()
    assert run.broker.journal.order(order.order_ref)["status"] == "canceled"


def test_an_exit_cancel_refused_as_pending_is_reported_as_possibly_working(tws):
    """``--cancel-on-exit``'s cancel is refused with 'state: PendingCancel' (a cancel is
    pending at TWS, not done): no confirmation, so after the wait the order is named as
    possibly still working. It used to be counted as cancelled (IB confirmed), ib_async
    having marked it Cancelled on the refusal."""
    tws.cancel_refusals = ["PendingCancel"]
    with exit_run(tws, {0: buy_limit}) as run:
        run.push()
        run.wait(lambda: "Accepted" in run.statuses(), what="Accepted")
        run.finish()
    order = tws.wait_for_order()
    cancels_ = run.broker.exit_cancels
    assert cancels(tws) == 1 and order.status == "Submitted"
    assert cancels_.cancelled == () and cancels_.working == (order.order_ref,)
    assert run.statuses() == ["Submitted", "Accepted"]
    assert run.broker.journal.order(order.order_ref)["status"] == "accepted"


def spread_run(sample_market, tws, live_bars: int) -> PaperRun:
    """A scripted run that asks for a put credit spread on its first live bar (held by the
    fake), on the sample market's bars with SPY's option chain; cancels wait 0.3 s."""
    from brokers.spreads import SpreadRequest
    from tests.fakes.ib_harness import frame_bars, ib_history

    bars = frame_bars(sample_market.bars("SPY", "2022-09-01", "2023-01-31"))
    history, live = bars[:80], bars[80:80 + live_bars]
    tws.set_history("SPY", ib_history(history))
    tws.add_stock("SPY", 756733, price=history[-1][4])
    tws.add_chain_frame("SPY", sample_market.option_chain("SPY").chain(live[0][0]))
    request = SpreadRequest("SPY", "put_credit", target_delta=0.30, width=5.0, dte_min=30,
                            dte_max=45, contracts=1)
    store = StoreSettings(port=tws.port, client_id=12, **{**FAST, "cancel_timeout": 0.3})
    actions = {0: lambda s: s.broker.open_credit_spread(s, s.data, request)}
    return PaperRun(tws, history, live, strategy="scripted", actions=actions,
                    settings={"store": store})


def test_the_one_bar_rule_cancels_again_on_the_next_bar_after_a_refusal(sample_market,
                                                                        tws):
    """The one-bar rule's cancel of the first bar's spread order is refused (10148, still
    Submitted): on the next bar the broker cancels it again, TWS confirms, and the
    strategy is told Expired with the one-bar reason. The order used to be left working
    at IB (the rule cancelled each order once), past the one bar it is good for."""
    tws.cancel_refusals = ["Submitted"]
    with spread_run(sample_market, tws, 4) as run:
        run.push()
        ref = tws.placed[0].order_ref
        run.push()  # the one-bar rule cancels; TWS refuses
        tws.wait_until(lambda: cancels(tws) == 1, what="the first cancel at TWS")
        assert run.statuses() == ["Submitted", "Accepted"]
        run.push()  # cancelled again, confirmed
        tws.wait_until(lambda: cancels(tws) == 2, what="the second cancel at TWS")
        run.wait(lambda: "Expired" in run.statuses(), what="Expired")
        run.finish()
    assert cancels(tws) == 2 and tws.order_by_ref(ref).status == "Cancelled"
    assert run.statuses() == ["Submitted", "Accepted", "Expired"]
    assert run.notes[-1][1]["reason"].startswith("limit credit ")
    assert run.broker.journal.order(ref)["status"] == "expired"
    said = [e for e in run.events if ref in e]
    assert said[-2] == (f"cancelling {ref} again: IB refused to cancel it on the bar "
                        "before, and it is good for 1 bar(s) after its request bar")
    assert said[-1].startswith(f"expired {ref}: limit credit ")


def test_an_expiring_spread_order_tws_ends_after_refusing_its_cancel_is_expired(
        sample_market, tws):
    """The one-bar rule cancels the spread order of the first bar on the next one; TWS
    refuses (10148, still Submitted), so the broker says the order may still be working.
    When TWS later ends it itself, the strategy is told Expired with the one-bar reason,
    as the simulated broker expires it. ib_async used to drop TWS's end (it held the trade
    Cancelled since the 10148): the order stayed Accepted, working in the run's books."""
    tws.cancel_refusals = ["Submitted"]
    with spread_run(sample_market, tws, 3) as run:
        run.push()
        ref = tws.placed[0].order_ref
        run.push()  # the one-bar rule cancels; TWS refuses
        said = [e for e in run.events if ref in e]
        assert said[-3].startswith(f"expiring {ref}: limit credit ")
        assert said[-2].startswith(f"IB did not cancel {ref}: OrderId ")
        assert "still Submitted at IB" in said[-2]
        assert said[-1].startswith(f"IB did not confirm the cancel of {ref} within 0.3 s")
        assert run.statuses() == ["Submitted", "Accepted"]
        tws.cancel_by_server(tws.order_by_ref(ref), "")
        run.wait(lambda: "Expired" in run.statuses(), what="Expired")
        run.finish()
    assert run.statuses() == ["Submitted", "Accepted", "Expired"]
    assert run.notes[-1][1]["reason"].startswith("limit credit ")
    assert run.broker.journal.order(ref)["status"] == "expired"
    assert run.broker.open_spreads() == []
