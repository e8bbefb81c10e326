"""Scripted strategies, hand-made bars and a tiny Cerebro for the options broker tests."""

from __future__ import annotations

from collections.abc import Callable

import backtrader as bt
import numpy as np
import pandas as pd

from brokers.options_broker import OptionsBroker
from feeds.btfeed import make_feed
from feeds.calendar import sessions

START_CASH = 100_000.0


def flat_bars(start: str, n: int, close: float = 100.0, iv: float = 0.20,
              jumps: dict | None = None) -> pd.DataFrame:
    """``n`` NYSE sessions from ``start`` closing at ``close``; from each date in ``jumps``
    on, the close is the value given there (a controlled path for expiry tests)."""
    days = sessions(start, pd.Timestamp(start) + pd.Timedelta(days=3 * n))[:n]
    closes = np.full(n, close)
    for day, level in sorted((jumps or {}).items()):
        closes[days >= pd.Timestamp(day)] = level
    return pd.DataFrame({
        "open": closes, "high": closes, "low": closes, "close": closes,
        "volume": np.full(n, 1e6), "atm_iv": np.full(n, iv),
        "risk_free_rate": np.full(n, 0.02),
    }, index=pd.DatetimeIndex(days, name="date"))


class Scripted(bt.Strategy):
    """Runs ``actions[i](strategy)`` on bar ``i`` and records the broker after each bar."""

    params = (("actions", None),)

    def __init__(self):
        self.notes: list[dict] = []
        self.rows: list[dict] = []
        self.orders: list = []

    def notify_order(self, order):
        self.notes.append({"bar": len(self) - 1, "ref": order.ref, "order": order,
                           "status": order.getstatusname(), "info": dict(order.info)})

    def next(self):
        broker = self.broker
        spreads = broker.open_spreads() if hasattr(broker, "open_spreads") else []
        self.rows.append({
            "bar": len(self) - 1, "date": pd.Timestamp(self.data.datetime.date(0)),
            "value": broker.getvalue(), "cash": broker.getcash(),
            "reserved": getattr(broker, "reserved_margin", lambda: 0.0)(),
            "stock": self.position.size * self.data.close[0],
            "spreads": [(p.id, p.short, p.long, p.contracts, p.mark) for p in spreads],
        })
        action = (self.p.actions or {}).get(len(self) - 1)
        if action is not None:
            result = action(self)
            if result is not None:
                self.orders.append(result)

    def statuses(self, ref: int) -> list[str]:
        return [n["status"] for n in self.notes if n["ref"] == ref]

    def last_note(self, ref: int) -> dict:
        return [n for n in self.notes if n["ref"] == ref][-1]


def run(bars: pd.DataFrame, actions: dict[int, Callable], chains: dict | None = None,
        broker: bt.brokers.BackBroker | None = None, cash: float = START_CASH,
        analyzers: bool = False, **broker_kw) -> Scripted:
    """One backtrader run of ``Scripted`` over ``bars`` named SPY with an OptionsBroker."""
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(bars, "SPY"))
    cerebro.broker = broker if broker is not None else OptionsBroker(chains=chains, **broker_kw)
    cerebro.broker.setcash(cash)
    cerebro.addstrategy(Scripted, actions=actions)
    if analyzers:
        cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="timereturn")
        cerebro.addanalyzer(bt.analyzers.PyFolio, _name="pyfolio")
    return cerebro.run()[0]


def open_spread(request):
    """An action placing ``request`` on the strategy's data."""
    return lambda s: s.broker.open_credit_spread(s, s.data, request)


def close_first(tag: str = "close"):
    """An action closing the oldest open spread."""
    return lambda s: s.broker.close_spread(s, s.broker.open_spreads()[0].id, tag)


def row(chain, day, symbol: str) -> pd.Series:
    """The listed chain row of ``symbol`` on ``day`` (the quotes tests compute from)."""
    frame = chain.chain(day)
    return frame.loc[frame["symbol"] == symbol].iloc[0]


def leg_quote(chain, day, leg) -> pd.Series:
    """Listed row when the contract is listed that day, else the chain's model quote."""
    frame = chain.chain(day)
    hit = frame.loc[frame["symbol"] == leg.symbol]
    return hit.iloc[0] if len(hit) else chain.quote(day, leg.expiry, leg.strike, leg.right)
