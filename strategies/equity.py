"""Trade shares from any indicator that has ``direction`` and ``confidence`` lines."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import ClassVar

import backtrader as bt

from indicators.bar_frames import session_date
from strategies.base import SignalStrategy
from strategies.config_rules import FRACTION, SHARE, Rule, check_fields


@dataclass(frozen=True)
class EquityConfig:
    """How the equity strategy turns signal lines into positions (checked when made:
    ``ValueError`` naming the field, see ``strategies.config_rules``)."""

    #: enter only when the signal's confidence is at least this (0..1)
    min_confidence: float = 0.25
    #: share of the portfolio held per symbol when long, split evenly across symbols
    target_percent: float = 0.95
    #: go short on SELL instead of only going flat
    allow_short: bool = False
    #: scale the position by confidence instead of holding the full target
    scale_by_confidence: bool = False

    RULES: ClassVar[dict[str, Rule]] = {"min_confidence": FRACTION, "target_percent": SHARE}

    def __post_init__(self):
        check_fields(self)


#: why backtrader's broker did not fill an order, by status
_NOT_FILLED = {
    bt.Order.Margin: "not enough cash for the shares and the commission (status Margin)",
    bt.Order.Rejected: "rejected by the broker",
    bt.Order.Canceled: "cancelled",
    bt.Order.Expired: "expired",
}


class EquityStrategy(SignalStrategy):
    """Long (optionally short) shares on BUY/SELL, with standard backtrader orders.

    BUY with enough confidence: hold ``target_percent`` of the account value (split evenly
    across the symbols, so one account holds them all, as on IB). SELL: go flat, or short with ``allow_short``. NEUTRAL: keep what is held.
    Orders are market orders filled at the next bar's open (no same-bar lookahead).
    """

    params = (("config", EquityConfig()),)

    def __init__(self):
        super().__init__()
        self._side = {data: 0 for data in self.datas}  # +1 long, 0 flat, -1 short
        self._side_before = dict(self._side)
        self._pending = {data: None for data in self.datas}
        #: orders the broker did not fill (margin, rejected, ...), with the reason, and
        #: entries that came to no whole share, as the backtest's warnings report them
        self.rejections: list[str] = []
        self.skipped: list[str] = []
        #: BUY/SELL calls met while flat that opened nothing, by reason: a run that never
        #: trades says why (a long-only strategy shown only SELL calls, say)
        self.unacted: collections.Counter[str] = collections.Counter()

    def start(self):
        """Start from the side the broker holds: flat in a backtest, but a paper run
        restarted on an account holding shares must be able to sell them on a SELL call
        (and not buy them again on a BUY call)."""
        for data in self.datas:
            side = _sign(self.getposition(data).size)
            self._side[data] = self._side_before[data] = side

    def _wanted_side(self, direction: float, confidence: float, side: int) -> int:
        cfg = self.p.config
        if direction > 0 and confidence >= cfg.min_confidence:
            return 1
        if direction < 0:
            return -1 if cfg.allow_short and confidence >= cfg.min_confidence else 0
        return side

    def _unacted_reason(self, direction: float) -> str:
        """Why a BUY or SELL call met while flat opened nothing."""
        cfg = self.p.config
        if direction < 0 and not cfg.allow_short:
            return "SELL while flat (shorting is off: --allow-short)"
        return (f"{'BUY' if direction > 0 else 'SELL'} below --min-confidence "
                f"{cfg.min_confidence:g}")

    def next(self):
        fresh = self.fresh_datas()  # also while warming up: a warm-up bar is never fresh later
        if self.warming_up():
            return
        cfg = self.p.config
        share = cfg.target_percent / len(self.datas)
        for data, signal in self.signals.items():
            if data not in fresh or self._pending[data] is not None:
                continue
            confidence = signal.confidence[0]
            direction = signal.direction[0]
            side = self._wanted_side(direction, confidence, self._side[data])
            if side == self._side[data]:
                if side == 0 and direction:
                    self.unacted[self._unacted_reason(direction)] += 1
                continue
            size = share * (confidence if cfg.scale_by_confidence else 1.0)
            order = self.order_target_percent(data=data, target=side * size)
            if order is None and side:  # the target is less than one share: nothing held
                self.skipped.append(
                    f"{data._name}: {size * 100:.3g}% of the account "  # 0.38%, not 0%
                    f"({size * self.broker.getvalue():,.2f}) "
                    f"is less than one share at {data.close[0]:,.2f} on "
                    f"{session_date(data):%Y-%m-%d}")
                continue
            self._side_before[data], self._side[data] = self._side[data], side
            self._pending[data] = order

    def _adopt(self, order) -> None:
        """An order a paper run took over from its earlier process (still working at IB)
        is this symbol's pending order: no second one is sent while it works, and the side
        goes back to the one held if it ends unfilled."""
        data = order.data
        held = self.getposition(data).size
        self._side_before[data] = _sign(held)
        self._side[data] = _sign(held + order.executed.remsize)
        self._pending[data] = order

    def notify_order(self, order):
        if order.status in (order.Submitted, order.Accepted, order.Partial):
            if order.info.get("adopted") and self._pending.get(order.data, 0) is None:
                self._adopt(order)
            return
        pending = self._pending[order.data]
        if pending is not None and pending.ref != order.ref:
            return  # news of an earlier order (filled after its end): the pending one decides
        if pending is None:
            # the order had ended already and is told again (a paper broker told the cancel
            # before the fill the exchange made first): the side is the one now held
            self._side[order.data] = self._side_before[order.data] = _sign(
                self.getposition(order.data).size)
            return
        if order.status in (order.Canceled, order.Margin, order.Rejected, order.Expired):
            # not filled: back to the side actually held, so a later bar may try again
            self._side[order.data] = self._side_before[order.data]
            self.rejections.append(
                f"{order.data._name}: {'buy' if order.isbuy() else 'sell'} of "
                f"{abs(order.created.size):g} shares on {session_date(order.data):%Y-%m-%d}: "
                f"{_NOT_FILLED.get(order.status, order.getstatusname())}")
        self._pending[order.data] = None


def _sign(size: float) -> int:
    """+1 long, -1 short, 0 flat."""
    return (size > 0) - (size < 0)
