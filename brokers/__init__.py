"""Brokers: the simulated options broker and the spread protocol it shares with live ones."""

from brokers.options_broker import OptionsBroker, SpreadCloseOrder, SpreadOpenOrder
from brokers.spreads import SpreadBroker, SpreadLeg, SpreadPosition, SpreadRequest

__all__ = [
    "OptionsBroker",
    "SpreadBroker",
    "SpreadCloseOrder",
    "SpreadLeg",
    "SpreadOpenOrder",
    "SpreadPosition",
    "SpreadRequest",
]
