"""Real daily data that ships offline inside the ``arch`` package (NCSA licence).

* ``SP500``: S&P 500 index OHLCV, 1999-01-04..2018-12-31 (aliases SPX, ^GSPC);
* ``NASDAQ``: NASDAQ Composite OHLCV, same span (aliases COMP, ^IXIC);
* the option chain's 30-day volatility is the VIX close for SP500 where it exists
  (2014-01-03..2018-12-31), otherwise a stated estimate (EWMA realized volatility x 1.15);
* the risk-free rate is the Fama-French one-month T-bill rate, annualised (monthly x 12).

Index levels are real; option quotes on them are priced by the model in ``feeds.chain``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import DataError
from feeds.base import OHLCV, MarketSource, bars_between
from feeds.cache import ParquetCache
from feeds.chain import ModelledChains, OptionChain
from feeds.volatility import implied_volatility_estimate

BUNDLED_VERSION = 1
ALIASES = {"SPX": "SP500", "^GSPC": "SP500", "GSPC": "SP500",
           "COMP": "NASDAQ", "^IXIC": "NASDAQ", "IXIC": "NASDAQ"}


def treasury_bill_rate() -> pd.Series:
    """Monthly one-month T-bill rate (annualised decimal) indexed by month start.

    arch's loader reads the YYYYMM index as nanoseconds since 1970; the integers are intact,
    so they are read back as year and month here."""
    from arch.data import frenchdata

    raw = frenchdata.load()
    yyyymm = raw.index.asi8
    months = pd.to_datetime({"year": yyyymm // 100, "month": yyyymm % 100, "day": 1})
    return pd.Series(raw["RF"].to_numpy() / 100.0 * 12.0, index=pd.DatetimeIndex(months))


def _load_index(name: str) -> pd.DataFrame:
    from arch.data import nasdaq, sp500

    raw = {"SP500": sp500, "NASDAQ": nasdaq}[name].load()
    frame = raw.rename(columns=str.lower)[["open", "high", "low", "close", "volume"]].astype(float)
    frame.index = pd.DatetimeIndex(raw.index).tz_localize(None).normalize()
    frame.index.name = "date"
    return frame


class BundledMarket(ModelledChains, MarketSource):
    """SP500 and NASDAQ daily bars from ``arch.data``, with modelled option chains."""

    name = "bundled"

    def __init__(self, cache: ParquetCache | None = None, seed: int = 7):
        self.cache = cache
        self.seed = seed
        self._frames: dict[str, pd.DataFrame] = {}
        self._chains: dict[str, OptionChain] = {}

    def symbols(self) -> list[str]:
        return ["SP500", "NASDAQ"]

    def describe(self) -> str:
        return ("bundled: real S&P 500 / NASDAQ Composite daily bars 1999-2018 (arch.data); "
                "option chains priced by model from VIX or realized volatility")

    def check_symbol(self, symbol: str) -> str:
        return super().check_symbol(ALIASES.get(symbol.upper(), symbol.upper()))

    def bars(self, symbol: str, start=None, end=None) -> pd.DataFrame:
        symbol = self.check_symbol(symbol)
        if symbol not in self._frames:
            key = ("bundled", f"v{BUNDLED_VERSION}", symbol)
            build = lambda: self._build(symbol)  # noqa: E731
            self._frames[symbol] = (self.cache.load_or_build(key, build, OHLCV)
                                    if self.cache else build())
        return bars_between(self._frames[symbol], start, end,
                            f"bundled data has no {symbol} bars")

    def _build(self, symbol: str) -> pd.DataFrame:
        from arch.data import vix

        frame = _load_index(symbol)
        estimate = implied_volatility_estimate(frame["close"])
        if symbol == "SP500":
            vix_close = vix.load()["vix"]
            vix_close.index = pd.DatetimeIndex(vix_close.index).tz_localize(None).normalize()
            quoted = vix_close.reindex(frame.index) / 100.0
            frame["atm_iv"] = quoted.where(quoted.notna(), estimate)
        else:
            frame["atm_iv"] = estimate
        rate = treasury_bill_rate()
        month_start = frame.index.to_period("M").to_timestamp()
        frame["risk_free_rate"] = rate.reindex(month_start).to_numpy()
        frame["risk_free_rate"] = frame["risk_free_rate"].ffill()
        frame["iv_skew"] = 0.10
        if not np.isfinite(frame["risk_free_rate"]).all():
            raise DataError(f"bundled T-bill rate does not cover every {symbol} bar")
        return frame
