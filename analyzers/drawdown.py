"""backtrader's DrawDown, with its per-bar bookkeeping done once at the end of the run.

``bt.analyzers.DrawDown`` updates six entries of an ``AutoOrderedDict`` on every bar: about
8 % of a plain equity backtest. ``RunDrawDown`` keeps the same inputs (the peak and the
value ``notify_fund`` saw before each ``next``) in two lists and computes the same
analysis from them when the run stops, with numpy's element-wise float64 arithmetic in
the order backtrader's uses, so every number is bit-identical (tested against
``bt.analyzers.DrawDown`` on the same runs): ``drawdown``, ``moneydown`` and ``len`` of the
last bar, and ``max.drawdown``, ``max.moneydown`` and ``max.len`` over the run.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np


class RunDrawDown(bt.analyzers.DrawDown):
    """``bt.analyzers.DrawDown``'s analysis, computed at ``stop``."""

    def create_analysis(self):
        super().create_analysis()
        self._peaks: list[float] = []
        self._values: list[float] = []

    def next(self):
        self._peaks.append(self._maxvalue)
        self._values.append(self._value)

    def stop(self):
        r = self.rets
        if self._values:
            peak, value = np.array(self._peaks), np.array(self._values)
            moneydown = peak - value
            drawdown = 100.0 * moneydown / peak
            r.moneydown, r.drawdown = float(moneydown[-1]), float(drawdown[-1])
            r.max.moneydown = max(r.max.moneydown, float(moneydown.max()))
            r.max.drawdown = max(r.max.drawdown, float(drawdown.max()))
            r.len, r.max.len = _run_lengths(drawdown != 0.0, r.max.len)
        super().stop()


def _run_lengths(down: np.ndarray, start_max):
    """backtrader's ``len`` (bars since the drawdown began, 0 at a peak) after the last bar,
    and ``max(start_max, every bar's len)`` as its ``max.len`` (an int, or ``start_max``
    itself when no drawdown was longer)."""
    length, longest = 0, start_max
    if down.any():
        # lengths of the runs of True: the longest is the largest len ever reached
        edges = np.flatnonzero(np.diff(np.concatenate(([0], down.astype(np.int8), [0]))))
        runs = edges[1::2] - edges[::2]
        longest = max(start_max, int(runs.max()))
        length = int(runs[-1]) if down[-1] else 0
    return length, longest
