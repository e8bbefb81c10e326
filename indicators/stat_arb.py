"""Statistical-arbitrage indicators of ``models.stat_arb``: the Kalman pairs spread of two
feeds, and the options-implied vs realized move divergence of one."""

from __future__ import annotations

import backtrader as bt

from indicators.filter_indicator import FilterIndicator
from models.stat_arb import ImpliedMoveDivergenceFilter, PairsSpreadFilter


class StatArbSpread(FilterIndicator):
    """Pairs spread of data0 (y) against data1 (x), causal (see ``models.stat_arb``).

    hedge_ratio, intercept: Kalman estimates of y = intercept + hedge_ratio * x from bars
    before t; spread: y_t - intercept - hedge_ratio * x_t; zscore: the spread against its
    last ``period`` values. Both feeds must have a bar on every session of data0 (a bar
    missing in data1 raises ValueError rather than pairing two different days)."""

    lines = ("hedge_ratio", "intercept", "spread", "zscore")
    params = (("period", 60), ("alpha_ratio", 1e-4), ("beta_ratio", 1e-3), ("noise_span", 20))
    plotinfo = dict(subplot=True)

    def __init__(self):
        if len(self.datas) < 2:
            raise ValueError("StatArbSpread needs two data feeds: StatArbSpread(y_data, x_data)")
        super().__init__()

    def make_filter(self):
        return PairsSpreadFilter(self.p.period, self.p.alpha_ratio, self.p.beta_ratio,
                                 self.p.noise_span)

    def inputs(self):
        return [self.data0.close, self.data1.close]

    def once(self, start, end):
        dates0 = self.data0.datetime.array[:end]
        if list(self.data1.datetime.array[:end]) != list(dates0):
            raise ValueError(f"StatArbSpread: {self.data0._name or 'data0'} and "
                             f"{self.data1._name or 'data1'} are not on the same sessions")
        super().once(start, end)

    def _step(self):
        day0, day1 = self.data0.datetime[0], self.data1.datetime[0]
        if day0 != day1:
            raise ValueError(f"StatArbSpread: {self.data1._name or 'data1'} has no bar on "
                             f"{bt.num2date(day0):%Y-%m-%d}; both feeds need the same sessions")
        return super()._step()


class ImpliedMoveDivergence(FilterIndicator):
    """Options-implied move (from the feed's ``atm_iv`` line) minus the realized move over
    ``horizon`` sessions, and its z-score over ``period`` bars (causal; see
    ``models.stat_arb``). Lines implied_move, realized_move, divergence, zscore; NaN on bars
    without an IV."""

    lines = ("implied_move", "realized_move", "divergence", "zscore")
    params = (("horizon", 20), ("period", 60))
    plotinfo = dict(subplot=True)
    plotlines = dict(implied_move=dict(_plotskip=True), realized_move=dict(_plotskip=True))

    def __init__(self):
        if "atm_iv" not in self.data.lines.getlinealiases():
            raise ValueError("ImpliedMoveDivergence needs a feed with an atm_iv line "
                             "(feeds.btfeed.MarketData from a source with option IVs)")
        super().__init__()

    def make_filter(self):
        return ImpliedMoveDivergenceFilter(self.p.horizon, self.p.period)

    def inputs(self):
        return [self.data.close, self.data.atm_iv]
