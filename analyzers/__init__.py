"""Backtrader analyzers and the report writer."""

from analyzers.lines import LineRecorder
from analyzers.portfolio import PortfolioPositions
from analyzers.progress import BarProgress
from analyzers.trades import TradeList

__all__ = ["LineRecorder", "BarProgress", "PortfolioPositions", "TradeList"]
