"""The spread protocol: what a strategy asks for, and what a broker hands back.

A strategy asks for a vertical credit spread by intent (``SpreadRequest``: which side,
short leg near a delta or a distance out of the money, width, days to expiry, size, an
optional limit) and never by contract symbols, so the same strategy runs on the simulated
broker (``brokers.options_broker.OptionsBroker``) and on a live broker that resolves the
legs from its own chain. Both report through backtrader's ``notify_order`` and keep their
open and closed spreads as ``SpreadPosition`` records the strategy can query.

Method names every spread broker implements (``SpreadBroker``)::

    open_credit_spread(strategy, data, request) -> order
    close_spread(strategy, position_id, tag="close") -> order
    open_spreads(underlying=None) -> list[SpreadPosition]
    closed_spreads(underlying=None) -> list[SpreadPosition]
    get_spread(position_id) -> SpreadPosition | None
    reserved_margin() -> float

The returned order is a backtrader order: ``order.info`` carries ``request``,
``position_id`` (once known), ``reason`` (why it was rejected, expired or cancelled) and the
fill (``credit`` or ``debit`` per share, ``commission``).

One fill rule both brokers can follow: legs are chosen on the request bar; the order is a
limit at the request bar's natural price (credit short bid - long ask to open, debit short
ask - long bid to close, rounded to the cent) that fills on the next bar at that bar's
natural price if it reaches the limit, else it expires (status Expired). The IB broker
always trades this way (``spread_order_bars=1``); the simulated broker does with
``quote_limits=True`` and by default fills at the next bar's price whatever it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from core.domain import MULTIPLIER

SpreadKind = Literal["put_credit", "call_credit"]
KINDS: tuple[str, ...] = ("put_credit", "call_credit")


@dataclass(frozen=True)
class SpreadRequest:
    """A vertical credit spread asked for by intent; the broker picks the contracts.

    The short leg is the contract of the chosen expiry whose |delta| is closest to
    ``target_delta``, or, when ``otm_pct`` is set, whose strike is closest to
    ``spot * (1 -/+ otm_pct)`` (puts below, calls above the price). The long leg is
    ``width`` further out of the money. The expiry is the listed one with days to expiry in
    ``[dte_min, dte_max]`` closest to the middle of that window. ``limit_credit`` (per
    share) or ``mid_allowance`` (limit = mid credit at request time minus the allowance)
    make it a limit order; with neither, the fill rule's price is accepted.
    """

    underlying: str
    kind: SpreadKind = "put_credit"
    target_delta: float = 0.30
    otm_pct: float | None = None
    width: float = 5.0
    dte_min: int = 30
    dte_max: int = 45
    contracts: int = 1
    limit_credit: float | None = None
    mid_allowance: float | None = None

    @property
    def right(self) -> str:
        """'P' for put credit spreads, 'C' for call credit spreads."""
        return "P" if self.kind == "put_credit" else "C"

    def problems(self) -> list[str]:
        """Why this request cannot be placed at all (empty when it is well formed).

        Checked by the broker, which rejects the order with these reasons instead of
        raising inside the strategy's ``next``.
        """
        out = []
        if self.kind not in KINDS:
            out.append(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if not isinstance(self.contracts, int) or self.contracts <= 0:
            out.append(f"contracts must be a positive whole number, got {self.contracts!r}")
        if not self.width > 0:
            out.append(f"width must be positive, got {self.width}")
        if self.otm_pct is None and not 0.0 < self.target_delta < 1.0:
            out.append(f"target_delta must be between 0 and 1, got {self.target_delta}")
        if self.otm_pct is not None and not 0.0 <= self.otm_pct < 1.0:
            out.append(f"otm_pct must be in [0, 1), got {self.otm_pct}")
        if not 0 <= self.dte_min <= self.dte_max:
            out.append(f"need 0 <= dte_min <= dte_max, got {self.dte_min}..{self.dte_max}")
        if self.limit_credit is not None and self.mid_allowance is not None:
            out.append("set limit_credit or mid_allowance, not both")
        return out


@dataclass(frozen=True)
class SpreadLeg:
    """One option of a spread: ``ratio`` +1 bought (long), -1 sold (short), per spread."""

    symbol: str
    expiry: dt.date
    strike: float
    right: str
    ratio: int


@dataclass(frozen=True)
class LegFill:
    """One leg's share of a spread fill: ``quantity`` contracts signed (+ bought, - sold),
    at ``price`` per share (the dollar value is ``quantity * price * 100``)."""

    date: dt.date
    symbol: str
    quantity: int
    price: float
    reason: str


@dataclass
class SpreadPosition:
    """An open or closed credit spread, all money in dollars except per-share prices.

    ``entry_credit``, ``mark`` and ``exit_debit`` are per share (multiply by
    ``MULTIPLIER * contracts`` for dollars). ``mark`` is the cost to close at mid prices
    (short mid - long mid) as of the last bar. ``unrealized_pnl`` is
    ``(entry_credit - mark) * 100 * contracts - commission`` while open, so that the
    broker value moves by exactly that amount; ``realized_pnl`` is
    ``(entry_credit - exit_debit) * 100 * contracts - commission`` once closed, where
    ``commission`` counts entry and exit. ``leg_marks`` maps each leg's OCC symbol to
    its last mid (per share) and ``leg_fills`` lists every leg transaction (open, close,
    expiry), which is how pyfolio sees the option legs as positions and transactions.
    """

    id: int
    underlying: str
    kind: str
    short: SpreadLeg
    long: SpreadLeg
    contracts: int
    entry_date: dt.date
    entry_credit: float
    commission: float
    margin: float
    mark: float
    dte: int
    status: str = "open"
    unrealized_pnl: float = 0.0
    realized_pnl: float = 0.0
    exit_date: dt.date | None = None
    exit_debit: float | None = None
    exit_reason: str | None = None
    tag: str = ""
    leg_marks: dict[str, float] = field(default_factory=dict)
    leg_fills: list[LegFill] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> float:
        """Distance between the strikes, per share."""
        return abs(self.short.strike - self.long.strike)

    @property
    def expiry(self) -> dt.date:
        return self.short.expiry

    @property
    def max_loss(self) -> float:
        """Worst loss at expiry before commissions: (width - credit) x 100 x contracts."""
        return (self.width - self.entry_credit) * MULTIPLIER * self.contracts

    @property
    def is_open(self) -> bool:
        return self.status == "open"


def spread_margin(width: float, credit: float, contracts: int) -> float:
    """Margin a vertical credit spread ties up: (width - credit) x 100 x contracts."""
    return max(width - credit, 0.0) * MULTIPLIER * contracts


@runtime_checkable
class SpreadBroker(Protocol):
    """What a strategy may call on any broker that trades spreads (sim or live)."""

    def open_credit_spread(self, strategy: Any, data: Any, request: SpreadRequest) -> Any:
        """Place a credit spread; the order reports through ``notify_order``."""

    def close_spread(self, strategy: Any, position_id: int, tag: str = "close") -> Any:
        """Buy back an open spread; ``tag`` records why (e.g. 'profit_take')."""

    def open_spreads(self, underlying: str | None = None) -> list[SpreadPosition]:
        """Spreads still open, optionally only on ``underlying``."""

    def closed_spreads(self, underlying: str | None = None) -> list[SpreadPosition]:
        """Spreads closed by the strategy or settled at expiry."""

    def get_spread(self, position_id: int) -> SpreadPosition | None:
        """One spread by id, open or closed."""

    def reserved_margin(self) -> float:
        """Dollars held as margin by the open spreads."""
