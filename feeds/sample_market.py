"""The embedded sample market: a seeded, regime-switching model of a market (not real prices).

One hidden Markov chain of the five named market states of seed 000 drives every symbol:
each state has its own drift, volatility, volume and options-flow profile, and the chain is
sticky (states last weeks to months). A symbol's daily log return is ``beta * market +
idiosyncratic noise`` with Student-t(5) shocks; its 30-day implied volatility mean-reverts
towards ``realized volatility x a variance premium`` of the current state and jumps up on
down days; option flow (put/call volumes, premium, unusual activity, dark-pool share) and an
economic calendar (CPI releases, Conference Board consumer confidence) are drawn from the
same states. ``true_regime`` holds the hidden state of every bar for tests and reports.

Everything is a pure function of ``seed``: the same seed gives the same market, bar for bar.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.domain import REGIME_NAMES, TRADING_DAYS
from core.errors import DataError
from feeds.base import OHLCV, MarketSource, clip_dates, window_words
from feeds.cache import ParquetCache, code_fingerprint
from feeds.calendar import sessions
from feeds.chain import PUT_CONVEXITY, ModelledChains, OptionChain, surface_vol
from pricing.black_scholes import black_scholes_price

GENERATOR_VERSION = 2


@functools.cache  # the code a process runs does not change under it
def generator_fingerprint() -> str:
    """The hash of the code that draws the sample market (this module, the chain's world,
    Black-Scholes): cached bars of an edited generator are never read back."""
    import sys

    from feeds import chain
    from pricing import black_scholes

    return code_fingerprint(sys.modules[__name__], chain, black_scholes)

#: the worlds a sample market can be: "edge", where the hidden state drives returns,
#: volatility, the variance premium, the skew and the flow (a model can learn it), and
#: "no-edge", where every state shares one profile and volatility is constant, so nothing
#: observable tells anything about the future (no model can beat the majority label)
WORLDS = ("edge", "no-edge")


@dataclass(frozen=True)
class RegimeProfile:
    """How the market behaves in one hidden state: annualised drift and volatility, volume
    and put share of the option volume, implied over realized volatility (the variance
    premium), the 25-delta put's vol points over the money's at 30 days (the skew) and the
    shift of the dark-pool share."""

    name: str
    drift: float
    volatility: float
    volume_multiplier: float
    put_share: float
    iv_premium: float
    skew_points: float
    dark_pool_shift: float


REGIMES = (
    RegimeProfile(REGIME_NAMES[0], 0.15, 0.09, 0.85, 0.40, 1.40, 4.5, 0.02),
    RegimeProfile(REGIME_NAMES[1], 0.35, 0.15, 1.10, 0.35, 1.25, 5.0, 0.00),
    RegimeProfile(REGIME_NAMES[2], -0.22, 0.11, 0.90, 0.50, 1.30, 5.5, 0.05),
    RegimeProfile(REGIME_NAMES[3], -0.87, 0.34, 1.60, 0.62, 1.15, 8.0, -0.05),
    RegimeProfile(REGIME_NAMES[4], 0.83, 0.40, 1.45, 0.44, 1.20, 6.5, -0.03),
)

#: the one profile every state shares in the no-edge world
NO_EDGE_PROFILE = RegimeProfile("no_edge", 0.08, 0.15, 1.0, 0.45, 1.20, 5.5, 0.0)

# Row = today's state, column = tomorrow's. Diagonals give mean durations of about
# 60, 40, 45, 20 and 12 sessions; downtrends mostly end in rallies or consolidation.
TRANSITIONS = np.array([
    [1 - 1 / 60, 0.40 / 60, 0.40 / 60, 0.15 / 60, 0.05 / 60],
    [0.35 / 40, 1 - 1 / 40, 0.35 / 40, 0.20 / 40, 0.10 / 40],
    [0.35 / 45, 0.30 / 45, 1 - 1 / 45, 0.25 / 45, 0.10 / 45],
    [0.05 / 20, 0.05 / 20, 0.30 / 20, 1 - 1 / 20, 0.60 / 20],
    [0.20 / 12, 0.40 / 12, 0.30 / 12, 0.10 / 12, 1 - 1 / 12],
])


@dataclass(frozen=True)
class SymbolProfile:
    """A symbol of the sample market: its first price, market beta, own noise and volume."""

    symbol: str
    first_price: float
    beta: float
    idiosyncratic_vol: float
    base_volume: float


SYMBOLS = (
    SymbolProfile("SPY", 130.0, 1.00, 0.02, 120e6),
    SymbolProfile("QQQ", 45.0, 1.15, 0.06, 50e6),
    SymbolProfile("IWM", 70.0, 1.10, 0.08, 30e6),
    SymbolProfile("AAPL", 25.0, 1.20, 0.20, 100e6),
    SymbolProfile("MSFT", 30.0, 1.00, 0.17, 40e6),
    SymbolProfile("GOOGL", 15.0, 1.10, 0.20, 35e6),
    SymbolProfile("AMZN", 5.0, 1.30, 0.25, 60e6),
    SymbolProfile("TSLA", 20.0, 1.60, 0.45, 30e6),
)
SAMPLE_START = "2008-01-02"
SAMPLE_END = "2025-12-31"


def _stream(seed: int, label: str) -> np.random.Generator:
    """An independent, named random stream: adding a symbol never changes another's prices."""
    return np.random.default_rng([seed, zlib.crc32(label.encode())])


def _student_t(rng: np.random.Generator, size: int, dof: float = 5.0) -> np.ndarray:
    """Fat-tailed shocks with unit variance."""
    return rng.standard_t(dof, size) / np.sqrt(dof / (dof - 2.0))


def regime_path(seed: int, n: int) -> np.ndarray:
    """The hidden state of each of ``n`` sessions (starting calm)."""
    rng = _stream(seed, "regimes")
    uniforms = rng.random(n)
    cumulative = TRANSITIONS.cumsum(axis=1)
    states = np.empty(n, dtype=np.int64)
    state = 0
    for i in range(n):
        states[i] = state
        state = min(int(np.searchsorted(cumulative[state], uniforms[i], side="right")), 4)
    return states


def release_calendar(days: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """CPI (first session on or after the 12th) and consumer confidence (last Tuesday
    session of the month) release flags, 1.0 on release days."""
    frame = pd.DataFrame({"day": days, "month": days.to_period("M")})
    cpi_days = frame[frame["day"].dt.day >= 12].groupby("month")["day"].min()
    tuesdays = frame[frame["day"].dt.dayofweek == 1].groupby("month")["day"].max()
    cpi = days.isin(cpi_days).astype(float)
    confidence = days.isin(tuesdays).astype(float)
    return cpi, confidence


def _ar1(target: np.ndarray, speed: float, shocks: np.ndarray, first: float) -> np.ndarray:
    """x[t] = x[t-1] + speed * (target[t] - x[t-1]) + shocks[t]."""
    out = np.empty(len(target))
    level = first
    for i in range(len(target)):
        level = level + speed * (target[i] - level) + shocks[i]
        out[i] = level
    return out


def _trailing(values: pd.Series, window: int = 20):
    """Trailing mean and std over the ``window`` sessions before today (today excluded)."""
    past = values.shift(1).rolling(window, min_periods=5)
    return past.mean(), past.std()


def skew_slope(points, atm_iv):
    """The surface's ``iv_skew`` (relative put-wing slope, see ``feeds.chain``) that puts the
    30-day 25-delta put ``points`` vol points over an at-the-money vol of ``atm_iv``.

    The 25-delta put sits near x = -0.7 * its vol / atm vol in the surface's standardized
    moneyness, so ``points / 100 = atm * (skew * |x| + PUT_CONVEXITY * x**2)``, solved for
    ``skew``; the tests measure the result on the chain."""
    x = 0.65 * (1.0 + points / 100.0 / atm_iv)
    return np.clip((points / 100.0 / atm_iv - PUT_CONVEXITY * x * x) / x, 0.02, 0.45)


class SampleMarket(ModelledChains, MarketSource):
    """Seeded regime-switching market with option chains and flow columns (see module doc)."""

    name = "sample"

    def __init__(self, seed: int = 42, cache: ParquetCache | None = None,
                 start: str = SAMPLE_START, end: str = SAMPLE_END, world: str = "edge"):
        if world not in WORLDS:
            raise DataError(f"unknown sample world {world!r}; choose from {', '.join(WORLDS)}")
        self.seed = seed
        self.world = world
        self.name = "sample" if world == "edge" else "sample-noedge"
        self._profiles = REGIMES if world == "edge" else (NO_EDGE_PROFILE,) * len(REGIMES)
        self.cache = cache
        self.days = sessions(start, end)
        self._states = regime_path(seed, len(self.days))
        self._market = self._market_returns()
        self._rate = self._rate_path()
        self._frames: dict[str, pd.DataFrame] = {}
        self._chains: dict[str, OptionChain] = {}

    def symbols(self) -> list[str]:
        return [p.symbol for p in SYMBOLS]

    def describe(self) -> str:
        if self.world == "no-edge":
            return (f"sample-noedge: simulated market without edge, seed {self.seed} (hidden "
                    "states drive nothing; a model of a market, not real prices)")
        return (f"sample: simulated regime-switching market, seed {self.seed} "
                "(a model of a market, not real prices)")

    def true_regimes(self) -> pd.Series:
        """The hidden state of every session, as an integer index into ``REGIME_NAMES``."""
        return pd.Series(self._states, index=self.days, name="true_regime")

    def _regime(self, attr: str) -> np.ndarray:
        """``attr`` of the profile of each session's hidden state."""
        return np.array([getattr(r, attr) for r in self._profiles])[self._states]

    def _market_returns(self) -> np.ndarray:
        rng = _stream(self.seed, "market")
        drift = self._regime("drift") / TRADING_DAYS
        vol = self._regime("volatility") / np.sqrt(TRADING_DAYS)
        cpi, _ = release_calendar(self.days)
        # CPI days move more (not in the no-edge world: a known calendar would be an edge)
        event_boost = 1.0 + (0.4 if self.world == "edge" else 0.0) * cpi
        return drift + vol * event_boost * _student_t(rng, len(self.days))

    def _rate_path(self) -> np.ndarray:
        rng = _stream(self.seed, "rates")
        steps = rng.normal(0.0, 0.0004, len(self.days))
        rate = np.empty(len(steps))
        level = 0.02
        for i, step in enumerate(steps):
            level = min(max(level + step, 0.0), 0.06)
            rate[i] = level
        return rate

    def bars(self, symbol: str, start=None, end=None) -> pd.DataFrame:
        symbol = self.check_symbol(symbol)
        frame = self._frames.get(symbol)
        if frame is None:
            key = (self.name, f"v{GENERATOR_VERSION}-{generator_fingerprint()}",
                   f"seed{self.seed}", symbol,
                   f"{self.days[0]:%Y%m%d}-{self.days[-1]:%Y%m%d}")
            build = lambda: self._generate(symbol)  # noqa: E731
            frame = (self.cache.load_or_build(key, build, OHLCV) if self.cache
                     else build())
            self._frames[symbol] = frame
        out = clip_dates(frame, start, end)
        if out.empty:
            raise DataError(f"sample market has no {symbol} bars {window_words(start, end)}; "
                            f"it covers {self.days[0]:%Y-%m-%d}..{self.days[-1]:%Y-%m-%d}")
        return out

    def minute_bars(self, symbol: str, start, end) -> pd.DataFrame:
        """One-minute bars of the regular sessions from ``start`` to ``end``, indexed by
        New York time (bar start, tz-naive, like Polygon's). Each session is drawn from its
        own seeded stream and pinned to its daily bar (see ``_minute_session``): the same
        seed gives the same minutes, and they aggregate back to the daily bar exactly."""
        daily = self.bars(symbol, pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize())
        pieces = [_minute_session(_stream(self.seed, f"{symbol}/minutes/{day:%Y-%m-%d}"),
                                  row, session_minutes(day))
                  for day, row in daily.iterrows()]
        return pd.concat(pieces)

    def _generate(self, symbol: str) -> pd.DataFrame:
        profile = next(p for p in SYMBOLS if p.symbol == symbol)
        rng = _stream(self.seed, symbol)
        n, states = len(self.days), self._states
        regime = self._regime

        daily_idio = profile.idiosyncratic_vol / np.sqrt(TRADING_DAYS)
        log_ret = profile.beta * self._market + daily_idio * _student_t(rng, n)
        close = profile.first_price * np.exp(np.cumsum(log_ret))
        daily_vol = np.sqrt((profile.beta * regime("volatility")) ** 2
                            + profile.idiosyncratic_vol ** 2) / np.sqrt(TRADING_DAYS)
        gap = 0.3 * daily_vol * rng.standard_normal(n)
        prev_close = np.concatenate([[profile.first_price], close[:-1]])
        open_ = prev_close * np.exp(gap)
        wick = 0.5 * daily_vol * np.abs(rng.standard_normal((2, n)))
        high = np.maximum(open_, close) * np.exp(wick[0])
        low = np.minimum(open_, close) * np.exp(-wick[1])
        surprise = np.abs(log_ret) / daily_vol
        volume = (profile.base_volume * regime("volume_multiplier") * (0.7 + 0.3 * surprise)
                  * rng.lognormal(0.0, 0.2, n))

        # 30-day implied vol: mean-reverts to realized x premium, jumps up on down days
        annual_vol = daily_vol * np.sqrt(TRADING_DAYS)
        target = np.log(annual_vol * regime("iv_premium"))
        # (the jump's average, 0.4 x daily vol, is taken back out so the level stays on target)
        shocks = (0.04 * rng.standard_normal(n)
                  + 1.5 * (np.maximum(-log_ret, 0.0) - 0.4 * daily_vol))
        skew_noise = rng.standard_normal(n)
        if self.world == "edge":
            atm_iv = np.exp(_ar1(target, 0.10, shocks, target[0]))
            skew_points = regime("skew_points") * np.exp(0.10 * skew_noise)
        else:  # constant volatility: today's vol and skew say nothing about tomorrow's P&L
            atm_iv = np.exp(target + 0.005 * rng.standard_normal(n))
            skew_points = regime("skew_points") * np.exp(0.005 * skew_noise)
        iv_skew = skew_slope(skew_points, atm_iv)

        # option flow drawn from the state: more puts and more activity when it is stressed
        option_volume = 0.02 * volume * regime("volume_multiplier") * rng.lognormal(0, 0.3, n)
        sweeps = rng.random(n) < 0.03  # occasional unusual block activity
        option_volume *= np.where(sweeps, rng.uniform(2.0, 4.0, n), 1.0)
        put_share = 1.0 / (1.0 + np.exp(-(np.log(regime("put_share") / (1 - regime("put_share")))
                                           + 0.25 * rng.standard_normal(n))))
        put_volume = np.round(option_volume * put_share)
        call_volume = np.round(option_volume) - put_volume
        total_options = pd.Series(call_volume + put_volume, index=self.days)
        log_total = np.log(total_options.clip(lower=1.0))
        past_mean, past_std = _trailing(log_total)
        unusual = ((log_total - past_mean) / past_std).clip(lower=0.0).fillna(0.0)
        volume_ratio = total_options / total_options.shift(1).rolling(20, min_periods=1).mean()
        open_interest = np.round(8.0 * total_options.rolling(20, min_periods=1).mean())
        dark_pool = np.clip(0.38 + regime("dark_pool_shift") + 0.03 * rng.standard_normal(n),
                            0.05, 0.9)

        years = np.full(n, 30.0 / 365.0)
        # the wing vols are read at 30 days, where the term structure is today's atm_iv
        # whatever its long-run level (``term_vol``: the reversion factor is exp(0) = 1), so
        # this whole-series median moves no value beyond one rounding; the option chains use
        # the causal level (``feeds.chain.long_run_levels``)
        long_run = float(np.median(atm_iv))
        atm_call = black_scholes_price(close, close, years, self._rate, atm_iv, True)
        atm_put = black_scholes_price(close, close, years, self._rate, atm_iv, False)
        forward = close * np.exp(self._rate * years)
        call_iv = surface_vol(close, self._rate, atm_iv, iv_skew, long_run, years, 1.05 * forward)
        put_iv = surface_vol(close, self._rate, atm_iv, iv_skew, long_run, years, 0.95 * forward)
        cpi, confidence = release_calendar(self.days)

        frame = pd.DataFrame({
            "open": open_, "high": high, "low": low, "close": close,
            "volume": np.round(volume),
            "call_volume": call_volume, "put_volume": put_volume,
            "put_call_ratio": put_volume / np.maximum(call_volume, 1.0),
            "option_volume_ratio": volume_ratio.fillna(1.0).to_numpy(),
            "call_premium": call_volume * atm_call * 100.0,
            "put_premium": put_volume * atm_put * 100.0,
            "unusual_score": unusual.to_numpy(),
            "dark_pool_ratio": dark_pool,
            "open_interest": open_interest.to_numpy(),
            "atm_iv": atm_iv, "call_iv": call_iv, "put_iv": put_iv, "iv_skew": iv_skew,
            "risk_free_rate": self._rate,
            "cpi_release": cpi, "consumer_confidence_release": confidence,
            "true_regime": states,
        }, index=pd.DatetimeIndex(self.days, name="date"))
        return frame


def session_minutes(day) -> pd.DatetimeIndex:
    """Start times of the one-minute bars of the regular NYSE session on ``day``
    (09:30..15:59 New York time, 390 bars; 210 on a 13:00 early close), tz-naive."""
    from feeds.calendar import nyse

    day = pd.Timestamp(day).normalize()
    calendar = nyse()
    if not calendar.is_session(day):
        raise DataError(f"{day:%Y-%m-%d} is not an NYSE session")
    open_, close = (calendar.session_open(day), calendar.session_close(day))
    times = pd.date_range(open_, close, freq="min", inclusive="left")
    return pd.DatetimeIndex(times.tz_convert("America/New_York").tz_localize(None), name="time")


def _minute_session(rng: np.random.Generator, day_bar, times: pd.DatetimeIndex) -> pd.DataFrame:
    """One session's minute bars, pinned to its daily bar.

    A Brownian bridge in log price runs from the open to the close through the day's high
    and low at two random minutes, reflected back inside [low, high]; each minute opens at the
    previous minute's close and its wicks stay inside the day's range, so the minutes
    aggregate back to exactly the daily open, high, low and close. Volume follows the
    usual U shape (busy open and close) and sums to the daily volume."""
    n = len(times)
    o, h, lo, c = (float(day_bar[k]) for k in ("open", "high", "low", "close"))
    log_o, log_h, log_l, log_c = np.log([o, h, lo, c])
    spread = log_h - log_l
    sigma = 0.35 * spread / np.sqrt(n)
    t_high, t_low = rng.choice(np.arange(1, n), size=2, replace=False)
    pins = sorted([(0, log_o), (int(t_high), log_h), (int(t_low), log_l), (n, log_c)])
    path = np.empty(n + 1)
    for (ta, xa), (tb, xb) in zip(pins, pins[1:], strict=False):
        steps = tb - ta
        walk = np.concatenate([[0.0], np.cumsum(sigma * rng.standard_normal(steps))])
        frac = np.arange(steps + 1) / steps
        path[ta:tb + 1] = xa + (xb - xa) * frac + walk - walk[-1] * frac
    if spread > 0:  # fold excursions back inside [low, high] (a reflected walk, no flats)
        folded = np.mod(path - log_l, 2.0 * spread)
        path = log_l + np.where(folded <= spread, folded, 2.0 * spread - folded)
    prices = np.clip(np.exp(path), lo, h)
    for t, x in zip((0, t_high, t_low, n), (o, h, lo, c), strict=True):
        prices[t] = x  # exact pins: exp(log(x)) may be off by an ulp
    opens, closes = prices[:-1], prices[1:]
    wicks = sigma * np.abs(rng.standard_normal((2, n))) * 0.5
    highs = np.minimum(np.maximum(opens, closes) * np.exp(wicks[0]), h)
    lows = np.maximum(np.minimum(opens, closes) * np.exp(-wicks[1]), lo)
    minute = np.arange(n)
    weights = (1.0 + 1.5 * np.exp(-minute / 30.0) + np.exp(-(n - 1 - minute) / 30.0)) \
        * rng.lognormal(0.0, 0.3, n)
    volume = rng.multinomial(int(round(float(day_bar["volume"]))), weights / weights.sum())
    return pd.DataFrame({"open": opens, "high": highs, "low": lows, "close": closes,
                         "volume": volume.astype(float)}, index=times)
