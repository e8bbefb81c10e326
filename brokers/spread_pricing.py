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
from pricing.contracts import occ_symbol

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


def _pick_expiry(expiries: np.ndarray, dtes: np.ndarray, dte_min: int, dte_max: int):
    """The expiry with dte in [dte_min, dte_max] closest to the window's middle (the earlier
    one on a tie); ``expiries`` sorted ascending, one entry each."""
    inside = (dtes >= dte_min) & (dtes <= dte_max)
    candidates = inside.nonzero()[0]
    if not len(candidates):
        listed = ", ".join(str(int(d)) for d in sorted(set(dtes.tolist())))
        raise SpreadRejected(f"no expiry with {dte_min}-{dte_max} days to expiry "
                             f"(listed dte: {listed})")
    middle = 0.5 * (dte_min + dte_max)
    return expiries[candidates[int(np.abs(dtes[candidates] - middle).argmin())]]


def choose_expiry(frame: pd.DataFrame, dte_min: int, dte_max: int) -> pd.Timestamp:
    """The listed expiry with dte in [dte_min, dte_max] closest to the window's middle
    (the earlier one on a tie)."""
    expiry = frame["expiry"].to_numpy(dtype="datetime64[ns]")
    dte = frame["dte"].to_numpy()
    unique, first = np.unique(expiry, return_index=True)
    return pd.Timestamp(_pick_expiry(unique, dte[first], dte_min, dte_max))


def _pick_strikes(strikes: np.ndarray, deltas: np.ndarray, request: SpreadRequest,
                  spot: float, expiry) -> tuple[float, float]:
    """Short and long strike of ``request`` among one expiry's listed strikes of its side.

    Ties (two strikes equally close to the target) go to the one further out of the
    money, the more conservative choice.
    """
    right = request.right
    if len(strikes) == 0:  # a grid too coarse for the price lists none on this side
        raise SpreadRejected(f"no {'put' if right == 'P' else 'call'} strikes listed for "
                             f"{expiry} near the price {spot:g}")
    order = strikes.argsort(kind="stable")
    ascending = strikes[order]
    if right == "C":
        order = order[::-1]  # most OTM first
    strikes, deltas = strikes[order], deltas[order]
    if request.otm_pct is not None:
        sign = -1.0 if right == "P" else 1.0
        distance = np.abs(strikes - spot * (1.0 + sign * request.otm_pct))
    else:
        distance = np.abs(np.abs(deltas) - request.target_delta)
    short = float(strikes[int(distance.argmin())])  # argmin keeps the first (most OTM)
    step = float((ascending[1:] - ascending[:-1]).min()) if len(strikes) > 1 else np.inf
    if request.width < step - _EPS:
        raise SpreadRejected(f"width {request.width:g} is below the strike grid step {step:g}")
    long = short + (-request.width if right == "P" else request.width)
    match = (np.abs(strikes - long) < _EPS).nonzero()[0]
    if len(match) == 0:
        raise SpreadRejected(f"long strike {long:g} is not listed for "
                             f"{pd.Timestamp(expiry):%Y-%m-%d} (strike step {step:g}, "
                             f"short strike {short:g})")
    return short, float(strikes[int(match[0])])


def resolve_legs(frame: pd.DataFrame, request: SpreadRequest,
                 spot: float) -> tuple[SpreadLeg, SpreadLeg]:
    """Short and long leg of ``request`` from one date's chain ``frame``."""
    expiry = choose_expiry(frame, request.dte_min, request.dte_max)
    legs = frame[(frame["expiry"] == expiry) & (frame["right"] == request.right)]
    short, long = _pick_strikes(legs["strike"].to_numpy(dtype=float),
                                legs["delta"].to_numpy(dtype=float), request, spot, expiry)
    symbols = dict(zip(legs["strike"].to_numpy(dtype=float), legs["symbol"], strict=True))
    day = expiry.date()
    return (SpreadLeg(str(symbols[short]), day, short, request.right, -1),
            SpreadLeg(str(symbols[long]), day, long, request.right, +1))


def resolve_on_chain(chain, date, request: SpreadRequest) -> tuple[SpreadLeg, SpreadLeg]:
    """``resolve_legs`` on ``chain``'s listing of ``date``: through its numpy path
    (``listed`` / ``strikes_and_deltas``) when it has one, the same legs as the whole
    chain's frame would give, else through the frame."""
    listed = getattr(chain, "listed", None)
    if listed is None:
        frame = chain.chain(date)
        return resolve_legs(frame, request, float(frame["underlying"].iloc[0]))
    expiries, dtes = listed(date)
    expiry = _pick_expiry(expiries, dtes, request.dte_min, request.dte_max)
    strikes, deltas = chain.strikes_and_deltas(date, expiry, request.right)
    short, long = _pick_strikes(strikes, deltas, request, chain.spot(date), expiry)
    day = np.datetime64(expiry, "D").item()  # the expiry as a date
    return (SpreadLeg(occ_symbol(chain.symbol, day, request.right, short), day, short,
                      request.right, -1),
            SpreadLeg(occ_symbol(chain.symbol, day, request.right, long), day, long,
                      request.right, +1))


def leg_quote(chain, date, leg: SpreadLeg) -> Quote:
    """Quote ``leg`` on ``date`` with ``OptionChain.quote``: the same model as the listed
    chain, and it also prices a contract that drifted off the listed strikes."""
    fast = getattr(chain, "quote_prices", None)
    if fast is not None:
        return Quote(*fast(date, leg.expiry, leg.strike, leg.right))
    row = chain.quote(date, leg.expiry, leg.strike, leg.right)
    return Quote(float(row["bid"]), float(row["ask"]), float(row["mid"]))


def spread_quotes(chain, date, short: SpreadLeg, long: SpreadLeg) -> tuple[Quote, Quote]:
    """Both legs' quotes on ``date``, in one vectorised call where the chain has one."""
    return spreads_quotes(chain, date, [_Legs(short, long)])[0]


class _Legs:
    """A (short, long) pair in the shape of a position, for ``spreads_quotes``."""

    __slots__ = ("short", "long")

    def __init__(self, short: SpreadLeg, long: SpreadLeg) -> None:
        self.short, self.long = short, long


def spreads_quotes(chain, date, spreads) -> list[tuple[Quote, Quote]]:
    """``(short, long)`` quotes of every spread in ``spreads`` (objects with ``short`` and
    ``long`` legs) on ``date``: one vectorised chain call where the chain has
    ``quote_arrays``, else a quote per leg."""
    fast = getattr(chain, "quote_arrays", None)
    if fast is None:
        return [(leg_quote(chain, date, s.short), leg_quote(chain, date, s.long))
                for s in spreads]
    legs = [leg for s in spreads for leg in (s.short, s.long)]
    q = fast(date, [leg.expiry for leg in legs], [leg.strike for leg in legs],
             [leg.right == "C" for leg in legs])
    bid, ask, mid = q["bid"].tolist(), q["ask"].tolist(), q["mid"].tolist()
    quotes = [Quote(b, a, m) for b, a, m in zip(bid, ask, mid, strict=True)]
    return [(quotes[2 * i], quotes[2 * i + 1]) for i in range(len(spreads))]


class LifeQuotes:
    """One spread's quotes on every day its chain has from a first day through the
    expiry, from one ``life_table`` call for both legs (the numbers ``spreads_quotes``
    gives day by day, which tests hold equal). The simulated broker prices a spread's
    fills and marks from it instead of one chain call per bar; ``get`` answers one day at
    a time, so no later quote can reach an earlier decision."""

    def __init__(self, chain, start, short: SpreadLeg, long: SpreadLeg) -> None:
        self._row_of = chain.session_row
        self._first, table = chain.life_table(start, short.expiry,
                                              [short.strike, long.strike],
                                              [short.right == "C", long.right == "C"])
        self._sessions = table["mid"].shape[1]
        (self._sb, self._lb), (self._sa, self._la), (self._sm, self._lm) = (
            table["bid"].tolist(), table["ask"].tolist(), table["mid"].tolist())

    def get(self, day) -> tuple[Quote, Quote] | None:
        """``(short, long)`` quotes on ``day``, None for a day outside the table."""
        i = self._row_of(day)
        if i is None:
            return None
        i -= self._first
        if not 0 <= i < self._sessions:
            return None
        return (Quote(self._sb[i], self._sa[i], self._sm[i]),
                Quote(self._lb[i], self._la[i], self._lm[i]))


def life_quotes(chain, start, short: SpreadLeg, long: SpreadLeg) -> LifeQuotes | None:
    """``LifeQuotes`` of a spread from ``start``, None for a chain without ``life_table``."""
    if getattr(chain, "life_table", None) is None:
        return None
    return LifeQuotes(chain, start, short, long)


def open_credit(short: Quote, long: Quote, fill: str, slippage: float) -> float:
    """Credit per share received for selling the spread by the fill rule."""
    if fill == "natural":
        return short.bid - long.ask
    return short.mid - long.mid - slippage


def mid_credit(short: Quote, long: Quote) -> float:
    """Credit per share at mid prices, what ``mid_allowance`` limits are measured from."""
    return short.mid - long.mid


def close_debit(short: Quote, long: Quote, fill: str, slippage: float,
                width: float) -> float:
    """Debit per share paid to buy the spread back by the fill rule, at most ``width``.

    A vertical is never worth more than its width (what it pays at most at expiry), so
    nobody pays more to buy it back; wide quotes of two legs deep in the money can put
    the natural debit (short ask - long bid) above it, as mid plus slippage can. The
    width is required: the broker and the strategy labels (``training.labels``) price a
    close alike, and the labels once kept the uncapped debit."""
    debit = short.ask - long.bid if fill == "natural" else short.mid - long.mid + slippage
    return min(debit, width)


def leg_prices(short: Quote, long: Quote, fill: str, slippage: float,
               opening: bool, width: float) -> tuple[float, float]:
    """Per-share price of each leg of a fill, so that short - long is exactly the credit
    (``opening``) or debit of ``open_credit``/``close_debit``; mid fills split the
    slippage evenly between the legs, and a closing debit capped at ``width`` takes what
    it saves off evenly too. Used to book each leg as its own transaction."""
    if fill == "natural":
        prices = (short.bid, long.ask) if opening else (short.ask, long.bid)
    else:
        half = slippage / 2.0
        prices = ((short.mid - half, long.mid + half) if opening
                  else (short.mid + half, long.mid - half))
    excess = prices[0] - prices[1] - width
    if opening or excess <= 0.0:
        return prices
    return prices[0] - excess / 2.0, prices[1] + excess / 2.0


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
