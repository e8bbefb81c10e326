"""Pure functions the simulated broker prices spreads with: leg choice, fill rules, expiry.

Kept apart from the broker so the rules can be read (and tested) without backtrader:

* legs come from the chain of the bar the request is placed on (``resolve_legs``);
* fills use one bar's quotes of the two contracts by a stated rule: ``natural`` crosses
  the spread (sell the short at its bid, buy the long at its ask; buying back is the
  reverse), ``mid`` trades at mid prices less ``slippage`` per share in the market's
  favour;
* marks are the mid cost to close, short mid - long mid;
* expiry pays intrinsic value from the underlying's close (cash settlement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from brokers.spreads import SpreadLeg, SpreadRequest
from pricing.black_scholes import intrinsic_value

FILL_RULES = ("natural", "mid")
_EPS = 1e-9


class SpreadRejected(Exception):
    """A request that cannot be filled; ``reason`` is the human sentence for the order."""

    def __init__(self, reason: str, margin: bool = False):
        super().__init__(reason)
        self.reason = reason
        #: True when the problem is buying power (order status Margin, not Rejected)
        self.margin = margin


@dataclass(frozen=True)
class Quote:
    """One contract's bid, ask and mid per share on one date."""

    bid: float
    ask: float
    mid: float


def _leg(row: pd.Series, ratio: int) -> SpreadLeg:
    return SpreadLeg(symbol=str(row["symbol"]), expiry=pd.Timestamp(row["expiry"]).date(),
                     strike=float(row["strike"]), right=str(row["right"]), ratio=ratio)


def choose_expiry(frame: pd.DataFrame, dte_min: int, dte_max: int) -> pd.Timestamp:
    """The listed expiry with dte in [dte_min, dte_max] closest to the window's middle
    (the earlier one on a tie)."""
    dtes = frame.groupby("expiry")["dte"].first()
    inside = dtes[(dtes >= dte_min) & (dtes <= dte_max)]
    if inside.empty:
        listed = ", ".join(str(int(d)) for d in sorted(dtes.unique()))
        raise SpreadRejected(f"no expiry with {dte_min}-{dte_max} days to expiry "
                             f"(listed dte: {listed})")
    middle = 0.5 * (dte_min + dte_max)
    distance = (inside - middle).abs()
    return distance.index[int(np.argmin(distance.to_numpy()))]


def resolve_legs(frame: pd.DataFrame, request: SpreadRequest,
                 spot: float) -> tuple[SpreadLeg, SpreadLeg]:
    """Short and long leg of ``request`` from one date's chain ``frame``.

    Ties (two strikes equally close to the target) go to the one further out of the
    money, the more conservative choice.
    """
    right = request.right
    expiry = choose_expiry(frame, request.dte_min, request.dte_max)
    legs = frame[(frame["expiry"] == expiry) & (frame["right"] == right)]
    legs = legs.sort_values("strike", ascending=(right == "P"))  # most OTM first
    strikes = legs["strike"].to_numpy(dtype=float)
    if request.otm_pct is not None:
        sign = -1.0 if right == "P" else 1.0
        target = spot * (1.0 + sign * request.otm_pct)
        distance = np.abs(strikes - target)
    else:
        distance = np.abs(np.abs(legs["delta"].to_numpy(dtype=float)) - request.target_delta)
    short = legs.iloc[int(np.argmin(distance))]  # argmin keeps the first (most OTM) on ties
    step = float(np.min(np.diff(np.sort(strikes)))) if len(strikes) > 1 else np.inf
    if request.width < step - _EPS:
        raise SpreadRejected(f"width {request.width:g} is below the strike grid step {step:g}")
    long_strike = float(short["strike"]) + (-request.width if right == "P" else request.width)
    match = np.flatnonzero(np.abs(strikes - long_strike) < _EPS)
    if len(match) == 0:
        raise SpreadRejected(f"long strike {long_strike:g} is not listed for "
                             f"{pd.Timestamp(expiry):%Y-%m-%d} (strike step {step:g}, "
                             f"short strike {float(short['strike']):g})")
    return _leg(short, -1), _leg(legs.iloc[int(match[0])], +1)


def leg_quote(chain, date, leg: SpreadLeg) -> Quote:
    """Quote ``leg`` on ``date`` with ``OptionChain.quote``: the same model as the listed
    chain, and it also prices a contract that drifted off the listed strikes."""
    fast = getattr(chain, "quote_prices", None)
    if fast is not None:
        return Quote(*fast(date, leg.expiry, leg.strike, leg.right))
    row = chain.quote(date, leg.expiry, leg.strike, leg.right)
    return Quote(float(row["bid"]), float(row["ask"]), float(row["mid"]))


def open_credit(short: Quote, long: Quote, fill: str, slippage: float) -> float:
    """Credit per share received for selling the spread by the fill rule."""
    if fill == "natural":
        return short.bid - long.ask
    return short.mid - long.mid - slippage


def mid_credit(short: Quote, long: Quote) -> float:
    """Credit per share at mid prices, what ``mid_allowance`` limits are measured from."""
    return short.mid - long.mid


def close_debit(short: Quote, long: Quote, fill: str, slippage: float) -> float:
    """Debit per share paid to buy the spread back by the fill rule."""
    if fill == "natural":
        return short.ask - long.bid
    return short.mid - long.mid + slippage


def leg_prices(short: Quote, long: Quote, fill: str, slippage: float,
               opening: bool) -> tuple[float, float]:
    """Per-share price of each leg of a fill, so that short - long is exactly the credit
    (``opening``) or debit of ``open_credit``/``close_debit``; mid fills split the
    slippage evenly between the legs. Used to book each leg as its own transaction."""
    if fill == "natural":
        return (short.bid, long.ask) if opening else (short.ask, long.bid)
    half = slippage / 2.0
    if opening:
        return short.mid - half, long.mid + half
    return short.mid + half, long.mid - half


def mark(short: Quote, long: Quote) -> float:
    """Mid cost to close per share, what open spreads are valued at."""
    return short.mid - long.mid


def leg_settlements(spot: float, short: SpreadLeg, long: SpreadLeg) -> tuple[float, float]:
    """Each leg's intrinsic value per share at expiry (short, long)."""
    return (float(intrinsic_value(spot, short.strike, short.right == "C")),
            float(intrinsic_value(spot, long.strike, long.right == "C")))


def settlement(spot: float, short: SpreadLeg, long: SpreadLeg) -> float:
    """What the spread costs per share at expiry: short intrinsic - long intrinsic."""
    paid = intrinsic_value(spot, short.strike, short.right == "C")
    got = intrinsic_value(spot, long.strike, long.right == "C")
    return float(paid - got)
