"""Polygon aggregates (bars) as DataFrames, fetched in cacheable chunks.

* Timestamps: Polygon's ``t`` is the Unix **millisecond** start of the bar's window; a daily
  bar starts at midnight America/New_York, so its session date is ``t`` read in New York
  (never the UTC date). Minute bars are indexed by New York wall-clock time, tz-naive like
  every other frame here.
* Chunks: daily bars are fetched per calendar year, minute bars per session, option bars per
  contract; each chunk is one cache file keyed by (dataset, ticker, date range), so a rerun
  over the same range sends no request and an interrupted download resumes where it stopped.
  Only finished periods are fetched: a chunk stops at the last complete session (a bar of
  today may still change), and the key carries that end date.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from core.errors import DataError
from feeds.base import OHLCV
from feeds.cache import ParquetCache
from feeds.calendar import sessions
from feeds.rate_limit import ApiError

log = logging.getLogger(__name__)

NY = "America/New_York"
BAR_COLUMNS = (*OHLCV, "vwap", "transactions")
#: Polygon's largest ``limit`` for aggregates (base bars per page)
MAX_LIMIT = 50_000
#: daily bars of a session are final a while after the 16:00 close (late prints)
SETTLED_HOUR = 20


def last_complete_session(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The latest NYSE session whose daily bar is final at ``now`` (default: the clock)."""
    now = pd.Timestamp.now(tz=NY) if now is None else pd.Timestamp(now)
    now = now.tz_localize(NY) if now.tzinfo is None else now.tz_convert(NY)
    today = now.tz_localize(None).normalize()
    last = today if now.hour >= SETTLED_HOUR else today - pd.Timedelta(days=1)
    recent = sessions(last - pd.Timedelta(days=14), last)
    if len(recent) == 0:
        raise DataError(f"no NYSE session in the two weeks before {last:%Y-%m-%d}")
    return recent[-1]


def ms_to_new_york(ms) -> pd.DatetimeIndex:
    """Unix milliseconds to tz-naive New York wall-clock times."""
    stamps = pd.to_datetime(np.asarray(ms, dtype="int64"), unit="ms", utc=True)
    return pd.DatetimeIndex(stamps).tz_convert(NY).tz_localize(None)


def aggs_frame(aggs: Sequence, timespan: str, ticker: str = "") -> pd.DataFrame:
    """Polygon ``Agg`` objects as a frame: daily bars by session date (``date``), intraday
    bars by New York time (``time``), in time order.

    A bar sent twice (a page repeated) is kept once; two different bars for one time, or a
    bar without a usable ``t``, cannot be told apart or placed: an ``ApiError`` naming the
    ticker (the answer is at fault, so ``data fetch`` stops instead of skipping the day).
    A price that is not a number becomes NaN, which ``check_bars`` refuses by date."""
    index_name = "date" if timespan == "day" else "time"
    if not aggs:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in BAR_COLUMNS},
                            index=pd.DatetimeIndex([], name=index_name))
    ms = pd.to_numeric(pd.Series([a.timestamp for a in aggs], dtype=object), errors="coerce")
    if ms.isna().any():
        i = int(np.flatnonzero(ms.isna())[0])
        raise ApiError(f"Polygon {timespan} bars of {ticker}: bar {i + 1} has no usable "
                       f"time (t={aggs[i].timestamp!r}); the answer was not used",
                       api="Polygon", status=200)
    when = ms_to_new_york(ms.to_numpy(dtype="int64")).as_unit("ns")
    if timespan == "day":
        when = when.normalize()
    values = {name: pd.to_numeric(pd.Series([getattr(a, name) for a in aggs], dtype=object),
                                  errors="coerce").to_numpy(dtype=float)
              for name in BAR_COLUMNS}
    frame = pd.DataFrame(values, index=pd.DatetimeIndex(when, name=index_name))
    frame = frame[~frame.reset_index().duplicated().to_numpy()].sort_index(kind="stable")
    if frame.index.has_duplicates:
        day = frame.index[frame.index.duplicated()][0]
        raise ApiError(f"Polygon {timespan} bars of {ticker}: two different bars for "
                       f"{day:%Y-%m-%d %H:%M} (New York); the answer was not used",
                       api="Polygon", status=200)
    return frame


def fetch_aggs(client, ticker: str, timespan: str, start, end, adjusted: bool = True
               ) -> pd.DataFrame:
    """Every ``timespan`` bar of ``ticker`` from ``start`` to ``end`` (inclusive), following
    ``next_url`` pages through the official client. The client follows ``next_url`` for
    as long as the server sends one, so a server repeating a page would be followed for
    ever: more bars than the range can hold stop it."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    per_day = 1 if timespan == "day" else 24 * 60
    most = 2 * per_day * ((end - start).days + 1) + 10
    aggs = []
    pages = client.list_aggs(ticker, 1, timespan, f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}",
                             adjusted=adjusted, sort="asc", limit=MAX_LIMIT)
    try:
        for agg in pages:
            aggs.append(agg)
            if len(aggs) > most:
                raise ApiError(f"Polygon sent more than {most} {timespan} bars of {ticker} "
                               f"for {start:%Y-%m-%d}..{end:%Y-%m-%d} (its next_url pages "
                               "repeat?); the answer was not used", api="Polygon", status=200)
    except (AttributeError, TypeError):  # the client's models met something not a bar list
        raise ApiError(f"Polygon answered the {timespan} bars of {ticker} with 'results' "
                       "that are not a list of bars; the answer was not used",
                       api="Polygon", status=200) from None
    return aggs_frame(aggs, timespan, ticker)


def check_bars(frame: pd.DataFrame, symbol: str, what: str = "daily bars") -> pd.DataFrame:
    """Refuse bars a backtest must not run on, naming the symbol and the first bad date."""
    if frame.index.has_duplicates:
        day = frame.index[frame.index.duplicated()][0]
        raise DataError(f"Polygon {what} for {symbol}: two bars for {day:%Y-%m-%d %H:%M}")
    prices = frame[["open", "high", "low", "close"]].to_numpy(dtype=float)
    bad = ~np.isfinite(prices).all(axis=1) | (prices <= 0).any(axis=1)
    bad |= frame["high"].to_numpy() < frame["low"].to_numpy()
    bad |= ~(frame["volume"].to_numpy(dtype=float) >= 0)
    if bad.any():
        day = frame.index[np.flatnonzero(bad)[0]]
        row = frame.loc[day, ["open", "high", "low", "close", "volume"]].to_dict()
        raise DataError(f"Polygon {what} for {symbol} on {day:%Y-%m-%d}: unusable bar {row} "
                        "(non-positive or missing price, high below low, or negative volume)")
    return frame


def year_chunks(start, end) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Calendar-year pieces of [start, end]: whole years, except the last one stops at
    ``end`` (callers pass the last complete session there)."""
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    out = []
    for year in range(start.year, end.year + 1):
        lo, hi = pd.Timestamp(year, 1, 1), min(pd.Timestamp(year, 12, 31), end)
        if lo <= hi:
            out.append((lo, hi))
    return out


def span(lo, hi) -> str:
    """The date-range part of a cache key."""
    return f"{pd.Timestamp(lo):%Y-%m-%d}_{pd.Timestamp(hi):%Y-%m-%d}"


class ChunkStore:
    """Cache-or-fetch for one chunk at a time: memory first, then the Parquet cache, then the
    API. Counts what it fetched and what it found, for progress lines and tests."""

    def __init__(self, cache: ParquetCache | None):
        self.cache = cache
        self._memo: dict[tuple, pd.DataFrame] = {}
        self.fetched = 0
        self.from_cache = 0

    def has(self, key: tuple) -> bool:
        return key in self._memo or (self.cache is not None and
                                     self.cache.path_for(key).exists())

    def get(self, key: tuple, fetch: Callable[[], pd.DataFrame],
            keep: Callable[[pd.DataFrame], bool] = lambda frame: True,
            columns: Sequence[str] = (), dated: bool = False) -> pd.DataFrame:
        """The chunk under ``key``; ``keep(frame)`` decides whether a fetched frame is
        stored (an empty answer for a stock may be a typo, not worth remembering). A cached
        file without ``columns`` (or, ``dated``, without a date index) holds other data
        than this chunk (another file put in its place): it is fetched again, never read
        as this chunk or left to crash the code that reads it."""
        frame = self._memo.get(key)
        if frame is not None:
            return frame
        if self.cache is not None:
            frame = self.cache.load(key)
            if frame is not None and self._fits(key, frame, columns, dated):
                self.from_cache += 1
                self._memo[key] = frame
                return frame
        frame = fetch()
        self.fetched += 1
        if keep(frame):
            if self.cache is not None:
                self.cache.save(key, frame)
            self._memo[key] = frame
        return frame

    def _fits(self, key: tuple, frame: pd.DataFrame, columns: Sequence[str],
              dated: bool) -> bool:
        missing = [c for c in columns if c not in frame.columns]
        if missing or (dated and not isinstance(frame.index, pd.DatetimeIndex)):
            what = f"no {missing[0]} column" if missing else "no date index"
            log.warning("cache file %s holds other data (%s); fetching it again",
                        self.cache.path_for(key), what)
            return False
        return True


def daily_bars(store: ChunkStore, client, symbol: str, start, end, *, adjusted: bool = True,
               through=None, on_chunk: Callable[[], None] | None = None) -> pd.DataFrame:
    """Daily bars of ``symbol`` from ``start`` to ``end``, a cached chunk per year. The
    chunks run to the end of their year or to ``through`` (the last complete session),
    whichever comes first, not to ``end``: runs ending on other days of a year then share
    its file (one request fetches a year either way)."""
    dataset = "stocks-day-adjusted" if adjusted else "stocks-day-raw"
    pieces = []
    last = pd.Timestamp(end) if through is None else pd.Timestamp(through)
    last = max(last, pd.Timestamp(end))
    chunks = year_chunks(start, last)
    chunks = [(lo, hi) for lo, hi in chunks if lo <= pd.Timestamp(end)]
    for lo, hi in chunks:
        key = ("polygon", dataset, symbol, span(lo, hi))
        pieces.append(store.get(key, lambda lo=lo, hi=hi: fetch_aggs(
            client, symbol, "day", lo, hi, adjusted), keep=lambda f: not f.empty,
            columns=OHLCV, dated=True))
        if on_chunk is not None:
            on_chunk()
    frame = pd.concat(pieces) if pieces else aggs_frame([], "day")
    # a bar two chunks both sent is kept once; two different ones stop in check_bars
    frame = frame[~frame.reset_index().duplicated().to_numpy()].sort_index(kind="stable")
    frame = frame.loc[(frame.index >= pd.Timestamp(start)) & (frame.index <= pd.Timestamp(end))]
    return check_bars(frame, symbol)


def minute_bars(store: ChunkStore, client, symbol: str, start, end) -> pd.DataFrame:
    """Minute bars (split-adjusted) of ``symbol`` for the sessions from ``start`` to ``end``,
    a cached chunk per session, indexed by New York time."""
    pieces = []
    for day in sessions(start, end):
        key = ("polygon", "stocks-minute-adjusted", symbol, span(day, day))
        pieces.append(store.get(key, lambda day=day: fetch_aggs(
            client, symbol, "minute", day, day, True), columns=OHLCV, dated=True))
    frame = pd.concat(pieces) if pieces else aggs_frame([], "minute")
    if frame.empty:
        raise DataError(f"Polygon has no minute bars for {symbol} between "
                        f"{pd.Timestamp(start):%Y-%m-%d} and {pd.Timestamp(end):%Y-%m-%d}")
    return check_bars(frame.sort_index(), symbol, "minute bars")
