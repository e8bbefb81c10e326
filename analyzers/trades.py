"""Every round-trip trade as a row (backtrader's TradeAnalyzer only keeps totals)."""

from __future__ import annotations

import backtrader as bt
import pandas as pd

TRADE_COLUMNS = ("symbol", "status", "entry_date", "exit_date", "side", "size", "entry_price",
                 "exit_price", "pnl", "pnl_net", "commission", "bars_held")


class TradeList(bt.Analyzer):
    """Closed trades as they close, plus any still open at the end (status ``open``).

    backtrader zeroes a trade's size when it closes and keeps no exit price unless trade
    history is on, so the largest size seen while the trade was open is recorded, and the
    exit price is the average one that explains the trade's gross P&L:
    ``entry + pnl / signed size``.

    backtrader fills a trade's P&L and bars held only when it closes; a trade still open at
    the end is marked at the last close instead (P&L realized so far plus the open size's
    unrealized, net of the commission paid, bars held up to the last bar), as the account
    value is: its row read 0 and 0 while the whole return came from it."""

    def start(self):
        self.rows: list[dict] = []
        self._open: dict[int, bt.Trade] = {}
        self._size: dict[int, float] = {}

    def notify_trade(self, trade):
        if trade.isopen:
            self._open[trade.ref] = trade
            self._size[trade.ref] = max(self._size.get(trade.ref, 0.0), abs(trade.size))
            return
        if trade.isclosed:
            self._open.pop(trade.ref, None)
            self.rows.append(self._row(trade, "closed", self._size.pop(trade.ref, 0.0)))

    @staticmethod
    def _row(trade, status: str, size: float) -> dict:
        exit_price = None
        if trade.isclosed and size:
            signed = size if trade.long else -size
            exit_price = trade.price + trade.pnl / signed
        return {
            "symbol": trade.data._name,
            "status": status,
            "entry_date": bt.num2date(trade.dtopen).date(),
            "exit_date": bt.num2date(trade.dtclose).date() if trade.isclosed else None,
            "side": "long" if trade.long else "short",
            "size": size,
            "entry_price": trade.price,
            "exit_price": exit_price,
            "pnl": trade.pnl,
            "pnl_net": trade.pnlcomm,
            "commission": trade.commission,
            "bars_held": trade.barlen,
        }

    def stop(self):
        for trade in self._open.values():
            row = self._row(trade, "open", self._size.get(trade.ref, abs(trade.size)))
            unrealized = trade.size * (trade.data.close[0] - trade.price)
            row.update(pnl=trade.pnl + unrealized,
                       pnl_net=trade.pnl + unrealized - trade.commission,
                       bars_held=len(trade.data) - trade.baropen)
            self.rows.append(row)

    def get_analysis(self):
        return pd.DataFrame(self.rows, columns=list(TRADE_COLUMNS))
