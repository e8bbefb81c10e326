"""Shared fixtures: a tiny slice of the sample market, and a private cache per test run."""

from __future__ import annotations

import pytest

from feeds.sample_market import SampleMarket


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """No test writes into the user's own cache folder."""
    monkeypatch.setenv("BTML_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def sample_market() -> SampleMarket:
    return SampleMarket(seed=42)
