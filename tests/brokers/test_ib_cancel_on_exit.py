"""``cancel_on_exit`` counts what IB confirmed: a cancel IB never answers (the fake ignores
cancelOrder) is reported as possibly still working after a bounded wait, not as done."""

from __future__ import annotations

from brokers.ib_store import StoreSettings
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    FAST,
    PaperRun,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    zigzag_bars,
)

HISTORY = zigzag_bars(80)
LIVE = zigzag_bars(82)[80:]


def exit_run(tws: FakeTWS) -> PaperRun:
    """A scripted run that buys on its first live bar and cancels on exit, its confirmation
    wait cut to 0.5 s."""
    store = StoreSettings(port=tws.port, client_id=12, **{**FAST, "request_timeout": 0.5})
    return PaperRun(tws, HISTORY, LIVE, strategy="scripted",
                    actions={0: lambda s: s.buy(size=10)},
                    settings={"cancel_on_exit": True, "store": store})


def test_an_unanswered_cancel_is_reported_as_possibly_working(ib_log):
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=HISTORY[-1][4])
        tws.set_history("SPY", ib_history(HISTORY))
        tws.order_mode = "hold"
        tws.ignore.add("cancel_order")
        with exit_run(tws) as run:
            run.finish()
        order = tws.wait_for_order()
    cancels = run.broker.exit_cancels
    assert cancels.connected and cancels.timeout == 0.5
    assert cancels.cancelled == () and cancels.working == (order.order_ref,)
    assert order.status == "Submitted"


def test_a_confirmed_cancel_is_booked_before_it_is_reported(ib_log):
    ib_log.allow(r"Error 202")
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=HISTORY[-1][4])
        tws.set_history("SPY", ib_history(HISTORY))
        tws.order_mode = "hold"
        with exit_run(tws) as run:
            run.finish()
        order = tws.wait_for_order()
    cancels = run.broker.exit_cancels
    assert cancels.cancelled == (order.order_ref,) and cancels.working == ()
    assert order.status == "Cancelled"
    assert run.broker.journal.order(order.order_ref)["status"] == "canceled"
    assert f"canceled {order.order_ref}: cancelled" in run.events
