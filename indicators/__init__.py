"""Backtrader indicators whose lines strategies trade on: the rule baseline and ML models."""

from indicators.direction import Direction
from indicators.kalman_trend import KalmanTrend
from indicators.regression_slope import RegressionSlope
from indicators.rule_signal import (
    CALL_CREDIT_SPREAD,
    DIRECTION_NAMES,
    HOLD,
    PUT_CREDIT_SPREAD,
    SIGNAL_NAMES,
    RuleSignal,
)
from indicators.stat_arb import ImpliedMoveDivergence, StatArbSpread

__all__ = ["RuleSignal", "HOLD", "CALL_CREDIT_SPREAD", "PUT_CREDIT_SPREAD", "SIGNAL_NAMES",
           "DIRECTION_NAMES"]
__all__ += ["KalmanTrend", "RegressionSlope", "StatArbSpread", "ImpliedMoveDivergence"]
__all__ += ["Direction"]
