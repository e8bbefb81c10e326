"""Shared, expensive-to-build market fixtures for the feeds tests (built once per session)."""

from __future__ import annotations

import pytest

from feeds.bundled import BundledMarket
from feeds.sample_market import SampleMarket


@pytest.fixture(scope="session")
def sample_market() -> SampleMarket:
    """The default sample market, uncached (never touches the user's cache folder)."""
    return SampleMarket(seed=42, cache=None)


@pytest.fixture(scope="session")
def spy(sample_market):
    """SPY bars of the seed-42 sample market (do not mutate: the market keeps this frame)."""
    return sample_market.bars("SPY")


@pytest.fixture(scope="session")
def bundled_market() -> BundledMarket:
    return BundledMarket(cache=None)
