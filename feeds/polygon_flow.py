"""The options-flow columns of Polygon bars: real ones from Unusual Whales, or, without an
``UNUSUAL_WHALES_API_KEY``, the simulated sample market's, and the run says which.

Both give the flow columns of ``feeds.base.EXTRA_COLUMNS`` (``FLOW_COLUMNS``) aligned to the
bars' sessions. Unusual Whales adds its own columns beside them (``feeds.unusual_whales``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from feeds.cache import ParquetCache

log = logging.getLogger(__name__)

FLOW_COLUMNS = ("call_volume", "put_volume", "put_call_ratio", "option_volume_ratio",
                "call_premium", "put_premium", "unusual_score", "dark_pool_ratio",
                "open_interest")


class SampleFlow:
    """The flow columns of the seeded sample market, joined by date onto real bars.

    They are simulated (drawn from the sample market's hidden regimes, not from these
    prices); ``describe`` and a warning say so, never silently."""

    def __init__(self, seed: int = 42, cache: ParquetCache | None = None):
        self.seed, self.cache = seed, cache
        self._market = None
        self._warned = False

    def describe(self) -> str:
        return (f"options-flow columns SIMULATED by the sample market (seed {self.seed}): no "
                "UNUSUAL_WHALES_API_KEY set")

    def columns(self, symbol: str, bars: pd.DataFrame) -> pd.DataFrame:
        from feeds.sample_market import SampleMarket

        if not self._warned:
            log.warning("flow columns: %s", self.describe())
            self._warned = True
        if self._market is None:
            self._market = SampleMarket(seed=self.seed, cache=self.cache)
        if symbol not in self._market.symbols():
            log.warning("flow columns: the sample market has no %s either; they stay NaN",
                        symbol)
            return pd.DataFrame(index=bars.index, columns=list(FLOW_COLUMNS), dtype=float)
        sample = self._market.bars(symbol)
        return sample.reindex(bars.index)[list(FLOW_COLUMNS)]


# ---------------------------------------------------------------------------------------
# Unusual Whales: daily features, joined without lookahead
# ---------------------------------------------------------------------------------------

#: a dark-pool print is a block at 10,000 shares or $200,000 (the usual definition)
BLOCK_SHARES, BLOCK_PREMIUM = 10_000, 200_000.0
#: sessions of history the "unusual" score and the volume ratio compare a day with
TRAILING = 20
FLOW_SESSIONS_ENV = "UNUSUAL_WHALES_FLOW_SESSIONS"
#: per-day endpoints (flow alerts, dark pool, market tide) are fetched for this many
#: sessions before the end of the bars: three requests a session
DEFAULT_FLOW_SESSIONS = 126
UW_COLUMNS = (*FLOW_COLUMNS, "bullish_premium", "bearish_premium", "flow_alert_count",
              "flow_alert_premium", "dark_pool_volume", "block_trade_ratio",
              "insider_net_buying", "market_tide")
#: columns that add up when two days land on one session (a weekend filing, say)
_ADDITIVE = ("call_volume", "put_volume", "call_premium", "put_premium", "bullish_premium",
             "bearish_premium", "flow_alert_count", "flow_alert_premium", "dark_pool_volume",
             "insider_net_buying")
NY = "America/New_York"
#: columns every cached answer of an endpoint has (a file without them is fetched again)
ENDPOINT_COLUMNS = {
    "options-volume": ("date", "call_volume", "put_volume"),
    "insider-buy-sells": ("filing_date", "purchases_notional", "sells_notional"),
    "flow-alerts": ("created_at", "total_premium"),
    "darkpool": ("size", "premium", "canceled"),
    "market-tide": ("timestamp", "net_call_premium", "net_put_premium"),
}


def available_from(daily: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Values dated by day D (published after D's close) moved to the first session after D,
    aligned to ``index``: the no-lookahead rule of every flow feature."""
    from feeds.calendar import sessions

    if daily.empty:
        return pd.DataFrame(index=index, columns=daily.columns, dtype=float)
    days = pd.DatetimeIndex(daily.index).normalize()
    calendar = sessions(days.min(), max(days.max(), index.max()) + pd.Timedelta(days=10))
    position = calendar.searchsorted(days, side="right")
    valid = position < len(calendar)
    moved = daily[valid].copy()
    moved.index = calendar[position[valid]]
    groups = moved.groupby(level=0)
    additive = [c for c in moved.columns if c in _ADDITIVE]
    out = groups.last()  # the latest value of levels and ratios
    if additive:  # counts and amounts add up; all-missing stays missing
        out[additive] = groups[additive].sum(min_count=1)
    return out.reindex(index)


def options_volume_features(volume: pd.DataFrame) -> pd.DataFrame:
    """Daily options features by trading date from ``/options-volume`` rows."""
    frame = volume.set_index("date").sort_index()
    frame = frame[~frame.index.duplicated(keep="last")]
    total = frame["call_volume"] + frame["put_volume"]
    log_total = np.log(total.clip(lower=1.0))
    past = log_total.shift(1).rolling(TRAILING, min_periods=5)
    return pd.DataFrame({
        "call_volume": frame["call_volume"], "put_volume": frame["put_volume"],
        "put_call_ratio": frame["put_volume"] / frame["call_volume"].where(
            frame["call_volume"] > 0),
        "option_volume_ratio": total / total.shift(1).rolling(TRAILING, min_periods=1).mean(),
        "call_premium": frame["call_premium"], "put_premium": frame["put_premium"],
        "bullish_premium": frame["bullish_premium"], "bearish_premium": frame["bearish_premium"],
        "unusual_score": ((log_total - past.mean()) / past.std()).clip(lower=0.0),
        "open_interest": frame["call_open_interest"] + frame["put_open_interest"],
    })


def _new_york_date(stamps: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(stamps).tz_convert(NY).tz_localize(None).normalize()


def flow_alert_features(alerts: dict[pd.Timestamp, pd.DataFrame]) -> pd.DataFrame:
    """Count and total premium of the flow alerts of each fetched day (0 when none)."""
    rows = {}
    for day, frame in alerts.items():
        same = frame[_new_york_date(frame["created_at"]) == day] if len(frame) else frame
        rows[day] = {"flow_alert_count": float(len(same)),
                     "flow_alert_premium": float(same["total_premium"].sum())}
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def darkpool_features(prints: dict[pd.Timestamp, pd.DataFrame],
                      share_volume: pd.Series) -> pd.DataFrame:
    """Dark-pool volume, its share of the day's volume and the block-trade share per day."""
    rows = {}
    for day, frame in prints.items():
        frame = frame[~frame["canceled"]] if len(frame) else frame
        size = frame["size"].fillna(0.0) if len(frame) else pd.Series(dtype=float)
        block = (size >= BLOCK_SHARES) | (frame["premium"] >= BLOCK_PREMIUM) if len(frame) \
            else size.astype(bool)
        volume = float(size.sum())
        shares = float(share_volume.get(day, np.nan))
        rows[day] = {"dark_pool_volume": volume,
                     "dark_pool_ratio": volume / shares if shares > 0 else np.nan,
                     "block_trade_ratio": float(size[block].sum()) / volume if volume > 0
                     else np.nan}
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def insider_features(filings: pd.DataFrame) -> pd.DataFrame:
    """Net insider buying (purchases minus sales, dollars) by filing date."""
    if filings.empty:
        return pd.DataFrame(columns=["insider_net_buying"], dtype=float)
    net = filings["purchases_notional"].fillna(0.0) - filings["sells_notional"].abs().fillna(0.0)
    return pd.DataFrame({"insider_net_buying": net.to_numpy()},
                        index=pd.DatetimeIndex(filings["filing_date"])).groupby(level=0).sum()


def tide_features(tides: dict[pd.Timestamp, pd.DataFrame]) -> pd.DataFrame:
    """Market tide at the day's last reading: net call premium minus net put premium."""
    rows = {day: {"market_tide": float(f["net_call_premium"].iloc[-1]
                                       - f["net_put_premium"].iloc[-1]) if len(f) else np.nan}
            for day, f in tides.items()}
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


class UnusualWhalesFlow:
    """Real options-flow columns from Unusual Whales (see the module doc of
    ``feeds.unusual_whales`` for the client, and ``available_from`` for the join)."""

    def __init__(self, client, cache: ParquetCache | None = None,
                 flow_sessions: int = DEFAULT_FLOW_SESSIONS, now: pd.Timestamp | None = None):
        from feeds.polygon_aggs import ChunkStore, last_complete_session

        self.client = client
        self.cache = cache
        self.store = ChunkStore(cache)
        self.flow_sessions = flow_sessions
        self.last_complete = last_complete_session(now)
        #: a progress bar per endpoint on stderr while the per-day requests run (``data
        #: fetch`` turns it on: three endpoints a session, paced, are minutes on a cold cache)
        self.progress = False

    @classmethod
    def from_environment(cls, api_key: str, *, cache: ParquetCache | None = None, env=None,
                         **options) -> UnusualWhalesFlow:
        """Base URL, rate limit and per-day window from ``UNUSUAL_WHALES_API_BASE``,
        ``UNUSUAL_WHALES_RATE_LIMIT`` and ``UNUSUAL_WHALES_FLOW_SESSIONS``."""
        import os

        from core.errors import DataError
        from feeds.unusual_whales import (
            UnusualWhalesClient,
            unusual_whales_base,
            unusual_whales_limiter,
        )

        env = os.environ if env is None else env
        client = UnusualWhalesClient(api_key, base=unusual_whales_base(env),
                                     limiter=unusual_whales_limiter(env))
        text = env.get(FLOW_SESSIONS_ENV) or str(DEFAULT_FLOW_SESSIONS)
        if not text.isdigit():
            raise DataError(f"{FLOW_SESSIONS_ENV} must be a whole number of sessions, got "
                            f"{text!r}")
        return cls(client, cache=cache, flow_sessions=int(text), **options)

    def recent_sessions(self) -> pd.DatetimeIndex:
        """The sessions the per-day endpoints are asked for: the ``flow_sessions`` before
        the last complete one (whose values join on the next session), whatever bars are
        asked for. Counted back from the bars'
        end instead, a bar's flow columns depended on where its data ended (a backtest, a
        training run and premarket scoring saw different values for the same day)."""
        from feeds.calendar import CALENDAR_START, sessions

        if self.flow_sessions <= 0:
            return pd.DatetimeIndex([])
        back = self.last_complete - pd.Timedelta(days=2 * self.flow_sessions + 14)
        days = sessions(max(back, pd.Timestamp(CALENDAR_START)), self.last_complete)
        return days[-self.flow_sessions - 1:-1]  # the last one's values join after it

    @property
    def requests(self) -> int:
        return self.client.requests

    def describe(self) -> str:
        return (f"options-flow columns from Unusual Whales (each day's values from the next "
                f"session on; flow alerts, dark pool and market tide for the last "
                f"{self.flow_sessions} sessions before today)")

    def _whole(self, name: str, ticker: str, fetch) -> pd.DataFrame:
        """An endpoint answering all its history at once: cached per last complete session,
        so it is asked again only once a newer session exists."""
        key = ("unusual_whales", name, ticker, f"through-{self.last_complete:%Y-%m-%d}")
        return self.store.get(key, fetch, columns=ENDPOINT_COLUMNS[name])

    def _per_day(self, name: str, ticker: str, days, fetch) -> dict:
        import sys

        from tqdm import tqdm

        bar = tqdm(days, desc=f"{ticker} {name} (Unusual Whales)", unit="day", leave=False,
                   file=sys.stderr, disable=not self.progress)
        return {day: self.store.get(("unusual_whales", name, ticker, f"{day:%Y-%m-%d}"),
                                    lambda day=day: fetch(day),
                                    columns=ENDPOINT_COLUMNS[name]) for day in bar}

    def columns(self, symbol: str, bars: pd.DataFrame) -> pd.DataFrame:
        """The UW columns on the sessions of ``bars`` (NaN where UW has no data)."""
        c = self.client
        index = bars.index
        volume = self._whole("options-volume", symbol, lambda: c.options_volume(symbol))
        insider = self._whole("insider-buy-sells", symbol, lambda: c.insider_buy_sells(symbol))
        recent = self.recent_sessions()
        # the last bar's day is not asked: its values would join after the bars end
        days = [d for d in index[:-1] if d in recent]

        def alerts_on(day):
            start = pd.Timestamp(day).tz_localize(NY).tz_convert("UTC")
            return c.flow_alerts(symbol, start, start + pd.Timedelta(days=1))

        daily = pd.concat([
            options_volume_features(volume),
            flow_alert_features(self._per_day("flow-alerts", symbol, days, alerts_on)),
            darkpool_features(self._per_day("darkpool", symbol, days,
                                            lambda day: c.darkpool(symbol, day)),
                              bars["volume"]),
            tide_features(self._per_day("market-tide", "market", days, c.market_tide)),
        ], axis=1)
        joined = available_from(daily, index)
        insider_net = available_from(insider_features(insider), index)["insider_net_buying"]
        joined["insider_net_buying"] = insider_net.fillna(0.0)
        return joined.reindex(columns=list(UW_COLUMNS))
