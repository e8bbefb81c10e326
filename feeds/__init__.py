"""Everything that comes from outside: sample, bundled, CSV and API sources, the cache,
option chains and the backtrader feed."""

from feeds.base import EXTRA_COLUMNS, OHLCV, MarketSource
from feeds.btfeed import MarketData, make_feed
from feeds.cache import ParquetCache

__all__ = ["EXTRA_COLUMNS", "OHLCV", "MarketSource",
           "MarketData", "make_feed", "ParquetCache"]
