"""Choosing a market source by name, as the command line does (``--source``)."""

from __future__ import annotations

from pathlib import Path

from core.errors import DataError
from feeds.base import MarketSource
from feeds.bundled import ALIASES, BundledMarket
from feeds.cache import ParquetCache
from feeds.csv_source import CsvMarket
from feeds.sample_market import SYMBOLS as SAMPLE_SYMBOLS
from feeds.sample_market import SampleMarket

#: ``sample-noedge`` is the sample market's no-edge world (``SampleMarket(world="no-edge")``):
#: the same symbols and calendar, hidden states that drive nothing; a model trained on it
#: must not beat the majority label beyond noise
SOURCE_NAMES = ("auto", "bundled", "sample", "sample-noedge", "csv", "polygon")
#: the simulated markets, whose bars their name and seed decide; any other source's bars (a
#: CSV file, the Polygon cache, data shipped with a dependency) can change under the same
#: name (a sweep's run key then holds a digest of the bars; a stored model, its seed)
GENERATED_SOURCES = ("sample", "sample-noedge")


def resolve_auto(symbols: list[str]) -> tuple[str, str]:
    """``auto`` means real bundled data when it has every symbol, else the sample market.
    Returns the source name and the reason, which the run prints."""
    bundled = set(BundledMarket().symbols()) | set(ALIASES)
    missing = [s for s in symbols if s.upper() not in bundled]
    if not missing:
        return "bundled", "real index data shipped with arch covers every symbol"
    sample = {profile.symbol for profile in SAMPLE_SYMBOLS}
    nowhere = [s for s in symbols if s.upper() not in sample]
    if nowhere:
        parts = [f"{s} is in neither" if s.upper() not in bundled else
                 f"{s} is only in the bundled real data" for s in nowhere]
        raise DataError(
            "--source auto picks one source for every symbol and none has them all: "
            f"{'; '.join(parts)} (bundled: SP500, NASDAQ; sample market: "
            f"{', '.join(sorted(sample))}); run them separately or pick --source")
    return "sample", (f"{', '.join(missing)} not in the bundled real data (SP500, NASDAQ): "
                      "using the simulated sample market")


def make_source(name: str, *, seed: int = 42, cache: ParquetCache | None = None,
                csv_path: str | Path | None = None, free: bool = False) -> MarketSource:
    """The source called ``name`` (not ``auto``: resolve that first). ``free``: Polygon's
    free tier (a client-side limit of 5 requests a minute for the whole process)."""
    if name == "sample":
        return SampleMarket(seed=seed, cache=cache)
    if name == "sample-noedge":
        return SampleMarket(seed=seed, cache=cache, world="no-edge")
    if name == "bundled":
        return BundledMarket(cache=cache)
    if name == "csv":
        if not csv_path:
            raise DataError("--source csv needs --csv PATH (a file, or a folder of SYMBOL.csv)")
        return CsvMarket(csv_path)
    if name == "polygon":
        from feeds.polygon import polygon_from_environment

        return polygon_from_environment(seed=seed, cache=cache, free=free)
    raise DataError(f"unknown source {name!r}; choose from {', '.join(SOURCE_NAMES)}")
