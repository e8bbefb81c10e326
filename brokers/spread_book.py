"""The spreads one broker holds, and the answers the spread protocol gives from them.

Both brokers (``brokers.options_broker`` in backtests, ``brokers.ib_broker`` on IB) keep
their ``SpreadPosition`` objects in a ``SpreadBook``, so the questions a strategy may ask
of either (open and closed spreads, one spread by id, the margin they tie up) and the
money rules every spread follows (unrealized P&L from the mark, realized P&L at the exit,
the dollars it would cost to close them all) are written once. What differs between the
brokers stays with them: where a fill or a mark comes from, cash, and what IB adds
(partial closes, assignments).

Pure Python (no backtrader), like ``brokers.spreads``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from brokers.spreads import SpreadPosition
from core.domain import MULTIPLIER


class SpreadBook:
    """The spreads of one broker by id, open and closed, in the order they were added."""

    def __init__(self, positions: Iterable[SpreadPosition] = ()) -> None:
        self._positions: dict[int, SpreadPosition] = {}
        # ids that may still be open, in book order: ``open()`` is asked several times a
        # bar and scanning every spread ever held made it quadratic in a long backtest
        self._maybe_open: dict[int, SpreadPosition] = {}
        for position in positions:
            self.add(position)

    def __len__(self) -> int:
        return len(self._positions)

    def add(self, position: SpreadPosition) -> SpreadPosition:
        """Hold ``position`` under its id. A position with the same id is replaced: IB
        rebuilds the closed part of a partially closed spread each time another fill of
        the same order arrives."""
        known = position.id in self._positions
        self._positions[position.id] = position
        if position.is_open:
            if known and position.id not in self._maybe_open:
                self._maybe_open = {i: p for i, p in self._positions.items() if p.is_open}
            else:
                self._maybe_open[position.id] = position
        else:
            self._maybe_open.pop(position.id, None)
        return position

    def next_id(self) -> int:
        """The id a new spread gets: one past the largest held (1 for an empty book), so
        ids stay unique across restarts that reload the book from a journal."""
        return max(self._positions, default=0) + 1

    # ------------------------------------------------------------------ queries
    def get(self, position_id: int) -> SpreadPosition | None:
        """One spread by id, open or closed (None when unknown)."""
        return self._positions.get(position_id)

    def opened_by(self, order_ref: str) -> SpreadPosition | None:
        """The spread whose opening order carried ``order_ref`` (IB's ``orderRef``)."""
        return next((p for p in self._positions.values()
                     if p.extra.get("order_ref") == order_ref), None)

    def open(self, underlying: str | None = None) -> list[SpreadPosition]:
        """Spreads still open, optionally only on ``underlying``."""
        for position_id in [i for i, p in self._maybe_open.items() if not p.is_open]:
            del self._maybe_open[position_id]
        return [p for p in self._maybe_open.values() if underlying in (None, p.underlying)]

    def closed(self, underlying: str | None = None) -> list[SpreadPosition]:
        """Spreads closed (bought back, settled at expiry, assigned), optionally only on
        ``underlying``."""
        return [p for p in self._positions.values()
                if not p.is_open and underlying in (None, p.underlying)]

    def reserved_margin(self) -> float:
        """Dollars held as margin by the open spreads."""
        return sum(p.margin for p in self.open())

    def liability(self) -> float:
        """Dollars it would cost to close every open spread at its last mark."""
        liability = 0.0
        for position in self.open():
            liability += position.mark * (MULTIPLIER * position.contracts)
        return liability

    # ------------------------------------------------------------------ money rules
    @staticmethod
    def revalue(position: SpreadPosition) -> None:
        """Unrealized P&L of an open spread from its ``mark``: what closing it there would
        earn after the commissions paid so far."""
        position.unrealized_pnl = ((position.entry_credit - position.mark)
                                   * (MULTIPLIER * position.contracts) - position.commission)

    @staticmethod
    def close(position: SpreadPosition, day: dt.date, debit: float, commission: float,
              reason: str, tag: str) -> None:
        """End ``position`` on ``day`` at ``debit`` per share (0 when assigned, intrinsic
        value at expiry) paying ``commission`` more: realized P&L counts the entry and the
        exit commissions. Margin, days to expiry and cash are the broker's to settle."""
        position.commission += commission
        position.status = "closed"
        position.exit_date, position.exit_debit = day, debit
        position.exit_reason, position.tag = reason, tag
        position.mark = debit
        position.realized_pnl = ((position.entry_credit - debit) * MULTIPLIER
                                 * position.contracts - position.commission)
        position.unrealized_pnl = 0.0
