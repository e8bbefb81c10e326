"""The daily source serving each symbol of an ml-trading run, and the history read from it."""

from __future__ import annotations

import pandas as pd

from core.domain import TRADING_DAYS
from engine.ml_trading.outcome import Notes
from engine.ml_trading.settings import DEFAULT_DAYS, MLTradingSettings


class Sources:
    """The source serving each symbol. ``auto``: Polygon when a key is set, else bundled
    real data for the symbols it has and the sample market for the others."""

    def __init__(self, settings: MLTradingSettings):
        from feeds.cache import ParquetCache

        self.settings, self._made = settings, {}
        self.cache = ParquetCache(settings.cache_dir)
        self.auto_polygon = False
        #: the daily source: --history-source when the minutes come from IB
        self.daily = settings.history_source if settings.source == "ib" else settings.source
        if self.daily == "auto":
            from feeds.secrets import polygon_key

            self.auto_polygon = bool(polygon_key())

    def name_for(self, symbol: str) -> str:
        if self.daily != "auto":
            return self.daily
        if self.auto_polygon:
            return "polygon"
        from feeds.bundled import ALIASES, BundledMarket

        bundled = set(BundledMarket().symbols()) | set(ALIASES)
        return "bundled" if symbol.upper() in bundled else "sample"

    def describe(self, name: str) -> str:
        return self.get(name).describe()

    def get(self, name: str):
        if name not in self._made:
            from feeds.sources import make_source

            s = self.settings
            self._made[name] = make_source(name, seed=s.seed, cache=self.cache,
                                           csv_path=s.csv, free=s.free)
        return self._made[name]


def today() -> pd.Timestamp:
    """Today's date in New York (the exchange's), without a time zone."""
    return pd.Timestamp.now(tz="America/New_York").tz_localize(None).normalize()


def load_history(source, symbol: str, end: pd.Timestamp, config) -> pd.DataFrame:
    """Daily bars up to ``end``: all a local source has; from Polygon, enough for the
    model's training window (``max_train_bars`` after its warm-up) and then some."""
    start = None
    if source.name == "polygon" and config.max_train_bars:
        from models.direction_model import DirectionModel

        sessions = config.max_train_bars + DirectionModel(config).warmup_bars + 2 * DEFAULT_DAYS
        start = end - pd.Timedelta(days=int(sessions * 365 / TRADING_DAYS) + 30)
    return source.bars(symbol, start, end)


def data_end(settings: MLTradingSettings, bars: pd.DataFrame, source, symbol: str,
             notes: Notes) -> pd.Timestamp:
    """The last bar on or before the requested end (default today), noted when the data
    stops before the last session up to that end (not for a weekend or holiday end)."""
    from feeds.calendar import CALENDAR_END, sessions

    wanted, last = settings.end_date or today(), bars.index[-1]
    if len(sessions(last + pd.Timedelta(days=1), min(wanted, pd.Timestamp(CALENDAR_END)))):
        asked = (f"--end-date {wanted:%Y-%m-%d}" if settings.end_date
                 else f"today ({wanted:%Y-%m-%d})")
        window = (f"; the backtest covers the last {DEFAULT_DAYS} days it has"
                  if settings.mode == "backtest" and not settings.start_date else "")
        notes.add(f"{source.name} data ends {last:%Y-%m-%d}, before {asked}: ending there"
                  + window, symbol)
    return last
