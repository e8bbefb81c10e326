"""Every round-trip trade as a row (backtrader's TradeAnalyzer only keeps totals)."""

from __future__ import annotations

import backtrader as bt
import pandas as pd

TRADE_COLUMNS = ("symbol", "status", "entry_date", "exit_date", "side", "size", "entry_price",
                 "exit_price", "pnl", "pnl_net", "commission", "bars_held")


class TradeList(bt.Analyzer):
    """Closed trades as they close, plus any still open at the end (status ``open``)."""

    def start(self):
        self.rows: list[dict] = []
        self._open: dict[int, bt.Trade] = {}

    def notify_trade(self, trade):
        if trade.isopen:
            self._open[trade.ref] = trade
            return
        if trade.isclosed:
            self._open.pop(trade.ref, None)
            self.rows.append(self._row(trade, "closed"))

    @staticmethod
    def _row(trade, status: str) -> dict:
        first = trade.history[0].event if trade.history else None
        size = first.size if first is not None else trade.size
        exit_price = trade.history[-1].event.price if trade.isclosed and trade.history else None
        return {
            "symbol": trade.data._name,
            "status": status,
            "entry_date": bt.num2date(trade.dtopen).date(),
            "exit_date": bt.num2date(trade.dtclose).date() if trade.isclosed else None,
            "side": "long" if trade.long else "short",
            "size": abs(size),
            "entry_price": trade.price,
            "exit_price": exit_price,
            "pnl": trade.pnl,
            "pnl_net": trade.pnlcomm,
            "commission": trade.commission,
            "bars_held": trade.barlen,
        }

    def stop(self):
        self.rows.extend(self._row(t, "open") for t in self._open.values())

    def get_analysis(self):
        return pd.DataFrame(self.rows, columns=list(TRADE_COLUMNS))
