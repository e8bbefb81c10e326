"""The Kalman trend of ``models.kalman`` as a backtrader indicator.

A filter indicator (``indicators.filter_indicator``) owns one bar-by-bar filter from ``models/`` (a class whose
``update(*inputs)`` returns one value per line). In ``once`` mode (preload + runonce) it runs
a fresh filter over the preloaded arrays in one pass; in ``next`` mode (runonce False,
streaming, exactbars) it steps its filter once per bar, warm-up bars included. Both paths
run the same recursion, so the lines are bit-identical, and each value at bar t uses bars
<= t only.
"""

from __future__ import annotations

from indicators.filter_indicator import FilterIndicator
from models.kalman import KalmanTrendFilter


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
