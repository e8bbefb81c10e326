"""The Kalman trend of ``models.kalman`` as a backtrader indicator, and the base class the
filter indicators share.

A filter indicator owns one bar-by-bar filter from ``models/`` (a class whose
``update(*inputs)`` returns one value per line). In ``once`` mode (preload + runonce) it runs
a fresh filter over the preloaded arrays in one pass; in ``next`` mode (runonce False,
streaming, exactbars) it steps its filter once per bar, warm-up bars included. Both paths
run the same recursion, so the lines are bit-identical, and each value at bar t uses bars
<= t only.
"""

from __future__ import annotations

from array import array

import backtrader as bt
import numpy as np

from models.kalman import KalmanTrendFilter, run_filter


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


class KalmanTrend(FilterIndicator):
    """Kalman local-linear trend of log(close) (causal; see ``models.kalman``).

    trend: exp(filtered level), in price units; slope: filtered slope, log return per bar;
    noise: estimated std of the noise around the trend, as a fraction of price. ``window``:
    restart the filter on the last ``window`` bars at every bar (None: one recursion)."""

    lines = ("trend", "slope", "noise")
    params = (("level_ratio", 0.01), ("slope_ratio", 1e-4), ("noise_span", 20),
              ("window", None))
    plotinfo = dict(subplot=False)
    plotlines = dict(slope=dict(_plotskip=True), noise=dict(_plotskip=True))

    def make_filter(self):
        return KalmanTrendFilter(self.p.level_ratio, self.p.slope_ratio, self.p.noise_span,
                                 self.p.window)

    def inputs(self):
        return [self.data.close]
