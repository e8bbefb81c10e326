"""Backtrader indicators whose lines strategies trade on: the rule baseline and ML models."""

from indicators.rule_signal import (
    CALL_CREDIT_SPREAD,
    DIRECTION_NAMES,
    HOLD,
    PUT_CREDIT_SPREAD,
    SIGNAL_NAMES,
    RuleSignal,
)

__all__ = ["RuleSignal", "HOLD", "CALL_CREDIT_SPREAD", "PUT_CREDIT_SPREAD", "SIGNAL_NAMES",
           "DIRECTION_NAMES"]
