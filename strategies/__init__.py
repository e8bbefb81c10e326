"""Backtrader strategies that trade from indicator lines."""

from strategies.equity import EquityConfig, EquityStrategy

__all__ = ["EquityConfig", "EquityStrategy"]
