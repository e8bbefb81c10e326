"""An order IB never acknowledges, against the fake TWS with the real client.

The equity strategy sends nothing while an order of its is pending, so an order TWS never
answered held it until a reconnect or the run's end. After the request timeout the broker
asks TWS which orders it knows (``reqOpenOrders``, ``reqCompletedOrders``): TWS answers
its socket's messages in order, so an order sent before the question and not listed never
reached it: lost, never resent, Canceled to the strategy, which decides again. An order
TWS lists gets its state from the answer and stays."""

from __future__ import annotations

import pytest

from brokers.ib_store import StoreSettings
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    FAST,
    PaperRun,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    spy_tws,
    zigzag_bars,
)

HISTORY = zigzag_bars(80)
LIVE = zigzag_bars(86)[80:]
WAIT = 0.3  # the request timeout of these runs, seconds


@pytest.fixture
def tws():
    with spy_tws(HISTORY) as fake:
        yield fake


def quick(tws: FakeTWS) -> dict:
    return {"store": StoreSettings(port=tws.port, client_id=11,
                                   **{**FAST, "request_timeout": WAIT})}


def test_an_order_tws_never_got_is_lost_and_the_strategy_decides_again(tws, ib_log):
    tws.order_mode = "lost"
    with PaperRun(tws, HISTORY, LIVE[:3], settings=quick(tws)) as run:
        run.push()
        assert len(tws.placed) == 1 and not tws.orders  # read, kept nowhere
        run.wait(lambda: "Canceled" in run.statuses(), what="the unacknowledged order lost")
        tws.order_mode = "fill"
        run.push()
        run.wait(lambda: "Completed" in run.statuses(), what="the next order filled")
        run.finish()
    first, second = (p.order_ref for p in tws.placed)
    assert first != second  # decided again, not resent
    journal = run.broker.journal
    lost = journal.order(first)
    assert lost["status"] == "lost"
    assert lost["reason"] == (f"IB did not acknowledge this order within {WAIT:g} s and TWS "
                              "does not list it among its open or completed orders; it is "
                              "not resent")
    assert journal.order(second)["status"] == "completed"
    canceled = next(n for n in run.notes if n[0] == "Canceled")
    assert canceled[1]["reason"] == lost["reason"]
    assert any(e.startswith(f"lost {first}: IB did not acknowledge") for e in run.events)
    assert run.broker.getposition(run.datas[0]).size == tws.placed[1].quantity


def test_an_order_tws_holds_unanswered_is_not_lost(tws, ib_log):
    """'silent': TWS has the order but sent no state; its answer to the question lists it
    (Submitted): accepted, and it fills later."""
    tws.order_mode = "silent"
    with PaperRun(tws, HISTORY, LIVE[:2], settings=quick(tws)) as run:
        run.push()
        run.wait(lambda: "Accepted" in run.statuses(), what="the answer's state")
        order = tws.order_by_ref(tws.placed[0].order_ref)
        tws.fill(order)
        run.wait(lambda: "Completed" in run.statuses(), what="the fill")
        run.finish()
    assert run.statuses() == ["Submitted", "Accepted", "Completed"]
    assert run.broker.journal.order(tws.placed[0].order_ref)["status"] == "completed"
    assert not any(e.startswith("lost ") for e in run.events)


def test_no_answer_to_the_question_is_said_and_asked_again(tws, ib_log):
    tws.order_mode = "lost"
    with PaperRun(tws, HISTORY, LIVE[:2], settings=quick(tws)) as run:
        tws.ignore.add("open_orders")  # from now on: connecting asked for them too
        run.push()
        run.wait(lambda: sum("TWS did not say which orders it knows" in e
                             for e in run.events) >= 2, what="two unanswered questions")
        assert run.statuses() == ["Submitted"]  # not lost without TWS's word
        tws.ignore.discard("open_orders")
        run.wait(lambda: "Canceled" in run.statuses(), what="lost once TWS answers")
        run.finish()
    assert run.broker.journal.order(tws.placed[0].order_ref)["status"] == "lost"
