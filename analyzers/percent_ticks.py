"""Percent tick labels with as many decimals as the ticks need.

pyfolio labels its percent axes with ``"%.0f%%"``: a drawdown of under 2 % gets ticks at
0, -0.5, -1, -1.5 labelled "0%, -0%, -1%, -1%". :class:`PercentTicks` shows the fewest
decimals (up to 4) that tell every tick apart, and never a "-0"; :func:`readable_percents`
puts it on every axis of a figure that pyfolio gave its percent labels.
"""

from __future__ import annotations

import numpy as np
from matplotlib import ticker as mticker

MAX_DECIMALS = 4


class PercentTicks(mticker.Formatter):
    """``12%``, ``-0.5%``, ``0.25%``: values already in percent, decimals from the ticks."""

    def __init__(self) -> None:
        self.decimals = 0

    def set_locs(self, locs) -> None:
        self.locs = locs
        self.decimals = decimals_for(np.asarray(locs, dtype=float))

    def __call__(self, x, pos=None) -> str:
        value = round(float(x), self.decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
        return f"{value:.{self.decimals}f}%"


def decimals_for(locs: np.ndarray) -> int:
    """The fewest decimals (0 to ``MAX_DECIMALS``) that show every tick exactly."""
    locs = locs[np.isfinite(locs)]
    for decimals in range(MAX_DECIMALS + 1):
        scaled = locs * 10.0 ** decimals
        if np.allclose(scaled, np.round(scaled), rtol=0.0, atol=1e-6):
            return decimals
    return MAX_DECIMALS


def readable_percents(fig) -> None:
    """Replace pyfolio's whole-percent labels (``pyfolio.utils.percentage``, which it wraps
    in one or two ``FuncFormatter``) on every axis of ``fig`` by :class:`PercentTicks`."""
    from pyfolio.utils import percentage

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            func = getattr(axis.get_major_formatter(), "func", None)
            while isinstance(func, mticker.FuncFormatter):
                func = func.func
            if func is percentage:
                axis.set_major_formatter(PercentTicks())
