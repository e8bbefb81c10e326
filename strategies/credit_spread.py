"""Sell vertical credit spreads from any indicator that has a ``signal`` line.

``signal`` 2 (put credit spread, bullish) sells a put spread, 1 (call credit spread,
bearish) sells a call spread, 0 holds. If the indicator also has a ``regime`` line, the
regimes in ``skip_regimes`` open nothing new. The strategy asks the broker by intent
(``brokers.spreads.SpreadRequest``), so it runs unchanged on any broker that implements
the spread protocol (the simulated ``OptionsBroker`` now, the IB broker later).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from brokers.spreads import SpreadRequest
from core.domain import CALL_CREDIT_SPREAD, MULTIPLIER, PUT_CREDIT_SPREAD, REGIME_NAMES
from indicators.bar_frames import session_date
from pricing.contracts import default_width
from strategies.base import SignalStrategy
from strategies.config_rules import AT_LEAST_0, AT_LEAST_1, SHARE, Rule, check_fields

#: which spread each ``signal`` value sells (hold sells nothing)
KIND_FOR_SIGNAL = {PUT_CREDIT_SPREAD: "put_credit", CALL_CREDIT_SPREAD: "call_credit"}

#: what each field of ``CreditSpreadConfig`` must be for the strategy to trade with it
CREDIT_SPREAD_RULES = {
    "target_delta": Rule(lambda v: 0.0 < v < 1.0, "between 0 and 1"),
    "width": Rule(lambda v: v is None or v > 0.0, "positive (or none: one strike step)"),
    "dte_min": AT_LEAST_0,
    "dte_max": AT_LEAST_1,
    "profit_take": SHARE,
    "stop_multiple": Rule(lambda v: v > 1.0,
                          "above 1 (the cost to close starts near the credit)"),
    "close_days_before_expiry": AT_LEAST_0,
    "max_open_spreads": AT_LEAST_1,
    "entry_spacing": AT_LEAST_1,
    "risk_per_trade": SHARE,
    "max_portfolio_risk": SHARE,
    "skip_regimes": Rule(lambda v: all(0 <= r < len(REGIME_NAMES) for r in v),
                         f"regime indices from 0 to {len(REGIME_NAMES) - 1}"),
}


@dataclass(frozen=True)
class CreditSpreadConfig:
    """Entry, exit and sizing rules of the credit-spread strategy (checked when made:
    ``ValueError`` naming the field, see ``strategies.config_rules``)."""

    #: short leg's |delta| target
    target_delta: float = 0.30
    #: distance between the strikes in dollars; None = one strike step of the listed grid
    #: (``pricing.contracts.strike_step``), at least $5
    width: float | None = None
    #: days-to-expiry window of the expiry to sell
    dte_min: int = 30
    dte_max: int = 45
    #: buy back when the spread has lost this share of its credit (0.5 = keep 50 %)
    profit_take: float = 0.50
    #: buy back when the cost to close reaches this multiple of the credit received
    stop_multiple: float = 2.0
    #: buy back this many calendar days before expiry (0 = hold to expiry settlement)
    close_days_before_expiry: int = 5
    #: open spreads at most, per symbol
    max_open_spreads: int = 3
    #: sessions to wait between two new spreads on the same symbol
    entry_spacing: int = 5
    #: dollars at risk per new spread as a fraction of the account value, counted on the
    #: full width (width x 100 x contracts: the credit is not known before the fill), so the
    #: max loss, (width - credit) x 100 x contracts, is below it
    risk_per_trade: float = 0.02
    #: the max losses of all open spreads together (every symbol of the account, pending
    #: openings counted at their full width) as a fraction of the account value; a new
    #: spread is made smaller, or skipped, to stay under it
    max_portfolio_risk: float = 0.30
    #: regimes (indices into ``core.domain.REGIME_NAMES``) that open nothing new
    skip_regimes: tuple[int, ...] = ()

    RULES: ClassVar[dict[str, Rule]] = CREDIT_SPREAD_RULES

    def __post_init__(self):
        check_fields(self)
        if self.dte_min > self.dte_max:
            raise ValueError(f"dte_min={self.dte_min} is above dte_max={self.dte_max}")
        if 0 < self.dte_max <= self.close_days_before_expiry:
            # a spread opens with at most dte_max days left, so the time exit would buy
            # every one back at its first check: a run of commissions and spreads paid
            raise ValueError(f"close_days_before_expiry={self.close_days_before_expiry} is "
                             f"not below dte_max={self.dte_max}: every spread would be "
                             "bought back at its first check (0 holds to expiry)")

    def contracts_for(self, account_value: float, width: float, risk_held: float = 0.0) -> int:
        """Contracts of a new spread ``width`` dollars wide, sized on its full width
        (``width`` x 100 a contract: its credit, which lowers the max loss, is not known
        until the fill) within ``risk_per_trade`` of ``account_value``, and with
        ``risk_held`` (the max losses already open) within ``max_portfolio_risk`` of it."""
        budget = min(self.risk_per_trade * account_value,
                     self.max_portfolio_risk * account_value - risk_held)
        return int(budget // (width * MULTIPLIER)) if budget > 0 else 0

    def sizing_refusal(self, cash: float, width: float) -> str | None:
        """Why an account starting with ``cash`` can never size a spread ``width`` wide
        (None when it can): the account has no other way to grow, so every entry would
        be skipped and the run would report an idle 0.00 %."""
        if self.contracts_for(cash, width) >= 1:
            return None
        shares = (("risk_per_trade", self.risk_per_trade),
                  ("max_portfolio_risk", self.max_portfolio_risk))
        name, share = min(shares, key=lambda item: item[1])
        at = f"width={width:g}" if self.width else f"the default width {width:g}"
        full = width * MULTIPLIER
        return (f"{name}={share:g} of {cash:,.2f} cash is {share * cash:,.2f}, less than one "
                f"contract's full width at {at} ({full:,.2f}, what a spread is sized on): no "
                f"spread can ever be sized; raise {_what_sizes(shares, full, cash)}"
                # the default width is one strike step: no chain lists a narrower spread
                + (", or sell narrower spreads" if self.width else ""))


def _what_sizes(shares, full: float, cash: float) -> str:
    """What would size one contract ``full`` dollars wide: each share of ``shares`` (name,
    value) below ``full / cash`` raised to it (no share may pass 1), or the cash."""
    needed = full / cash
    more_cash = f"the cash to at least {full / min(v for _, v in shares):,.2f}"
    if needed > 1:
        return more_cash
    low = [(name, value) for name, value in shares if value < needed]
    which = "it" if len(low) == 1 else " and ".join(f"{n}={v:g}" for n, v in low)
    return f"{which} to at least {needed:.3g} or {more_cash}"


class CreditSpreadStrategy(SignalStrategy):
    """Put credit spreads on bullish signals, call credit spreads on bearish ones.

    Sized by the account: a new spread risks ``risk_per_trade`` of the account value, at
    most ``max_open_spreads`` are open per symbol, and the max losses of every open spread
    of the account stay under ``max_portfolio_risk`` of its value, so several symbols in
    one account (a portfolio backtest, a paper run on IB) share one budget.
    """

    params = (("config", CreditSpreadConfig()),)

    def __init__(self):
        super().__init__()
        self._last_entry = {data: -10**9 for data in self.datas}
        self._pending_open = {data: None for data in self.datas}
        self._closing: set[int] = set()
        self.rejections: list[str] = []
        #: entries the risk budget sized to no contract (reported when nothing traded)
        self.skipped: list[str] = []

    def next(self):
        fresh = self.fresh_datas()  # also while warming up: a warm-up bar is never fresh later
        if self.warming_up():
            return
        for data in fresh:
            self._manage_exits(data)
            self._maybe_enter(data)

    def _manage_exits(self, data) -> None:
        cfg = self.p.config
        for spread in self.broker.open_spreads(data._name):
            if spread.id in self._closing:
                continue
            tag = None
            if spread.mark <= (1.0 - cfg.profit_take) * spread.entry_credit:
                tag = "profit_take"
            elif spread.mark >= cfg.stop_multiple * spread.entry_credit:
                tag = "stop_loss"
            elif cfg.close_days_before_expiry and spread.dte <= cfg.close_days_before_expiry:
                tag = "time_exit"
            if tag:
                self._closing.add(spread.id)
                self.broker.close_spread(self, spread.id, tag=tag)

    def _maybe_enter(self, data) -> None:
        cfg = self.p.config
        signal = self.signals[data]
        value = signal.signal[0]
        wanted = None if math.isnan(value) else KIND_FOR_SIGNAL.get(int(value))
        if wanted is None or self._pending_open[data] is not None:
            return
        if hasattr(signal.lines, "regime") and int(signal.regime[0]) in cfg.skip_regimes:
            return
        if len(data) - self._last_entry[data] < cfg.entry_spacing:
            return
        if len(self.broker.open_spreads(data._name)) >= cfg.max_open_spreads:
            return
        width = cfg.width or default_width(data.close[0])
        value, held = self.broker.getvalue(), self.portfolio_risk()
        contracts = cfg.contracts_for(value, width, held)
        if contracts < 1:
            self.skipped.append(
                f"{data._name}: no contract of a {width:g}-wide spread fits the risk budget "
                f"(risk_per_trade={cfg.risk_per_trade:g}, max_portfolio_risk="
                f"{cfg.max_portfolio_risk:g} of {value:,.2f}, {held:,.2f} already at risk) on "
                f"{session_date(data):%Y-%m-%d}")
            return
        request = SpreadRequest(underlying=data._name, kind=wanted,
                                target_delta=cfg.target_delta, width=width,
                                dte_min=cfg.dte_min, dte_max=cfg.dte_max, contracts=contracts)
        self._last_entry[data] = len(data)
        self._pending_open[data] = self.broker.open_credit_spread(self, data, request)

    def portfolio_risk(self) -> float:
        """Dollars the account may lose on its spreads: every open spread's max loss, plus
        each pending opening's width x 100 x contracts (its credit is not known yet)."""
        risk = sum(spread.max_loss for spread in self.broker.open_spreads())
        for order in self._pending_open.values():
            if order is not None:
                request = order.info["request"]
                risk += request.width * MULTIPLIER * request.contracts
        return risk

    def _adopt(self, order) -> None:
        """A spread order a paper run took over from its earlier process (still working at
        IB): an opening is the symbol's pending opening (no second one while it works, its
        risk counted), a close keeps its spread from being closed twice."""
        info = order.info
        if info.get("action") == "open" and self._pending_open.get(order.data, 0) is None:
            self._pending_open[order.data] = order
        elif info.get("action") == "close":
            self._closing.add(info.get("position_id"))

    def notify_order(self, order):
        info = order.info
        if order.status in (order.Submitted, order.Accepted):
            if info.get("adopted"):
                self._adopt(order)
            return
        pending = self._pending_open.get(order.data)
        # brokers notify with clones of the order: compare references, not identity
        if info.get("action") == "open" and pending is not None and pending.ref == order.ref:
            self._pending_open[order.data] = None
        if info.get("action") == "close" and order.status != order.Completed:
            self._closing.discard(info.get("position_id"))
        if order.status in (order.Rejected, order.Margin, order.Expired):
            self.rejections.append(f"{order.data._name}: {info.get('reason', 'rejected')}")
