"""Fake servers and harnesses the tests share: a fake TWS (and its wire format), the IB paper
harness, fake Polygon and Unusual Whales servers. Tests import them as ``tests.fakes.NAME``
(pytest puts the repository root on the path: ``pythonpath`` in pyproject.toml)."""
