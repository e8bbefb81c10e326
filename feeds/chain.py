"""Option chains priced by a stated model: Black-Scholes on a volatility surface.

Every source without quotes of its own (the sample market, the bundled indexes, CSV files)
gets its chain here, from three per-bar inputs: the close, a 30-day at-the-money implied
volatility (``atm_iv``) and the risk-free rate. The surface:

* term structure: ``atm(T) = L + (atm_iv - L) * exp(-3 * (T - 30/365))``, mean-reverting to
  the long-run level ``L``: the median of the symbol's 30-day vol over its bars up to that
  day (what was known then: a median over the whole series made every quote depend on the
  bars after it); upward sloping when today's vol is below it (calm), inverted when above
  (stress);
* skew and smile, in the standardized moneyness ``x = ln(K / F) / (atm(T) * sqrt(T))``
  clipped to [-3, 3]: ``iv = atm(T) * (1 - skew * x + 0.01 * x**2)`` on the put side
  (x <= 0) and ``iv = atm(T) * (1 - 0.8 * skew * tanh(x / 0.8))`` on the call side, so the
  put wing is steep and the call wing flattens out towards ``1 - 0.8 * skew`` of the money's
  vol, as SPX's does. Both wings keep option prices monotone in the strike for
  ``skew <= 0.45`` (the sample market's range). ``skew`` comes from the bar's ``iv_skew``
  column (default ``DEFAULT_SKEW`` = 0.30: at a 16 % money vol the 30-day 25-delta put
  trades about 4 vol points over it);
* quotes: ``mid`` is the model value; ``bid``/``ask`` sit half a spread either side, rounded
  outwards to the cent, the spread being ``($0.005 + 0.2 % of mid) * (iv / 18 %) ** 1.5``
  kept between half a cent and $1.00 before the rounding: a cent or two near the money of
  an index ETF in calm markets (SPY's and QQQ's quotes), several cents in stress (wider in
  cents and as a share of mid), in relative terms wider in the cheap wings (the cent
  floor) and for cheap symbols, a few dimes deep in the money;
* volume and open interest: the bar's ``call_volume``/``put_volume``/``open_interest`` totals
  (or, when a source has none, 2 % of the share volume and 8 days of that) spread over the
  contracts by moneyness and expiry with seeded noise, in whole contracts that sum exactly
  to the bar totals.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import OrderedDict

import numpy as np
import pandas as pd

from feeds.calendar import day64, listed_expiries
from pricing.black_scholes import black_scholes_delta, black_scholes_greeks, black_scholes_price
from pricing.contracts import occ_symbol, strike_step

CHAIN_COLUMNS = (
    "symbol", "expiry", "dte", "strike", "right", "bid", "ask", "mid", "iv",
    "delta", "gamma", "theta", "vega", "volume", "open_interest", "underlying",
)
def _largest_remainder(total: float, weights: np.ndarray) -> np.ndarray:
    """Whole numbers proportional to ``weights`` that add up exactly to ``total``."""
    total = int(round(total)) if np.isfinite(total) else 0
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    raw = weights / weights.sum() * total
    counts = np.floor(raw).astype(np.int64)
    short = total - counts.sum()
    if short > 0:
        counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts


#: ``iv_skew`` of a source that has none (relative put-wing slope, module docstring)
DEFAULT_SKEW = 0.30
#: put-wing convexity of the smile
PUT_CONVEXITY = 0.01
#: the call wing's vol never falls below the money's times 1 - skew * CALL_FLATTENING
CALL_FLATTENING = 0.8


def term_vol(atm30, long_run, years):
    """At-the-money vol at ``years`` to expiry: today's 30-day vol reverting to ``long_run``
    (module docstring); broadcasts."""
    return np.maximum(long_run + (atm30 - long_run) * np.exp(-3.0 * (years - 30.0 / 365.0)),
                      0.03)


def smile(x, skew):
    """Vol relative to the money's at standardized moneyness ``x`` (clipped to [-3, 3]):
    a steep put wing, a call wing that flattens out (module docstring); broadcasts."""
    x = np.minimum(np.maximum(x, -3.0), 3.0)  # np.clip's numbers, without its wrapper's cost
    put_side = 1.0 - skew * x + PUT_CONVEXITY * x * x
    call_side = 1.0 - skew * CALL_FLATTENING * np.tanh(x / CALL_FLATTENING)
    return np.where(x <= 0.0, put_side, call_side)


def surface_vol(spot, rate, atm30, skew, long_run, years, strike):
    """Implied volatility of the model surface (see the module docstring); broadcasts."""
    atm = term_vol(atm30, long_run, years)
    forward = spot * np.exp(rate * years)
    x = np.log(strike / forward) / (atm * np.sqrt(years))
    return np.maximum(atm * smile(x, skew), 0.5 * atm)


def quote_width(mid, iv):
    """Bid/ask width in dollars before rounding to the cent (module docstring)."""
    return np.minimum(np.maximum((0.005 + 0.002 * mid) * (iv / 0.18) ** 1.5, 0.005), 1.00)


def _bid_ask(mid: np.ndarray, iv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half a spread either side of mid, rounded outwards to the cent (module docstring)."""
    half = 0.5 * quote_width(mid, iv)
    bid = np.maximum(np.floor((mid - half) * 100.0 + 1e-9) / 100.0, 0.0)
    ask = np.ceil((mid + half) * 100.0 - 1e-9) / 100.0
    return bid, ask


#: the long-run vol of a bar before the symbol's first ``atm_iv``
LONG_RUN_DEFAULT = 0.2


def long_run_levels(atm_iv: pd.Series) -> np.ndarray:
    """Each bar's long-run vol: the median of ``atm_iv`` over the bars up to and including
    it, NaN skipped (``LONG_RUN_DEFAULT`` before the first value). Known on the day: no
    quote depends on a later bar."""
    levels = atm_iv.astype(float).expanding(min_periods=1).median().to_numpy()
    return np.where(np.isfinite(levels), levels, LONG_RUN_DEFAULT)


class OptionChain:
    """Per-date option chains for one symbol, priced from its bars by the model above."""

    def __init__(self, symbol: str, bars: pd.DataFrame, seed: int = 7, cache_size: int = 256):
        if "atm_iv" not in bars or "risk_free_rate" not in bars:
            raise ValueError("option chain needs 'atm_iv' and 'risk_free_rate' columns")
        self.symbol = symbol
        self.bars = bars
        self.seed = seed
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = cache_size
        self._input_rows: dict | None = None
        self._session_arrays: tuple | None = None

    def has_date(self, date) -> bool:
        if type(date) is dt.date:  # the brokers ask with dates: a dict, not a pandas lookup
            return date in self._sessions()[0]
        return pd.Timestamp(date) in self.bars.index

    def _bar(self, date) -> pd.Series:
        day = pd.Timestamp(date)
        if day not in self.bars.index:
            raise KeyError(f"no bar for {self.symbol} on {day:%Y-%m-%d}: no option chain that day")
        return self.bars.loc[day]

    @staticmethod
    def _years(date, expiry) -> np.ndarray:
        days = (np.asarray(expiry, dtype="datetime64[D]") - day64(date)).astype(float)
        return np.maximum(days, 0.5) / 365.0

    def _surface(self, day, bar: pd.Series, years: np.ndarray,
                 strike: np.ndarray) -> np.ndarray:
        skew = (float(bar["iv_skew"]) if "iv_skew" in bar and np.isfinite(bar["iv_skew"])
                else DEFAULT_SKEW)
        return surface_vol(float(bar["close"]), float(bar["risk_free_rate"]), float(bar["atm_iv"]),
                           skew, self.long_run_vol(day), years, strike)

    def long_run_vol(self, date) -> float:
        """The long-run level the term structure reverts to on ``date``: the median of
        ``atm_iv`` over the bars up to and including it (``LONG_RUN_DEFAULT`` before the
        first value)."""
        return self._inputs(pd.Timestamp(date))[4]

    def chain(self, date) -> pd.DataFrame:
        """Every listed contract on ``date`` with quotes, greeks, volume and open interest."""
        day = pd.Timestamp(date)
        if day in self._cache:
            self._cache.move_to_end(day)
            return self._cache[day]
        frame = self._build(day)
        self._cache[day] = frame
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return frame

    def _strike_grid(self, spot: float, atm_iv: float, years: float) -> np.ndarray:
        """Listed strikes of one expiry: the strike step around spot, +-3 sigma (at least
        6 %) wide, so far-dated expiries list more strikes."""
        step = strike_step(spot)
        vol = max(atm_iv, 0.05)
        half_range = max(3.0 * vol * np.sqrt(years), 0.06) * spot
        lo = np.ceil((spot - half_range) / step) * step
        hi = np.floor((spot + half_range) / step) * step
        grid = np.arange(lo, hi + step / 2, step)
        return grid[grid > 0]

    def _build(self, day: pd.Timestamp) -> pd.DataFrame:
        bar = self._bar(day)
        spot = float(bar["close"])
        expiries, strikes = [], []
        for expiry in listed_expiries(day):
            grid = self._strike_grid(spot, float(bar["atm_iv"]), float(self._years(day, expiry)))
            expiries.append(np.full(len(grid), expiry))
            strikes.append(grid)
        expiry = np.concatenate(expiries).astype("datetime64[D]")
        strike = np.concatenate(strikes)
        # calls and puts on the same (expiry, strike) grid
        expiry = np.concatenate([expiry, expiry])
        strike = np.concatenate([strike, strike])
        is_call = np.repeat([True, False], len(strike) // 2)
        return self._price(day, bar, expiry, strike, is_call, with_activity=True)

    # ------------------------------------------------------------------ numpy paths
    # The broker and the labels ask a chain three things thousands of times: which expiries
    # are listed, the strikes and deltas of one expiry and side, and a few contracts'
    # quotes. Building the whole pandas chain for that (about 10 ms a day, most of it OCC
    # symbols and volumes) was most of a credit-spread backtest; these answer from the same
    # formulas with numpy only, and tests hold them equal to ``chain``/``quote``.
    def spot(self, date) -> float:
        """The underlying's close on ``date``, what the chain is priced from."""
        return self._inputs(pd.Timestamp(date))[0]

    def listed(self, date) -> tuple[np.ndarray, np.ndarray]:
        """``(expiries as datetime64[D], days to expiry)`` listed on ``date``."""
        day = pd.Timestamp(date)
        self._inputs(day)  # a day without a bar has no chain
        expiry = np.array(listed_expiries(day), dtype="datetime64[D]")
        return expiry, (expiry - day64(day)).astype(int)

    def strikes_and_deltas(self, date, expiry, right: str) -> tuple[np.ndarray, np.ndarray]:
        """Listed strikes of one expiry and side on ``date`` with their deltas, ascending."""
        day = pd.Timestamp(date)
        spot, rate, atm30, skew, long_run = self._inputs(day)
        years = self._years(day, day64(expiry))
        strike = self._strike_grid(spot, atm30, float(years))
        iv = surface_vol(spot, rate, atm30, skew, long_run, years, strike)
        # one side for every strike: a scalar flag gives each strike the same delta as a
        # flag per strike would
        return strike, black_scholes_delta(spot, strike, years, rate, iv, right.upper() == "C")

    def quote_arrays(self, date, expiry, strike, is_call,
                     with_delta: bool = False) -> dict[str, np.ndarray]:
        """bid, ask, mid and iv (and delta when asked) of several contracts of one date in
        one call."""
        day = pd.Timestamp(date)
        spot, rate, atm30, skew, long_run = self._inputs(day)
        years = self._years(day, np.asarray(expiry, dtype="datetime64[D]"))
        strike = np.asarray(strike, dtype=float)
        is_call = np.asarray(is_call, dtype=bool)
        iv = surface_vol(spot, rate, atm30, skew, long_run, years, strike)
        mid = black_scholes_price(spot, strike, years, rate, iv, is_call)
        bid, ask = _bid_ask(mid, iv)
        quote = {"bid": bid, "ask": ask, "mid": mid, "iv": iv}
        if with_delta:
            quote["delta"] = black_scholes_greeks(spot, strike, years, rate, iv, is_call)["delta"]
        return quote

    def _price(self, day, bar, expiry, strike, is_call, with_activity: bool) -> pd.DataFrame:
        spot, rate = float(bar["close"]), float(bar["risk_free_rate"])
        years = self._years(day, expiry)
        iv = self._surface(day, bar, years, strike)
        mid = black_scholes_price(spot, strike, years, rate, iv, is_call)
        greeks = black_scholes_greeks(spot, strike, years, rate, iv, is_call)
        bid, ask = _bid_ask(mid, iv)
        frame = pd.DataFrame({
            "symbol": [occ_symbol(self.symbol, e, "C" if c else "P", k)
                       for e, c, k in zip(expiry, is_call, strike, strict=True)],
            "expiry": pd.DatetimeIndex(expiry),
            "dte": (expiry - day64(day)).astype(int),
            "strike": strike,
            "right": np.where(is_call, "C", "P"),
            "bid": bid, "ask": ask, "mid": mid, "iv": iv,
            **greeks,
            "underlying": spot,
        })
        if with_activity:
            frame["volume"], frame["open_interest"] = self._activity(day, bar, frame)
        return frame.loc[:, [c for c in CHAIN_COLUMNS if c in frame]]

    def _activity(self, day, bar, frame) -> tuple[np.ndarray, np.ndarray]:
        key = [self.seed, zlib.crc32(self.symbol.encode()), int(day.value // 86_400_000_000_000)]
        rng = np.random.default_rng(key)
        spot = float(bar["close"])
        x = np.log(frame["strike"].to_numpy() / spot) / np.maximum(frame["iv"].to_numpy(), 0.05)
        is_call = frame["right"].to_numpy() == "C"
        out_of_money = np.where(is_call, x > 0, x < 0)
        dte = frame["dte"].to_numpy()
        noise = rng.lognormal(0.0, 0.5, len(frame))
        near = np.exp(-0.5 * (x / 0.6) ** 2) * (1.0 + out_of_money)
        volume_weight = near * np.exp(-dte / 30.0) * noise
        oi_weight = near * np.exp(-dte / 90.0) * noise
        share_volume = float(bar["volume"]) if np.isfinite(bar["volume"]) else 0.0
        calls = bar.get("call_volume", np.nan)
        puts = bar.get("put_volume", np.nan)
        if not np.isfinite(calls) or not np.isfinite(puts):
            calls, puts = 0.01 * share_volume, 0.01 * share_volume
        total_oi = bar.get("open_interest", np.nan)
        if not np.isfinite(total_oi):
            total_oi = 8.0 * (calls + puts)
        volume = np.zeros(len(frame), dtype=np.int64)
        volume[is_call] = _largest_remainder(calls, volume_weight[is_call])
        volume[~is_call] = _largest_remainder(puts, volume_weight[~is_call])
        open_interest = _largest_remainder(total_oi, oi_weight)
        return volume, open_interest

    def quote_prices(self, date, expiry, strike: float, right: str) -> tuple[float, float, float]:
        """``(bid, ask, mid)`` of one contract, the same numbers as ``quote`` without building
        a pandas row: the broker marks every open leg on every bar through this."""
        day = pd.Timestamp(date)
        spot, rate, atm30, skew, long_run = self._inputs(day)
        years = self._years(day, day64(expiry))
        strike_arr = np.array([float(strike)])
        iv = surface_vol(spot, rate, atm30, skew, long_run, years, strike_arr)
        mid = black_scholes_price(spot, strike_arr, years, rate, iv,
                                  np.array([right.upper() == "C"]))
        bid, ask = _bid_ask(mid, iv)
        return float(bid[0]), float(ask[0]), float(mid[0])

    def _sessions(self) -> tuple:
        """``(row of each session date, dates as datetime64[D], close, rate, atm_iv,
        skew, long-run vol)``: the pricing inputs of every bar as arrays, built once."""
        if self._session_arrays is None:
            skew = (self.bars["iv_skew"].to_numpy(dtype=float) if "iv_skew" in self.bars
                    else np.full(len(self.bars), np.nan))
            dates = self.bars.index.values.astype("datetime64[D]")
            self._session_arrays = (
                dict(zip(self.bars.index.date, range(len(self.bars)), strict=True)), dates,
                self.bars["close"].to_numpy(dtype=float),
                self.bars["risk_free_rate"].to_numpy(dtype=float),
                self.bars["atm_iv"].to_numpy(dtype=float),
                np.where(np.isfinite(skew), skew, DEFAULT_SKEW),
                long_run_levels(self.bars["atm_iv"]))
        return self._session_arrays

    def session_row(self, day) -> int | None:
        """Position of session ``day`` (a ``datetime.date``) in ``bars`` (tz-naive,
        normalized dates: ``feeds.base``), None without a bar."""
        return self._sessions()[0].get(day)

    def life_table(self, start, expiry, strikes, calls) -> tuple[int, dict[str, np.ndarray]]:
        """Quotes of several contracts of one ``expiry`` on every session from ``start``
        through the expiry, in one call: ``(row of the first session, {"bid", "ask",
        "mid"})``, each of shape (contracts, sessions). The numbers ``quote_arrays`` gives
        contract by contract and day by day; the simulated broker prices a spread's fills
        and marks from it, and the strategy labels its whole life."""
        _, dates, spot, rate, atm30, skew, long_run = self._sessions()
        expiry = day64(expiry)
        first = int(dates.searchsorted(day64(start)))
        last = int(dates.searchsorted(expiry, side="right"))
        rows = slice(first, last)
        years = np.maximum((expiry - dates[rows]).astype(float), 0.5) / 365.0
        strikes = np.asarray(strikes, dtype=float)[:, None]
        calls = np.asarray(calls, dtype=bool)[:, None]
        spot, rate = spot[rows], rate[rows]
        iv = surface_vol(spot, rate, atm30[rows], skew[rows], long_run[rows], years,
                         strikes)
        mid = black_scholes_price(spot, strikes, years, rate, iv, calls)
        bid, ask = _bid_ask(mid, iv)
        return first, {"bid": bid, "ask": ask, "mid": mid}

    def deltas_at(self, dates, expiries, strikes, calls) -> np.ndarray:
        """Delta of each contract ``(expiries[i], strikes[i], calls[i])`` on ``dates[i]``
        (session dates) in one call: what ``quote_arrays(..., with_delta=True)`` gives
        one date at a time."""
        row_of, session_dates, spot, rate, atm30, skew, long_run = self._sessions()
        try:
            rows = np.array([row_of[d] for d in dates], dtype=np.int64)
        except KeyError as missing:
            raise KeyError(f"no bar for {self.symbol} on {missing.args[0]}: "
                           "no option chain that day") from None
        years = np.maximum((np.asarray(expiries, dtype="datetime64[D]") - session_dates[rows])
                           .astype(float), 0.5) / 365.0
        strikes = np.asarray(strikes, dtype=float)
        iv = surface_vol(spot[rows], rate[rows], atm30[rows], skew[rows], long_run[rows],
                         years, strikes)
        return black_scholes_delta(spot[rows], strikes, years, rate[rows], iv,
                                   np.asarray(calls, dtype=bool))

    def _inputs(self, day: pd.Timestamp) -> tuple[float, float, float, float, float]:
        """close, rate, atm_iv, skew and long-run vol of ``day`` from a dict built once
        (pandas row lookups cost more than the pricing itself)."""
        if self._input_rows is None:  # the session arrays, by timestamp
            _, _, close, rate, atm30, skew, long_run = self._sessions()
            columns = zip(close, rate, atm30, skew, long_run, strict=True)
            self._input_rows = dict(zip(self.bars.index, columns, strict=True))
        try:
            return self._input_rows[day]
        except KeyError:
            raise KeyError(f"no bar for {self.symbol} on {day:%Y-%m-%d}: "
                           "no option chain that day") from None

    def quote(self, date, expiry, strike: float, right: str) -> pd.Series:
        """Quote one contract on ``date`` by the same model, listed on the grid or not
        (a held contract can drift outside the strikes listed around today's price)."""
        day = pd.Timestamp(date)
        bar = self._bar(day)
        expiry_arr = np.array([day64(expiry)])
        frame = self._price(day, bar, expiry_arr, np.array([float(strike)]),
                            np.array([right.upper() == "C"]), with_activity=False)
        return frame.iloc[0]


class ModelledChains:
    """``option_chain`` for a market source whose chains are modelled from its own bars
    (an ``OptionChain`` seeded by the source's ``seed``), built once per symbol into the
    source's ``_chains``; mixed in before ``feeds.base.MarketSource``."""

    seed: int
    _chains: dict[str, OptionChain]

    def option_chain(self, symbol: str) -> OptionChain:
        symbol = self.check_symbol(symbol)
        if symbol not in self._chains:
            self._chains[symbol] = OptionChain(symbol, self.bars(symbol), seed=self.seed)
        return self._chains[symbol]
