"""Each symbol's share of one account's P&L, bar by bar (portfolio backtests).

In one account the symbols share cash, so the broker's value alone cannot say which symbol
made what. This analyzer follows the money of each symbol: its shares (every fill's cash,
commissions included, plus the position at the bar's close) and its credit spreads
(realized P&L of the closed ones, unrealized P&L of the open ones at their marks, both
after commissions). Nothing else moves an account's cash in a backtest, so on every bar
the symbols' P&L adds up to the account's value minus its starting cash.
"""

from __future__ import annotations

import backtrader as bt
import pandas as pd

from analyzers.bar_date import bar_date


class SymbolPnL(bt.Analyzer):
    """Cumulative P&L per symbol (columns) and bar (rows, the account's calendar)."""

    def start(self):
        self._share_cash = {data._name: 0.0 for data in self.strategy.datas}
        self._order_cash: dict[int, float] = {}
        self.rows: dict = {}

    def notify_order(self, order):
        if order.status not in (order.Partial, order.Completed) or not order.executed.size:
            return  # spread orders carry no share size: their P&L comes from the broker
        executed = order.executed
        paid = executed.size * executed.price + executed.comm  # cumulative for this order
        name = order.data._name
        self._share_cash[name] -= paid - self._order_cash.get(order.ref, 0.0)
        self._order_cash[order.ref] = paid

    def next(self):
        broker = self.strategy.broker
        row = {}
        for data in self.strategy.datas:
            size = broker.getposition(data).size
            row[data._name] = self._share_cash[data._name] + (size * data.close[0] if size
                                                               else 0.0)
        if hasattr(broker, "closed_spreads"):
            for spread in broker.closed_spreads():
                row[spread.underlying] = row.get(spread.underlying, 0.0) + spread.realized_pnl
            for spread in broker.open_spreads():
                row[spread.underlying] = (row.get(spread.underlying, 0.0)
                                          + spread.unrealized_pnl)
        self.rows[bar_date(self.strategy.datetime)] = row

    def get_analysis(self) -> pd.DataFrame:
        frame = pd.DataFrame.from_dict(self.rows, orient="index")
        frame.index = pd.DatetimeIndex(frame.index, name="date")
        return frame.reindex(columns=[d._name for d in self.strategy.datas]).fillna(0.0)
