"""The run key of a Polygon credit-spread sweep covers the option chains in the cache: the
contracts and option bars (and the unadjusted closes and Treasury yields they are priced
with) that the run reads, by a manifest of their cache files (name, size, modification
time), not by re-reading them. Fake Polygon API on 127.0.0.1."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feeds.cache import ParquetCache
from feeds.calendar import sessions
from feeds.polygon import PolygonSource
from sweeps.grid import parse_grid
from sweeps.plan import SourceSpec, SweepSpec, open_source, plan_sweep
from tests.fakes.fake_polygon import FakePolygon

START, END = pd.Timestamp("2024-01-02"), pd.Timestamp("2024-02-29")


@pytest.fixture
def polygon_cache(monkeypatch, tmp_path):
    """A cache that ``run.py data fetch --options`` filled: SPY's bars and the option
    chains of its first sessions."""
    with FakePolygon() as fake:
        for name in ("MASSIVE_API_KEY", "UNUSUAL_WHALES_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("POLYGON_API_KEY", fake.api_key)
        monkeypatch.setenv("POLYGON_API_BASE", fake.base)
        cache = ParquetCache(tmp_path / "cache")
        source = PolygonSource(fake.api_key, base=fake.base, cache=cache)
        source.bars("SPY", None, END)
        chain = source.option_chain("SPY")
        for day in sessions(START, START + pd.Timedelta(days=10)):
            chain.chain(day)
        open_source.cache_clear()
        yield cache
        open_source.cache_clear()


def _keys(strategy: str, cache: ParquetCache, grid=()) -> list[str]:
    open_source.cache_clear()  # a new command: the source opened afresh
    spec = SweepSpec(strategy, ("SPY",), parse_grid(strategy, list(grid)), START, END, 2,
                     SourceSpec("polygon", 42, None, str(cache.root)))
    return [run.key for run in plan_sweep(spec, cache.root.parent / "report").runs]


def test_a_refreshed_option_chain_is_a_new_run_not_a_stale_one(polygon_cache):
    """A refresh of the cache gives other chain data for the same symbol and window (here a
    contract list of one session with a contract fewer): the credit-spread runs get new
    keys, so the sweep runs them again instead of reusing results of the old chains; an
    equity run reads no chain and keeps its key. Planning twice over an unchanged cache
    gives the same keys (a resumed sweep reuses its runs)."""
    spreads, shares = _keys("credit-spread", polygon_cache), _keys("equity", polygon_cache)
    assert _keys("credit-spread", polygon_cache) == spreads
    listed = sorted(polygon_cache.root.glob("polygon/options-contracts/SPY/*.parquet"))
    assert listed
    frame = pq.read_table(listed[0]).to_pandas()
    pq.write_table(pa.Table.from_pandas(frame.iloc[1:]), listed[0], write_page_checksum=True)
    refreshed = _keys("credit-spread", polygon_cache)
    assert len(refreshed) == len(spreads) == 2
    assert not set(refreshed) & set(spreads)
    assert _keys("equity", polygon_cache) == shares
