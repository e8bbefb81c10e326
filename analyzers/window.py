"""The daily returns a window's figures are computed from.

A backtest's returns have a row for every session of its window, the first included. The
first session's close is the window's starting point: the strategy first decides there
(its orders fill at the next open) and buy & hold is bought there, so that row (the
warm-up's last close to it) is 0 by construction and not a day of the strategy.
``daily_returns`` leaves it out: the summary's annual return, volatility, Sharpe, Sortino
and drawdown, and pyfolio's tear sheets and performance.csv, all read these ``sessions - 1``
returns. Counted as a day (pyfolio and empyrical count every row they are given), that 0
made a two-year window's annual return 2.305 % instead of 2.309 %, the Sharpe ratio of every
two-session window +-11.22 whatever its return, and a window starting on a year's last
session a 0 % year in pyfolio's annual returns (and in their mean).
"""

from __future__ import annotations

import pandas as pd


def daily_returns(returns: pd.Series) -> pd.Series:
    """Every session's return but the first's (the window's starting point)."""
    return returns.iloc[1:]
