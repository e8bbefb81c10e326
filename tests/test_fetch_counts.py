"""``run.py data fetch`` counts every HTTP request it sent, all APIs together: a source with
an Unusual Whales flow client reports both numbers, not Polygon's alone."""

from __future__ import annotations

from types import SimpleNamespace

from cli.data import sent


def test_requests_of_every_api_are_counted():
    polygon_only = SimpleNamespace(requests=7, flow=None)
    assert sent(polygon_only) == (7, "7 requests")
    sample_flow = SimpleNamespace(requests=7, flow=SimpleNamespace())  # simulated: no client
    assert sent(sample_flow) == (7, "7 requests")
    with_flow = SimpleNamespace(requests=7, flow=SimpleNamespace(requests=3))
    assert sent(with_flow) == (10, "10 requests (7 Polygon, 3 Unusual Whales)")
