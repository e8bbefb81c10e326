"""Option chains for backtests from Polygon: listed contracts plus their daily bars, in the
same per-date frame the modelled chains give (``feeds.chain.CHAIN_COLUMNS``), so the
options broker and the strategies run on it unchanged.

What is fetched, lazily, one date at a time, everything cached:

* ``chain(date)`` asks ``/v3/reference/options/contracts`` for the contracts listed **as of
  that date** (no contract from the future) with expiries in the DTE window strategies trade
  (``ChainWindow``, default 30-45 days, keeping the ``expiries`` closest to the window's
  middle, which is the one the spread broker picks) and strikes near the money: within
  ``band_sd`` standard deviations (the causal EWMA volatility estimate over ``dte_max``),
  on the round strike grid of ``pricing.contracts.strike_step`` (as the modelled chains), and only
  out of or at the money (puts at or below spot + one step, calls at or above spot - one
  step: what credit spreads sell and buy).
* each contract's daily bars come from ``/v2/aggs/ticker/O:.../range/1/day/...`` once, over
  the span it can be traded in by the window (``dte_max`` + 7 days before expiry to expiry),
  so a later date or a later run reuses the same file.

How a quote is made from a daily bar, the stated model:

* ``mid`` is the bar's close (the last trade of the day; it can be earlier than the
  underlying's close, which is what the inversion pairs it with);
* ``iv`` is the Black-Scholes volatility of that price (vectorised inversion,
  ``pricing.implied_vol``) with the underlying's unadjusted close, the Treasury rate for the
  option's horizon (``feeds.polygon_fed``) and no dividends; the greeks follow from it;
* a contract without a usable trade that day (no bar, or a price outside the no-arbitrage
  bounds) keeps its own last implied volatility, repriced with today's spot and time; one
  that never traded yet takes the volatility interpolated across that day's traded strikes
  of the same expiry, else the EWMA estimate (realized x 1.15). Only the past is used;
* bid/ask: daily aggregates carry no quotes, so they sit half a spread either side of mid,
  the spread being 5 % of mid kept between $0.02 and $1.00, rounded outwards to the cent;
* ``volume`` is the bar's volume (0 without a bar); ``open_interest`` is not in aggregates
  and stays NaN.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataError
from feeds.chain import CHAIN_COLUMNS
from feeds.polygon_aggs import ChunkStore, fetch_aggs, span
from feeds.polygon_fed import RateCurve
from feeds.rate_limit import ApiError
from feeds.volatility import implied_volatility_estimate
from pricing.black_scholes import black_scholes_greeks, black_scholes_price
from pricing.contracts import strike_step
from pricing.implied_vol import implied_volatility

SPREAD_SHARE, MIN_SPREAD, MAX_SPREAD = 0.05, 0.02, 1.00


@dataclass(frozen=True)
class ChainWindow:
    """Which contracts a backtest chain fetches (each contract costs one request)."""

    #: days to expiry of the expiries considered (the credit-spread defaults)
    dte_min: int = 30
    dte_max: int = 45
    #: how many of them to keep, the closest to the middle of the window first
    expiries: int = 1
    #: strikes within this many standard deviations of the spot (over dte_max)
    band_sd: float = 2.0
    min_band: float = 0.03
    max_band: float = 0.30


def polygon_ticker(root: str, expiry, right: str, strike: float) -> str:
    """Polygon's option ticker, ``O:`` + OCC symbol, e.g. ``O:SPY240216P00470000``."""
    return f"O:{root}{pd.Timestamp(expiry):%y%m%d}{right}{int(round(strike * 1000)):08d}"


def quote_spread(mid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask around ``mid`` by the stated spread model (module doc)."""
    half = 0.5 * np.clip(SPREAD_SHARE * mid, MIN_SPREAD, MAX_SPREAD)
    bid = np.maximum(np.floor((mid - half) * 100.0 + 1e-9) / 100.0, 0.0)
    ask = np.ceil((mid + half) * 100.0 - 1e-9) / 100.0
    return bid, ask


class OptionData:
    """Contracts and option bars of one underlying through the cache (module doc)."""

    def __init__(self, client, store: ChunkStore, underlying: str, last_complete: pd.Timestamp,
                 window: ChainWindow):
        self.client, self.store = client, store
        self.underlying, self.last_complete, self.window = underlying, last_complete, window

    def contracts(self, as_of: pd.Timestamp, expiry_lo, expiry_hi, strike_lo: float,
                  strike_hi: float) -> pd.DataFrame:
        """Contracts listed on ``as_of`` in the expiry and strike ranges."""
        expiry_lo, expiry_hi = pd.Timestamp(expiry_lo), pd.Timestamp(expiry_hi)
        part = (f"{as_of:%Y-%m-%d}_exp{span(expiry_lo, expiry_hi)}"
                f"_strike{strike_lo:.2f}-{strike_hi:.2f}")
        key = ("polygon", "options-contracts", self.underlying, part)
        return self.store.get(key, lambda: self._fetch_contracts(
            as_of, expiry_lo, expiry_hi, strike_lo, strike_hi),
            columns=("ticker", "expiry", "strike", "right"))

    def _fetch_contracts(self, as_of, expiry_lo, expiry_hi, strike_lo, strike_hi):
        # Polygon lists contracts that have expired since only with expired=true
        pieces = []
        if expiry_lo <= self.last_complete:
            pieces.append((True, expiry_lo, min(expiry_hi, self.last_complete)))
        if expiry_hi > self.last_complete:
            pieces.append((False, max(expiry_lo, self.last_complete + pd.Timedelta(days=1)),
                           expiry_hi))
        rows = []
        for expired, lo, hi in pieces:
            # adjusted contracts (after splits or mergers: not 100 shares of the underlying
            # alone) are priced differently and left out
            rows += [(c.ticker, c.expiration_date, c.strike_price, c.contract_type)
                     for c in self.client.list_options_contracts(
                         underlying_ticker=self.underlying, as_of=f"{as_of:%Y-%m-%d}",
                         expiration_date_gte=f"{lo:%Y-%m-%d}",
                         expiration_date_lte=f"{hi:%Y-%m-%d}",
                         strike_price_gte=round(strike_lo, 2),
                         strike_price_lte=round(strike_hi, 2), expired=expired, limit=1000,
                         sort="ticker")
                     if c.shares_per_contract in (None, 100) and not c.additional_underlyings]
        frame = pd.DataFrame(rows, columns=["ticker", "expiry", "strike", "type"])
        frame = frame[frame["type"].isin(["call", "put"])].drop_duplicates("ticker")
        out = pd.DataFrame({
            "ticker": frame["ticker"],
            "expiry": pd.to_datetime(frame["expiry"], errors="coerce", format="%Y-%m-%d"),
            "strike": pd.to_numeric(frame["strike"], errors="coerce"),
            "right": np.where(frame["type"] == "call", "C", "P"),
        }).reset_index(drop=True)
        bad = ~out["ticker"].map(lambda t: isinstance(t, str) and t.startswith("O:"))
        bad |= out["expiry"].isna() | ~(out["strike"] > 0)
        if bad.any():  # a contract that cannot be named, dated or priced
            row = frame.iloc[int(np.flatnonzero(bad.to_numpy())[0])].to_dict()
            raise ApiError(f"Polygon listed a {self.underlying} option contract on "
                           f"{as_of:%Y-%m-%d} without a usable ticker, expiration_date or "
                           f"strike_price ({row}); the answer was not used",
                           api="Polygon", status=200)
        return out.astype({"ticker": str, "strike": float})

    def bars(self, ticker: str, expiry: pd.Timestamp) -> pd.DataFrame:
        """Daily bars of one contract over the span the window can trade it."""
        lo = expiry - pd.Timedelta(days=self.window.dte_max + 7)
        hi = min(expiry, self.last_complete)
        if hi < lo:
            return pd.DataFrame(columns=["close", "volume"], dtype=float)
        key = ("polygon", "options-day", self.underlying, ticker.replace(":", "_"), span(lo, hi))
        return self.store.get(key, lambda: fetch_aggs(self.client, ticker, "day", lo, hi, True)
                              [["close", "volume"]], columns=("close", "volume"), dated=True)


class PolygonOptionChain:
    """Per-date chains of one underlying (the interface of ``feeds.chain.OptionChain``:
    ``bars``, ``has_date``, ``chain``, ``quote``)."""

    def __init__(self, symbol: str, bars: pd.DataFrame, data: OptionData, rates: RateCurve,
                 window: ChainWindow | None = None, cache_size: int = 64):
        self.symbol = symbol
        #: unadjusted daily bars: strikes are in the prices of their day
        self.bars = bars
        self.data, self.rates = data, rates
        self.window = window or data.window
        self.vol_estimate = implied_volatility_estimate(bars["close"])
        self._chains: OrderedDict = OrderedDict()
        self._cache_size = cache_size
        self._contract_iv: dict[str, pd.Series] = {}
        self._expiry_of: dict[str, pd.Timestamp] = {}
        #: rows priced from a trade that day vs by the fallbacks (module doc)
        self.priced_from_trades = 0
        self.priced_by_fallback = 0

    def has_date(self, date) -> bool:
        return pd.Timestamp(date) in self.bars.index

    def _spot(self, day: pd.Timestamp) -> float:
        if day not in self.bars.index:
            raise KeyError(f"no bar for {self.symbol} on {day:%Y-%m-%d}: no option chain "
                           "that day")
        return float(self.bars.at[day, "close"])

    # ------------------------------------------------------------------ contracts
    def listing(self, date) -> pd.DataFrame:
        """The contracts ``chain(date)`` prices (see the module doc for the selection)."""
        day = pd.Timestamp(date)
        spot, w = self._spot(day), self.window
        sigma = float(self.vol_estimate.loc[day])
        step = strike_step(spot)
        band = w.band_sd * sigma * np.sqrt(w.dte_max / 365.0) + 2 * step / spot
        band = float(np.clip(band, w.min_band, w.max_band))
        listed = self.data.contracts(day, day + pd.Timedelta(days=w.dte_min),
                                     day + pd.Timedelta(days=w.dte_max),
                                     spot * (1 - band), spot * (1 + band))
        if listed.empty:
            raise DataError(f"Polygon lists no {self.symbol} option contracts on {day:%Y-%m-%d} "
                            f"with {w.dte_min}-{w.dte_max} days to expiry and strikes within "
                            f"{band:.0%} of {spot:.2f}")
        dte = (listed["expiry"] - day).dt.days
        middle = 0.5 * (w.dte_min + w.dte_max)
        ranked = (sorted(set(zip((dte - middle).abs(), listed["expiry"], strict=True)))
                  [:max(w.expiries, 1)])
        keep_expiries = {e for _, e in ranked}
        listed = listed[listed["expiry"].isin(keep_expiries)]
        on_grid = np.abs(listed["strike"] / step - np.round(listed["strike"] / step)) < 1e-6
        if on_grid.sum() >= 2:
            listed = listed[on_grid]
        otm = np.where(listed["right"] == "P", listed["strike"] <= spot + step,
                       listed["strike"] >= spot - step)
        listed = listed[otm].sort_values(["expiry", "right", "strike"]).reset_index(drop=True)
        for ticker, expiry in zip(listed["ticker"], listed["expiry"], strict=True):
            self._expiry_of[ticker] = expiry
        return listed

    def _iv_history(self, ticker: str) -> pd.Series:
        """Implied volatility of every day ``ticker`` traded (NaN where not invertible)."""
        if ticker not in self._contract_iv:
            expiry = self._expiry_of[ticker]
            bars = self.data.bars(ticker, expiry)
            days = bars.index[bars.index.isin(self.bars.index)]
            iv = np.full(len(days), np.nan)
            if len(days):
                strike = int(ticker[-8:]) / 1000.0
                spot = self.bars.loc[days, "close"].to_numpy(dtype=float)
                years = np.maximum((expiry - days).days.to_numpy(dtype=float), 0.5) / 365.0
                rate = np.array([float(self.rates.rate(d, y)) for d, y in zip(days, years,
                                                                             strict=True)])
                iv = implied_volatility(bars.loc[days, "close"].to_numpy(dtype=float), spot,
                                        strike, years, rate, ticker[-9] == "C")
            self._contract_iv[ticker] = pd.Series(iv, index=days, dtype=float)
        return self._contract_iv[ticker]

    # ------------------------------------------------------------------ pricing
    def _price(self, day: pd.Timestamp, contracts: pd.DataFrame) -> pd.DataFrame:
        spot = self._spot(day)
        expiry = pd.DatetimeIndex(contracts["expiry"])
        strike = contracts["strike"].to_numpy(dtype=float)
        is_call = contracts["right"].to_numpy() == "C"
        years = np.maximum((expiry - day).days.to_numpy(dtype=float), 0.5) / 365.0
        rate = self.rates.rate(day, years)
        close = np.full(len(contracts), np.nan)
        volume = np.zeros(len(contracts))
        iv = np.full(len(contracts), np.nan)
        carried = np.full(len(contracts), np.nan)
        for i, ticker in enumerate(contracts["ticker"]):
            bars = self.data.bars(ticker, expiry[i])
            history = self._iv_history(ticker)
            if day in bars.index:
                close[i] = float(bars.at[day, "close"])
                volume[i] = float(bars.at[day, "volume"])
                iv[i] = history.get(day, np.nan)
            past = history[(history.index < day) & history.notna()]
            if len(past):
                carried[i] = float(past.iloc[-1])
        traded = np.isfinite(iv)
        self.priced_from_trades += int(traded.sum())
        self.priced_by_fallback += int((~traded).sum())
        vol = np.where(traded, iv, carried)
        vol = self._fill_from_smile(vol, traded, expiry, strike, float(self.vol_estimate.loc[day]))
        model = black_scholes_price(spot, strike, years, rate, vol, is_call)
        mid = np.where(traded, close, model)
        bid, ask = quote_spread(mid)
        greeks = black_scholes_greeks(spot, strike, years, rate, vol, is_call)
        frame = pd.DataFrame({
            "symbol": [t[2:] for t in contracts["ticker"]],
            "expiry": expiry, "dte": (expiry - day).days.astype(int), "strike": strike,
            "right": contracts["right"].to_numpy(), "bid": bid, "ask": ask, "mid": mid,
            "iv": vol, **greeks, "volume": volume, "open_interest": np.nan, "underlying": spot,
        })
        return frame.loc[:, list(CHAIN_COLUMNS)]

    @staticmethod
    def _fill_from_smile(vol, traded, expiry, strike, estimate) -> np.ndarray:
        vol = vol.copy()
        for e in np.unique(expiry.values):
            same = expiry.values == e
            known = same & traded
            missing = same & ~np.isfinite(vol)
            if not missing.any():
                continue
            if known.any():
                order = np.argsort(strike[known])
                vol[missing] = np.interp(strike[missing], strike[known][order],
                                         vol[known][order])
            else:
                vol[missing] = estimate
        return vol

    def chain(self, date) -> pd.DataFrame:
        """The near-the-money chain of ``date`` (module doc), priced from that day's bars."""
        day = pd.Timestamp(date)
        if day in self._chains:
            self._chains.move_to_end(day)
            return self._chains[day]
        frame = self._price(day, self.listing(day))
        self._chains[day] = frame
        if len(self._chains) > self._cache_size:
            self._chains.popitem(last=False)
        return frame

    def quote(self, date, expiry, strike: float, right: str) -> pd.Series:
        """One contract on ``date``, listed in a chain or not (its own bars, same model)."""
        day, expiry = pd.Timestamp(date), pd.Timestamp(expiry)
        right = right.upper()
        ticker = polygon_ticker(self.symbol, expiry, right, float(strike))
        self._expiry_of.setdefault(ticker, expiry)
        contract = pd.DataFrame({"ticker": [ticker], "expiry": [expiry],
                                 "strike": [float(strike)], "right": [right]})
        return self._price(day, contract).iloc[0]
