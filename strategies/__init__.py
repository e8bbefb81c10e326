"""Backtrader strategies that trade from indicator lines."""

from strategies.credit_spread import CreditSpreadConfig, CreditSpreadStrategy
from strategies.equity import EquityConfig, EquityStrategy

__all__ = ["CreditSpreadConfig", "CreditSpreadStrategy", "EquityConfig", "EquityStrategy"]
