"""Choosing a source by name (``--source``) and what ``auto`` resolves to."""

from __future__ import annotations

import pytest

from core.errors import DataError
from feeds.bundled import BundledMarket
from feeds.cache import ParquetCache
from feeds.csv_source import CsvMarket
from feeds.sample_market import SampleMarket
from feeds.sources import make_source, resolve_auto


@pytest.mark.parametrize("symbols", [["SP500"], ["SP500", "NASDAQ"], ["spx", "^IXIC"]])
def test_auto_picks_bundled_when_it_has_every_symbol(symbols):
    name, reason = resolve_auto(symbols)
    assert name == "bundled"
    assert reason


def test_auto_picks_sample_for_spy():
    name, reason = resolve_auto(["SPY"])
    assert name == "sample"
    assert "SPY" in reason


def test_auto_names_only_the_missing_symbols():
    name, reason = resolve_auto(["AAPL", "TSLA"])
    assert name == "sample"
    named = {part.strip() for part in reason.split(" not in ")[0].split(",")}
    assert named == {"AAPL", "TSLA"}


def test_make_source_sample_and_bundled(tmp_path):
    cache = ParquetCache(tmp_path)
    sample = make_source("sample", seed=7, cache=cache)
    assert isinstance(sample, SampleMarket)
    assert sample.seed == 7 and sample.cache is cache
    bundled = make_source("bundled", cache=cache)
    assert isinstance(bundled, BundledMarket)
    assert bundled.cache is cache


def test_make_source_csv(tmp_path):
    (tmp_path / "abc.csv").write_text("Date,Open,High,Low,Close,Volume\n"
                                      "2020-01-02,1,2,0.5,1.5,10\n")
    source = make_source("csv", csv_path=tmp_path)
    assert isinstance(source, CsvMarket)
    assert source.symbols() == ["ABC"]


@pytest.mark.parametrize("path", [None, ""])
def test_csv_without_path_raises(path):
    with pytest.raises(DataError, match="--csv"):
        make_source("csv", csv_path=path)


def test_polygon_without_key_raises(monkeypatch):
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    with pytest.raises(DataError, match="POLYGON_API_KEY"):
        make_source("polygon")


@pytest.mark.parametrize("name", ["yahoo", "", "auto"])
def test_unknown_source_raises(name):
    with pytest.raises(DataError, match="unknown source"):
        make_source(name)


def test_auto_explains_when_no_one_source_has_every_symbol():
    """Not "unknown symbol 'SP500' for source 'sample'" (issue 18)."""
    with pytest.raises(DataError, match=r"--source auto picks one source .* SP500 is only in "
                                        r"the bundled real data; FOO is in neither"):
        resolve_auto(["SPY", "SP500", "FOO"])


def test_make_source_sample_noedge_is_the_no_edge_world(tmp_path):
    market = make_source("sample-noedge", seed=5, cache=ParquetCache(tmp_path))
    assert isinstance(market, SampleMarket)
    assert market.world == "no-edge" and market.seed == 5
    assert market.name == "sample-noedge"
    assert make_source("sample").world == "edge"
