"""The rolling regression slope of ``models.regression_slope`` as a backtrader indicator."""

from __future__ import annotations

from indicators.filter_indicator import FilterIndicator
from models.regression_slope import RegressionSlopeFilter


class RegressionSlope(FilterIndicator):
    """Rolling OLS slope of log(close) over ``period`` bars (causal: bars t - period + 1 .. t).

    slope: log return per bar of the fitted line (0.001 = +0.1 % a bar); r2: the share of
    the window's variance the line explains (0..1). First value at bar ``period``."""

    lines = ("slope", "r2")
    params = (("period", 20),)
    plotinfo = dict(subplot=True)

    def make_filter(self):
        return RegressionSlopeFilter(self.p.period)

    def inputs(self):
        return [self.data.close]
