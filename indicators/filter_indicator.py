"""One base for the recursive-filter indicators (Kalman trend, regression slope, stat-arb):
``once`` runs the filter over the whole array, ``next`` feeds it bar by bar; both give the
same values (tested)."""

from __future__ import annotations

from array import array

import backtrader as bt
import numpy as np

from models.kalman import run_filter


class FilterIndicator(bt.Indicator):
    """Base: subclasses set ``lines`` (in the filter's output order) and define
    ``make_filter()`` and ``inputs()`` (the input lines, in ``update``'s argument order)."""

    def make_filter(self):
        raise NotImplementedError

    def inputs(self) -> list:
        raise NotImplementedError

    def __init__(self):
        self._filter = self.make_filter()  # raises ValueError on bad parameters
        self.addminperiod(self._filter.warmup_bars)

    def once(self, start, end):
        arrays = [np.asarray(line.array[:end], dtype=float) for line in self.inputs()]
        values = run_filter(self.make_filter(), arrays)
        for k in range(values.shape[1]):
            self.lines[k].array[start:end] = array("d", values[start:end, k].tolist())

    def _step(self) -> tuple[float, ...]:
        return self._filter.update(*(line[0] for line in self.inputs()))

    def prenext(self):
        self._step()  # warm-up bars feed the filter; their lines stay NaN

    def nextstart(self):
        self.next()

    def next(self):
        for k, value in enumerate(self._step()):
            self.lines[k][0] = value
