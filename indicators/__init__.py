"""Backtrader indicators whose lines strategies trade on: the rule baseline and ML models."""

from indicators.direction import Direction
from indicators.kalman_trend import KalmanTrend
from indicators.regression_slope import RegressionSlope
from indicators.rule_signal import RuleSignal
from indicators.stat_arb import ImpliedMoveDivergence, StatArbSpread

__all__ = ["RuleSignal", "KalmanTrend", "RegressionSlope", "StatArbSpread",
           "ImpliedMoveDivergence", "Direction"]
