"""KalmanTrend, RegressionSlope, StatArbSpread, ImpliedMoveDivergence: the same lines under
every engine setting (batch ``once`` and bar-by-bar ``next``), causal, equal to the models'
batch functions, and clear errors on bad use."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from feeds.btfeed import make_feed
from indicators import ImpliedMoveDivergence, KalmanTrend, RegressionSlope, StatArbSpread
from models.kalman import kalman_trend
from models.regression_slope import regression_slope
from models.stat_arb import implied_realized_divergence, pairs_spread

ENGINE_SETTINGS = [
    pytest.param(dict(preload=True, runonce=True), id="preload-runonce"),
    pytest.param(dict(preload=True, runonce=False), id="preload-next"),
    pytest.param(dict(preload=False, runonce=False), id="streaming"),
    pytest.param(dict(preload=True, runonce=False, exactbars=1), id="exactbars"),
]
INDICATORS = {
    "kalman": (KalmanTrend, ("trend", "slope", "noise"), 2),
    "kalman_window": (KalmanTrend, ("trend", "slope", "noise"), 30),
    "regression": (RegressionSlope, ("slope", "r2"), 20),
    "pairs": (StatArbSpread, ("hedge_ratio", "intercept", "spread", "zscore"), 61),
    "divergence": (ImpliedMoveDivergence, ("implied_move", "realized_move", "divergence",
                                           "zscore"), 80),
}


class Record(bt.Strategy):
    def __init__(self):
        self.filters = {
            "kalman": KalmanTrend(self.data0),
            "kalman_window": KalmanTrend(self.data0, window=30),
            "regression": RegressionSlope(self.data0, period=20),
            "pairs": StatArbSpread(self.data0, self.data1, period=60),
            "divergence": ImpliedMoveDivergence(self.data0, horizon=20, period=60),
        }
        self.rows = []

    def prenext(self):
        self.next()

    def next(self):
        row = {"date": pd.Timestamp(self.data0.datetime.date(0))}
        for name, indicator in self.filters.items():
            for line in INDICATORS[name][1]:
                row[f"{name}.{line}"] = getattr(indicator, line)[0]
        self.rows.append(row)


def lines(y: pd.DataFrame, x: pd.DataFrame, **engine) -> pd.DataFrame:
    cerebro = bt.Cerebro(stdstats=False, **engine)
    cerebro.adddata(make_feed(y, "SPY"))
    cerebro.adddata(make_feed(x, "QQQ"))
    cerebro.addstrategy(Record)
    return pd.DataFrame(cerebro.run()[0].rows).set_index("date")


@pytest.fixture(scope="module")
def spy(sample_market):
    return sample_market.bars("SPY", "2019-01-01", "2020-06-30")


@pytest.fixture(scope="module")
def qqq(sample_market):
    return sample_market.bars("QQQ", "2019-01-01", "2020-06-30")


@pytest.fixture(scope="module")
def reference(spy, qqq):
    return lines(spy, qqq, preload=True, runonce=True)


@pytest.mark.parametrize("engine", ENGINE_SETTINGS[1:])
def test_every_engine_setting_gives_the_same_lines(spy, qqq, reference, engine):
    pd.testing.assert_frame_equal(lines(spy, qqq, **engine), reference, check_exact=True)


@pytest.mark.parametrize("engine", ENGINE_SETTINGS[:3])
def test_appending_bars_changes_nothing_before(spy, qqq, reference, engine):
    short = lines(spy.iloc[:150], qqq.iloc[:150], **engine)
    pd.testing.assert_frame_equal(short, reference.loc[short.index], check_exact=True)


def test_lines_are_the_batch_functions_numbers_after_the_warm_up(spy, qqq, reference):
    batch = {
        "kalman": kalman_trend(spy["close"]).set_axis(["trend", "slope", "noise"], axis=1),
        "kalman_window": kalman_trend(spy["close"], window=30).set_axis(
            ["trend", "slope", "noise"], axis=1),
        "regression": regression_slope(spy["close"], 20),
        "pairs": pairs_spread(spy["close"], qqq["close"], 60),
        "divergence": implied_realized_divergence(spy, 20, 60),
    }
    for name, (_, names, warmup) in INDICATORS.items():
        got = reference[[f"{name}.{line}" for line in names]].to_numpy()
        expected = batch[name][list(names)].to_numpy()
        assert np.isnan(got[:warmup - 1]).all(), name
        np.testing.assert_array_equal(got[warmup - 1:], expected[warmup - 1:], err_msg=name)
        assert np.isfinite(got[warmup - 1:]).all(), name


def run_one(make, datas, **engine):
    class One(bt.Strategy):
        def __init__(self):
            self.ind = make(self)

    cerebro = bt.Cerebro(stdstats=False, **engine)
    for data in datas:
        cerebro.adddata(data)
    cerebro.addstrategy(One)
    return cerebro.run()


def test_bad_parameters_are_a_value_error(spy):
    with pytest.raises(ValueError, match="window must be an integer >= 2"):
        run_one(lambda s: RegressionSlope(s.data, period=1), [make_feed(spy, "SPY")])
    with pytest.raises(ValueError, match="slope_ratio"):
        run_one(lambda s: KalmanTrend(s.data, slope_ratio=-1.0), [make_feed(spy, "SPY")])


def test_stat_arb_needs_two_feeds_on_the_same_sessions(spy, qqq):
    with pytest.raises(ValueError, match="two data feeds"):
        run_one(lambda s: StatArbSpread(s.data), [make_feed(spy, "SPY")])
    gappy = qqq.drop(qqq.index[100])
    for engine in (dict(runonce=True), dict(runonce=False)):
        with pytest.raises(ValueError, match="same sessions"):
            run_one(lambda s: StatArbSpread(s.data0, s.data1),
                    [make_feed(spy, "SPY"), make_feed(gappy, "QQQ")], **engine)


def test_divergence_needs_a_feed_with_implied_volatility(spy):
    plain = bt.feeds.PandasData(dataname=spy[["open", "high", "low", "close", "volume"]])
    with pytest.raises(ValueError, match="atm_iv line"):
        run_one(lambda s: ImpliedMoveDivergence(s.data), [plain])
