"""The baseline, rule-based signal: trend (two moving averages) filtered by RSI.

It produces the same lines the ML indicators produce, so every strategy runs before and
without ML, and the models have a rule to beat:

* ``direction``: +1 when SMA(fast) > SMA(slow), close > SMA(slow) and RSI < overbought;
  -1 when SMA(fast) < SMA(slow), close < SMA(slow) and RSI > oversold; 0 otherwise.
* ``confidence``: trend strength, ``min(1, |SMA(fast) - SMA(slow)| / (k * ATR))``, and 0
  when ``direction`` is 0.
* ``signal``: the credit spread the direction suggests, 2 = put credit spread (bullish),
  1 = call credit spread (bearish), 0 = hold (seed 000's classes).

Causal: every input is a trailing average, so the value at bar t uses bars <= t only.
"""

from __future__ import annotations

import backtrader as bt

from core.domain import CALL_CREDIT_SPREAD, HOLD, PUT_CREDIT_SPREAD


class RuleSignal(bt.Indicator):
    """Trend + RSI baseline signal (see the module docstring for the formulas)."""

    lines = ("signal", "direction", "confidence")
    params = (
        ("fast", 20),
        ("slow", 50),
        ("rsi_period", 14),
        ("overbought", 70.0),
        ("oversold", 30.0),
        ("atr_period", 14),
        ("strength_atrs", 2.0),
    )

    def __init__(self):
        close = self.data.close
        fast = bt.ind.SMA(close, period=self.p.fast)
        slow = bt.ind.SMA(close, period=self.p.slow)
        rsi = bt.ind.RSI(close, period=self.p.rsi_period, safediv=True)
        atr = bt.ind.ATR(self.data, period=self.p.atr_period)
        up = bt.And(fast > slow, close > slow, rsi < self.p.overbought)
        down = bt.And(fast < slow, close < slow, rsi > self.p.oversold)
        strength = bt.Min(1.0, bt.DivByZero(abs(fast - slow), self.p.strength_atrs * atr, 0.0))
        self.l.direction = bt.If(up, 1.0, bt.If(down, -1.0, 0.0))
        self.l.signal = bt.If(up, float(PUT_CREDIT_SPREAD),
                              bt.If(down, float(CALL_CREDIT_SPREAD), float(HOLD)))
        self.l.confidence = bt.If(bt.Or(up, down), strength, 0.0)

