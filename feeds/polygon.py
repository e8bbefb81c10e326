"""Real market data from Polygon (Massive) through the official client: ``--source polygon``.

* bars: daily aggregates, split-adjusted, by New York session date (``feeds.polygon_aggs``),
  plus ``risk_free_rate`` (3-month Treasury, ``feeds.polygon_fed``), ``cpi_release``
  (estimated CPI release days from ``/fed/v1/inflation``) and the options-flow columns
  (``feeds.polygon_flow``: Unusual Whales when ``UNUSUAL_WHALES_API_KEY`` is set, otherwise
  the simulated sample market's, and the source says so);
* option chains: listed contracts and their daily bars, priced into the per-date chain the
  broker reads (``feeds.polygon_options``); the chain snapshot for live use
  (``feeds.polygon_snapshot``); minute bars on request.

Everything goes through one ``massive.RESTClient`` whose requests are rate limited (``free``:
5 a minute for the whole process), retried and checked (``feeds.polygon_http``), and every
answer is cached as Parquet by (dataset, symbol, date range): a rerun sends no request.

Windows: a call without ``start`` returns the symbol's loaded window, else
``DEFAULT_HISTORY`` before the end (a 3-year backtest and its warm-up; on the free tier no
further back than its ~2 years); without ``end``, up to the last complete session.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import pandas as pd

from core.errors import DataError
from feeds.base import MarketSource
from feeds.cache import ParquetCache
from feeds.polygon_aggs import ChunkStore, daily_bars, last_complete_session, minute_bars
from feeds.polygon_fed import RateCurve, cpi_release_flags, inflation, treasury_yields
from feeds.polygon_http import make_client
from feeds.polygon_options import ChainWindow, OptionData, PolygonOptionChain
from feeds.rate_limit import Clock, RateLimiter, RetryPolicy, polygon_free_limiter

log = logging.getLogger(__name__)

DEFAULT_HISTORY = pd.DateOffset(years=3, days=100)
#: how far back the free tier reaches (about 2 years; a week's margin)
FREE_HISTORY = pd.DateOffset(years=2, days=-7)
TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
#: Treasury and inflation rows needed before the first bar (a rate is one session late;
#: a CPI release flag looks at the month two months back)
CONTEXT_LEAD = pd.DateOffset(months=3)


class PolygonSource(MarketSource):
    """Polygon daily bars with context columns, option chains and snapshots (module doc)."""

    name = "polygon"

    def __init__(self, api_key: str, *, base: str | None = None,
                 cache: ParquetCache | None = None, free: bool = False,
                 limiter: RateLimiter | None = None, clock: Clock | None = None,
                 policy: RetryPolicy | None = None, timeout: float = 10.0, flow=None,
                 chain_window: ChainWindow | None = None, now: pd.Timestamp | None = None):
        if limiter is None and free:
            limiter = polygon_free_limiter()
        self.free = free
        self.limiter = limiter
        self.client = make_client(api_key, base=base, limiter=limiter, policy=policy,
                                  clock=clock, timeout=timeout)
        self.store = ChunkStore(cache)
        self.flow = flow
        self.chain_window = chain_window or ChainWindow()
        self.last_complete = last_complete_session(now)
        self._windows: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
        self._frames: dict[tuple, pd.DataFrame] = {}
        self._chains: dict[str, PolygonOptionChain] = {}
        self._rates: RateCurve | None = None
        self._rates_span: tuple | None = None

    # ------------------------------------------------------------------ identity
    def limit_expiries(self, dte_min: int, dte_max: int) -> None:
        """Fetch only the expiries of this days-to-expiry window (the strategy's)."""
        self.chain_window = ChainWindow(dte_min=dte_min, dte_max=dte_max)

    @property
    def requests(self) -> int:
        """HTTP requests this source's client sent (pages and retries included)."""
        return self.client.transport.requests

    def symbols(self) -> list[str]:
        """Polygon serves any listed ticker; these are the ones loaded so far."""
        return sorted(self._windows)

    def check_symbol(self, symbol: str) -> str:
        canonical = symbol.strip().upper()
        if not TICKER.match(canonical):
            raise DataError(f"{symbol!r} is not a stock ticker Polygon could serve "
                            "(letters, digits, '.' or '-', e.g. SPY or BRK.B)")
        return canonical

    def describe(self) -> str:
        tier = "free tier, 5 requests/min" if self.free else "no client-side rate limit"
        flow = self.flow.describe() if self.flow is not None else "no options-flow columns"
        return (f"polygon: real daily bars (Polygon/Massive, split-adjusted, {tier}); option "
                f"chains priced from Polygon option daily bars (bid/ask modelled around the "
                f"close); {flow}")

    # ------------------------------------------------------------------ bars
    def window(self, symbol: str, start=None, end=None) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The dates ``bars(symbol, start, end)`` covers (module doc)."""
        loaded = self._windows.get(symbol)
        if end is None:
            end = loaded[1] if loaded else self.last_complete
        end = min(pd.Timestamp(end).normalize(), self.last_complete)
        if start is None:
            start = loaded[0] if loaded and loaded[1] == end else end - DEFAULT_HISTORY
            floor = self.last_complete - FREE_HISTORY
            if self.free and floor < end:  # (older windows: Polygon's own answer says why)
                start = max(start, floor)
        start = pd.Timestamp(start).normalize()
        if start > end:
            raise DataError(f"{symbol}: start {start:%Y-%m-%d} is after {end:%Y-%m-%d}, the last "
                            "complete session Polygon can have")
        return start, end

    def raw_bars(self, symbol: str, start, end, adjusted: bool = True) -> pd.DataFrame:
        """Daily OHLCV (+ vwap, transactions) only, no context columns."""
        symbol = self.check_symbol(symbol)
        frame = daily_bars(self.store, self.client, symbol, start, end, adjusted=adjusted,
                           through=self.last_complete)
        if frame.empty:
            raise DataError(f"Polygon has no daily bars for {symbol} between {start:%Y-%m-%d} "
                            f"and {end:%Y-%m-%d}: unknown symbol, or not listed then")
        return frame

    def bars(self, symbol: str, start=None, end=None) -> pd.DataFrame:
        symbol = self.check_symbol(symbol)
        start, end = self.window(symbol, start, end)
        key = (symbol, start, end)
        if key not in self._frames:
            frame = self.raw_bars(symbol, start, end)
            frame["risk_free_rate"] = self.rates(start, end).daily(frame.index)
            periods = inflation(self.store, self.client, start - CONTEXT_LEAD, end).index
            frame["cpi_release"] = cpi_release_flags(periods, frame.index)
            if self.flow is not None:
                flow = self.flow.columns(symbol, frame)
                frame = frame.join(flow[[c for c in flow.columns if c not in frame.columns]])
            self._frames[key] = frame
        self._windows[symbol] = (start, end)
        return self._frames[key].copy()

    def minute_bars(self, symbol: str, start, end) -> pd.DataFrame:
        """Minute bars of the sessions from ``start`` to ``end`` (New York time index)."""
        symbol = self.check_symbol(symbol)
        return minute_bars(self.store, self.client, symbol, start, end)

    def rates(self, start, end) -> RateCurve:
        """The Treasury curve covering ``start``..``end`` (fetched once per span)."""
        lo, hi = pd.Timestamp(start) - CONTEXT_LEAD, pd.Timestamp(end)
        if self._rates is None or not (self._rates_span[0] <= lo and hi <= self._rates_span[1]):
            if self._rates_span is not None:
                lo, hi = min(lo, self._rates_span[0]), max(hi, self._rates_span[1])
            self._rates = RateCurve(treasury_yields(self.store, self.client, lo, hi))
            self._rates_span = (lo, hi)
        return self._rates

    # ------------------------------------------------------------------ options
    def option_chain(self, symbol: str) -> PolygonOptionChain:
        """Chains over the symbol's loaded window, priced from Polygon option bars against
        the **unadjusted** closes (strikes are in the prices of their day), for the DTE
        window ``self.chain_window`` (set it to the strategy's before asking)."""
        symbol = self.check_symbol(symbol)
        start, end = self.window(symbol)
        chain = self._chains.get(symbol)
        if (chain is None or chain.bars.index[0] > start or chain.bars.index[-1] < end
                or chain.window != self.chain_window):
            raw = self.raw_bars(symbol, start, end, adjusted=False)
            data = OptionData(self.client, self.store, symbol, self.last_complete,
                              self.chain_window)
            chain = PolygonOptionChain(symbol, raw, data, self.rates(start, end),
                                       self.chain_window)
            self._chains[symbol] = chain
        return chain

    def chain_digest(self, symbol: str) -> str | None:
        """A SHA-256 of the manifest (path, size, modification time) of the cache files the
        chains of ``symbol`` are made of: its contract lists and option bars, its unadjusted
        closes and the Treasury yields (``chain_files``). A refreshed cache (other chain
        data for the same symbol and window) changes it; nothing is read but the folders'
        listings, however many gigabytes they hold. None without a cache."""
        cache = self.store.cache
        if cache is None:
            return None
        digest = hashlib.sha256()
        for path in chain_files(cache, self.check_symbol(symbol)):
            stat = path.stat()
            digest.update(f"{path.relative_to(cache.root)}\0{stat.st_size}\0"
                          f"{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()

    def chain_snapshot(self, symbol: str, **filters) -> pd.DataFrame:
        """The live chain of ``symbol`` now (see ``feeds.polygon_snapshot``); not cached."""
        from feeds.polygon_snapshot import chain_snapshot

        symbol = self.check_symbol(symbol)
        rates = self.rates(self.last_complete - pd.Timedelta(days=10), self.last_complete)
        return chain_snapshot(self.client, symbol, rates, self.last_complete, **filters)


def chain_files(cache: ParquetCache, symbol: str) -> list[Path]:
    """The cache files a chain of ``symbol`` reads, sorted: everything under its folders of
    option contracts, option bars and unadjusted daily bars, and the Treasury yields'
    (temporary files of a write in progress left out)."""
    datasets = [("options-contracts", symbol), ("options-day", symbol),
                ("stocks-day-raw", symbol), ("fed-treasury-yields",)]
    files = []
    for dataset in datasets:
        folder = cache.path_for(("polygon", *dataset, "_")).parent
        if folder.is_dir():
            files += [p for p in folder.rglob("*.parquet")
                      if p.is_file() and not p.name.startswith(".")]
    return sorted(files)


def polygon_from_environment(*, seed: int = 42, cache: ParquetCache | None = None,
                             free: bool = False, env=None, **options) -> PolygonSource:
    """The Polygon source as ``--source polygon`` builds it: the key from
    ``POLYGON_API_KEY``/``MASSIVE_API_KEY`` (environment or ``.env``), the server from
    ``POLYGON_API_BASE``, flow columns from Unusual Whales when ``UNUSUAL_WHALES_API_KEY``
    is set, else from the sample market (``seed``), said so in ``describe``."""
    from feeds.polygon_flow import SampleFlow
    from feeds.polygon_http import KEY_HINT, polygon_base
    from feeds.secrets import polygon_key, unusual_whales_key

    key = polygon_key(env)
    if not key:
        raise DataError(f"--source polygon needs an API key: set {KEY_HINT} (keys are never "
                        "taken on the command line)")
    uw_key = unusual_whales_key(env)
    if uw_key:
        from feeds.polygon_flow import UnusualWhalesFlow

        flow = UnusualWhalesFlow.from_environment(uw_key, cache=cache, env=env)
    else:
        flow = SampleFlow(seed=seed, cache=cache)
    return PolygonSource(key, base=polygon_base(env), cache=cache, free=free, flow=flow,
                         **options)
