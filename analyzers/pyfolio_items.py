"""The two of backtrader's four pyfolio items that reports read: returns and transactions.

backtrader's ``PyFolio`` analyzer runs four child analyzers on every bar (returns,
positions, transactions, gross leverage). Reports take positions from
``analyzers.portfolio.PortfolioPositions`` (it knows option legs) and never read gross
leverage, so this analyzer keeps only backtrader's ``TimeReturn`` and ``Transactions``
children, with ``PyFolio``'s parameters, and converts them with ``PyFolio.get_pf_items``'s
own code (``tests/analyzers/test_pyfolio_items.py`` holds both equal to it).

A report also runs backtrader's ``SharpeRatio`` on daily returns, whose own ``TimeReturn``
child computes the very same series: ``returns_from`` names that analyzer (added before
this one) and its series is taken instead of computing it twice on every bar.
"""

from __future__ import annotations

import backtrader as bt
import pandas as pd
from backtrader.analyzers import TimeReturn, Transactions


class PyFolioItems(bt.Analyzer):
    """Daily returns and share transactions of the account, in pyfolio's format."""

    params = (("timeframe", bt.TimeFrame.Days), ("compression", 1), ("returns_from", None))

    def __init__(self):
        if self.p.returns_from is None:
            self._returns = TimeReturn(timeframe=self.p.timeframe,
                                       compression=self.p.compression)
        else:
            self._returns = _shared_time_return(self.strategy, self.p.returns_from,
                                                self.p.timeframe, self.p.compression)
        self._transactions = Transactions(headers=True)

    def stop(self):
        super().stop()
        self.rets["returns"] = self._returns.get_analysis()
        self.rets["transactions"] = self._transactions.get_analysis()

    def returns_and_transactions(self) -> tuple[pd.Series, pd.DataFrame]:
        """What ``PyFolio.get_pf_items()`` returns first and third: the returns as a
        Series on a UTC index, the transactions as a frame (same code, same frames), each
        stamped with the instant of its fill, the open of its session, not midnight UTC."""
        from feeds.calendar import session_instants

        returns = pd.DataFrame.from_records(iter(self.rets["returns"].items()), index="index",
                                            columns=["index", "return"])
        returns.index = pd.to_datetime(returns.index).tz_localize("UTC")
        txs = [[date, *tx] for date, day in self.rets["transactions"].items() for tx in day]
        columns = txs.pop(0)  # the headers are the first entry
        transactions = pd.DataFrame.from_records(txs, index=columns[0], columns=columns)
        # backtrader stamps a fill with its bar's date; a market order of a daily bar
        # fills at that session's open, the instant stored (pyfolio reads its time of day)
        transactions.index = session_instants(pd.to_datetime(transactions.index), "open")
        return returns["return"], transactions


def _shared_time_return(strategy, name: str, timeframe, compression) -> TimeReturn:
    """The ``TimeReturn`` child of the strategy's analyzer ``name`` (backtrader's
    ``SharpeRatio``), refused unless it measures what this analyzer's own would."""
    owner = getattr(strategy.analyzers, name, None)
    child = getattr(owner, "timereturn", None)
    if not isinstance(child, TimeReturn):
        raise ValueError(f"returns_from={name!r}: no analyzer {name!r} with a TimeReturn "
                         f"was added before the pyfolio items")
    p = child.p
    if (p.timeframe, p.compression, p.fund, p.data, p.firstopen) != (
            timeframe, compression, None, None, True):
        raise ValueError(f"returns_from={name!r}: its TimeReturn measures timeframe "
                         f"{p.timeframe}/{p.compression} (fund {p.fund}, data {p.data}), not "
                         f"timeframe {timeframe}/{compression} of the account")
    return child
