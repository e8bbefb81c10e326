"""pyfolio's positions and transactions with the option legs in them.

backtrader's ``PyFolio`` analyzer sees only shares and cash, and pyfolio applies contract
multipliers only through zipline. This analyzer records, on every bar, the dollar value of
every holding: shares of each data, and each open option leg under its OCC symbol at its
mid x 100 x contracts (negative for a short leg), plus ``cash`` = free cash + reserved
margin, so that the row sums to ``broker.getvalue()``. Leg fills become transactions with
the multiplier applied by us: ``amount`` = signed contracts x 100, ``price`` per share.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd

from analyzers.bar_date import bar_date
from core.domain import MULTIPLIER

TRANSACTION_COLUMNS = ["amount", "price", "sid", "symbol", "value"]


class PortfolioPositions(bt.Analyzer):
    """Per-bar holdings (shares and option legs) and option-leg transactions for pyfolio."""

    def start(self):
        self.rows: dict = {}
        broker = self.strategy.broker
        # asked once: a failed hasattr on a backtrader broker costs microseconds a bar
        self._spreads = hasattr(broker, "open_spreads")
        self._margin = hasattr(broker, "reserved_margin")

    def next(self):
        broker = self.strategy.broker
        row: dict[str, float] = {}
        for data in self.strategy.datas:
            size = broker.getposition(data).size
            if size:
                row[data._name] = size * data.close[0]
        for position in broker.open_spreads() if self._spreads else ():
            for leg in (position.short, position.long):
                mid = position.leg_marks.get(leg.symbol)
                if mid is not None:
                    row[leg.symbol] = leg.ratio * position.contracts * MULTIPLIER * mid
        reserved = broker.reserved_margin() if self._margin else 0.0
        row["cash"] = broker.getcash() + reserved
        self.rows[bar_date(self.strategy.datetime)] = row

    def positions(self) -> pd.DataFrame:
        """Dollar value per holding and bar, ``cash`` last, UTC index as pyfolio wants."""
        if not self.rows:
            return pd.DataFrame.from_dict(self.rows, orient="index")
        # filled from the row dicts with numpy: pandas' from_dict on a dict of dicts with
        # a column per option leg ever held took longer than the run's marks
        holdings = sorted({name for row in self.rows.values() for name in row} - {"cash"})
        columns = [*holdings, "cash"]
        where = {name: i for i, name in enumerate(columns)}
        values = np.zeros((len(self.rows), len(columns)))
        for i, row in enumerate(self.rows.values()):
            for name, value in row.items():
                values[i, where[name]] = value
        values[np.isnan(values)] = 0.0
        frame = pd.DataFrame(values, index=pd.DatetimeIndex(list(self.rows)).tz_localize("UTC"),
                             columns=columns)
        frame.index.name = "Date"
        return frame

    def option_transactions(self) -> pd.DataFrame:
        """Every option-leg fill (open, close, expiry) in pyfolio's transaction format, at
        the instant (UTC) of its session's close."""
        from feeds.calendar import session_instants

        records = []
        for position in _all_spreads(self.strategy.broker):
            for fill in position.leg_fills:
                amount = fill.quantity * MULTIPLIER
                records.append({"date": pd.Timestamp(fill.date), "amount": amount,
                                "price": fill.price, "sid": fill.symbol, "symbol": fill.symbol,
                                "value": -amount * fill.price})
        if not records:
            return pd.DataFrame(columns=TRANSACTION_COLUMNS)
        frame = pd.DataFrame.from_records(records).set_index("date").sort_index(kind="stable")
        # legs fill, and settle, at their session's quotes: the close, the instant stored
        frame.index = session_instants(frame.index, "close")
        return frame[TRANSACTION_COLUMNS]

    def get_analysis(self):
        return {"positions": self.positions(), "transactions": self.option_transactions()}


def _all_spreads(broker) -> list:
    if not hasattr(broker, "closed_spreads"):
        return []
    return broker.closed_spreads() + broker.open_spreads()


def merge_transactions(shares: pd.DataFrame, options: pd.DataFrame) -> pd.DataFrame:
    """Share transactions from backtrader's PyFolio analyzer plus the option legs, by date."""
    frames = [f for f in (shares, options) if len(f)]
    if not frames:
        return shares
    merged = pd.concat(frames)
    return merged.sort_index(kind="stable")
