"""Brokers: the simulated options broker and the spread protocol it shares with live ones.

Names are imported on first use, so the pure modules (``brokers.spreads``,
``brokers.spread_pricing``) can be used without importing backtrader, as ``training.labels``
does to price its labels by the broker's own rules.
"""

from importlib import import_module

_EXPORTS = {
    "OptionsBroker": "brokers.options_broker",
    "SpreadCloseOrder": "brokers.spread_orders",
    "SpreadOpenOrder": "brokers.spread_orders",
    "SpreadBroker": "brokers.spreads",
    "SpreadLeg": "brokers.spreads",
    "SpreadPosition": "brokers.spreads",
    "SpreadRequest": "brokers.spreads",
    "IBBroker": "brokers.ib_broker",
    "IBData": "brokers.ib_feed",
    "IBStore": "brokers.ib_store",
    "Journal": "brokers.journal",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'brokers' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
