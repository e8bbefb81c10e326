"""Backtrader analyzers and the report writer."""

from analyzers.lines import LineRecorder
from analyzers.progress import BarProgress
from analyzers.trades import TradeList

__all__ = ["LineRecorder", "BarProgress", "TradeList"]
