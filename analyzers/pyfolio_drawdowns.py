"""pyfolio's drawdown panels measured from the starting cash, as the summary's max drawdown.

pyfolio is given the window's daily returns from its second session (``analyzers.window``:
the first session's close is the starting point, not a day of the strategy). Its
"Top 5 drawdown periods" and "Underwater plot" take the running maximum of those returns'
cumulative value, whose first point is the first day's close, not the cash: a fall on the
first day (or a drawdown that begins there and never recovers) read shallower there than
the summary's max drawdown, which empyrical measures with the starting value as a peak.
``drawdowns_from(start)`` hands those panels (and pyfolio's printed table of the worst
drawdowns) the same returns with the starting point in front: a 0 at the first session,
where the account is the cash. Every other figure keeps the returns as given, so pyfolio's
annual return and Sharpe ratio still count only the window's daily returns.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from unittest import mock

import pandas as pd

#: pyfolio.plotting's functions that draw or print drawdowns from the returns they get
DRAWDOWN_FUNCTIONS = ("plot_drawdown_periods", "plot_drawdown_underwater",
                      "show_worst_drawdown_periods")


def from_start(returns: pd.Series, start: pd.Timestamp) -> pd.Series:
    """``returns`` with a 0 at ``start`` in front (left as given when they begin there)."""
    if len(returns) and returns.index[0] <= start:
        return returns
    return pd.concat([pd.Series([0.0], index=pd.DatetimeIndex([start]), name=returns.name),
                      returns])


@contextlib.contextmanager
def drawdowns_from(start: pd.Timestamp) -> Iterator[None]:
    """pyfolio's drawdown panels given the starting point ``start`` (the window's first
    session, in the returns' time zone) while the context is open."""
    from pyfolio import plotting

    def starting(function):
        @functools.wraps(function)
        def drawn(returns, *args, **kwargs):
            return function(from_start(returns, start), *args, **kwargs)
        return drawn

    with contextlib.ExitStack() as stack:
        for name in DRAWDOWN_FUNCTIONS:
            stack.enter_context(mock.patch.object(plotting, name,
                                                  starting(getattr(plotting, name))))
        yield
