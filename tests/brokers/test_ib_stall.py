"""A TWS that hangs with its socket open (``FakeTWS.freeze``) sends nothing and closes
nothing, so no disconnect ever fires: the store's stall watchdog asks for TWS's time after
``stall_after`` quiet seconds and, with no answer within ``stall_timeout``, reconnects as
after a dropped socket; once the reconnect attempts are spent the run stops with the
reason. A quiet TWS that answers is left alone. Thresholds are cut to fractions of a
second here; nothing sleeps, the tests wait on the fake's and the run's state."""

from __future__ import annotations

import pytest

from brokers.ib_store import IBError, IBStore, StoreSettings
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    FAST,
    PaperRun,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    zigzag_bars,
)

HISTORY = zigzag_bars(80)
LIVE = zigzag_bars(84)[80:]
STALL = dict(stall_after=0.3, stall_timeout=0.3)
DROP_ERRORS = (r"Peer closed connection", r"API connection failed", r"Error 326",
               r"Connection reset by peer")


@pytest.fixture
def tws():
    with FakeTWS() as fake:
        fake.add_stock("SPY", 756733, price=HISTORY[-1][4])
        fake.set_history("SPY", ib_history(HISTORY))
        yield fake


def pings(tws: FakeTWS) -> int:
    return [f[0] for _, f in tws.received].count("49")  # reqCurrentTime


def test_a_hung_tws_is_noticed_and_the_run_reconnects(tws, ib_log):
    ib_log.allow(*DROP_ERRORS)
    store = StoreSettings(port=tws.port, client_id=13, **{**FAST, **STALL})
    with PaperRun(tws, HISTORY, LIVE, settings={"store": store}) as run:
        run.push()
        tws.freeze()  # the socket stays open; nothing more comes from TWS
        run.wait(lambda: "IB connection disconnected" in run.events, what="the stall noticed")
        run.wait(lambda: run.events.count("IB connection connected") >= 1,
                 what="reconnected")
        run.finish()  # the remaining live bars arrive on the new connection
    assert run.store.stalls == 1 and run.store.reconnects == 1
    assert tws.connects == 2


def test_a_quiet_tws_that_answers_is_left_alone(tws, ib_log):
    store = IBStore(port=tws.port, client_id=14, **{**FAST, **STALL}).start()
    try:
        tws.wait_until(lambda: pings(tws) >= 3, what="three proofs of life asked for")
        assert store.stalls == 0 and store.reconnects == 0 and tws.connects == 1
        assert store.connected.is_set()
    finally:
        store.stop()


def test_a_hung_tws_that_stays_away_stops_the_run_with_the_reason(tws, ib_log):
    ib_log.allow(*DROP_ERRORS)
    store = StoreSettings(port=tws.port, client_id=15,
                          **{**FAST, **STALL, "reconnect_attempts": 1})
    run = PaperRun(tws, HISTORY, LIVE, settings={"store": store})
    with run:
        run.push()
        tws.paused = True  # TWS is gone for good: reconnects are refused
        tws.freeze()
        run.thread.join(10)
    assert not run.thread.is_alive()
    assert isinstance(run.error, IBError)
    assert "gave up reconnecting after 1 attempt(s)" in str(run.error)
    assert run.store.stalls == 1 and "IB connection gave_up" in run.events
