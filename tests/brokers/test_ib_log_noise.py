"""A refused connection is said once, by our ``error:`` line: ib_async's own two ERROR lines
about it are dropped (kept with debug logging); its other ERRORs pass."""

from __future__ import annotations

import logging

import brokers.ib_store  # noqa: F401 (installs the filter on ib_async's client logger)


def test_only_the_connection_refused_lines_are_dropped(caplog):
    client = logging.getLogger("ib_async.client")
    with caplog.at_level(logging.WARNING):
        client.error("API connection failed: ConnectionRefusedError(111, 'refused')")
        client.error("Make sure API port on TWS/IBG is open")
        client.error("Peer closed connection.")
    assert [r.getMessage() for r in caplog.records] == ["Peer closed connection."]


def test_debug_logging_keeps_them(caplog):
    client = logging.getLogger("ib_async.client")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG):
            client.error("Make sure API port on TWS/IBG is open")
    finally:
        root.setLevel(level)
    assert [r.getMessage() for r in caplog.records] == ["Make sure API port on TWS/IBG is open"]
