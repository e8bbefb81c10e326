"""What an ml-trading run needs, filled once from the command line (``cli.ml_trading``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from brokers.ib_store import StoreSettings
from core.errors import DataError
from strategies import EquityConfig

MODES = ("premarket", "trading", "backtest")
#: the daily-bar sources (``ib`` serves minute bars only, the trading mode's)
DAILY_SOURCES = ("auto", "sample", "bundled", "csv", "polygon")
#: the backtest's window when no --start-date is given: this many days before the end
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class MLTradingSettings:
    """One run of one mode over some symbols. ``model`` is the DirectionConfig every
    symbol's model is made with (``models.direction_model.make_direction_config``)."""

    mode: str
    symbols: tuple[str, ...]
    model: object
    start_date: pd.Timestamp | None = None
    end_date: pd.Timestamp | None = None
    #: auto, a daily source, or ib (the trading mode's minute bars)
    source: str = "auto"
    #: with ``source="ib"``: where the daily history comes from
    history_source: str = "auto"
    csv: Path | None = None
    free: bool = False
    seed: int = 42
    cache_dir: Path | None = None
    #: with ``source="ib"``: the TWS/Gateway connection (host, port, clientId, waits)
    ib: StoreSettings = field(default_factory=StoreSettings)
    models_dir: Path = Path("Trained_Models")
    retrain: bool = False
    #: backtest: the account and the equity strategy's rules
    cash: float = 100_000.0
    commission: float = 0.0005
    equity: EquityConfig = field(default_factory=EquityConfig)
    #: backtest: direction models trained per symbol, with the config's seed and the next
    #: ones, for the walk-forward table's mean +- std (the first one trades)
    seeds: int = 1
    #: backtest: the report folder; premarket/trading: the folder of the signal files
    report: Path | None = None
    no_report: bool = False
    quiet: bool = False

    def __post_init__(self):
        if self.seeds < 1:
            raise DataError(f"seeds must be at least 1 (--seeds {self.seeds}): the backtest "
                            "trades the first seed's model")
        self._check_dates()

    def _check_dates(self) -> None:
        """Windows no source can serve, refused before any symbol is read: no NYSE session
        between the two dates of a backtest, an IB replay of a day IB has no bars of (the
        future, or outside the exchange calendar)."""
        from engine.ml_trading.sources import today
        from feeds.calendar import nyse, sessions

        calendar = nyse()
        first = calendar.first_session.tz_localize(None) + pd.Timedelta(days=10)
        last = calendar.last_session.tz_localize(None)
        end = self.end_date
        if self.source == "ib" and end is not None:  # the replay's session is end's
            if not first <= end <= last:
                raise DataError(f"--end-date {end:%Y-%m-%d} is outside the NYSE calendar this "
                                f"tool knows ({first:%Y-%m-%d} to {last:%Y-%m-%d}), which "
                                "the IB replay's session comes from")
            if end > today():
                raise DataError(f"--end-date {end:%Y-%m-%d} is in the future: IB has no "
                                f"minute bars of it (today is {today():%Y-%m-%d} in New York)")
        days = [day for day in (self.start_date, end) if day is not None]
        if self.mode == "backtest" and len(days) == 2 and days[0] <= days[1] and all(
                first <= day <= last for day in days) and not len(sessions(*days)):
            raise DataError(f"no NYSE session from --start-date {days[0]:%Y-%m-%d} to "
                            f"--end-date {days[1]:%Y-%m-%d} (weekend or holidays)")
