"""The strategies and signal indicators a command can name, each registered once.

``backtest``, ``paper`` and ``sweep`` look strategies up here by their command-line name
(``--strategy credit-spread``) and build their config from ``spec.config_cls``.
"""

from __future__ import annotations

from dataclasses import dataclass

from indicators.direction import Direction
from indicators.rule_signal import RuleSignal
from indicators.strategy_signal import StrategySignal
from strategies.credit_spread import CreditSpreadConfig, CreditSpreadStrategy
from strategies.equity import EquityConfig, EquityStrategy


@dataclass(frozen=True)
class StrategySpec:
    """A strategy as the commands know it: its name, its class and its config dataclass."""

    name: str
    cls: type
    config_cls: type
    #: trades option spreads, so it needs the options broker and an option chain
    trades_options: bool = False

    def resolve_config(self, config: object = None) -> object:
        """``config``, or the defaults of ``config_cls`` when None; a config of another
        strategy is refused (it would trade silently by the wrong rules)."""
        if config is None:
            return self.config_cls()
        if not isinstance(config, self.config_cls):
            raise TypeError(f"strategy {self.name} takes a {self.config_cls.__name__}, got "
                            f"{type(config).__name__}")
        return config


STRATEGIES: dict[str, StrategySpec] = {spec.name: spec for spec in (
    StrategySpec("equity", EquityStrategy, EquityConfig),
    StrategySpec("credit-spread", CreditSpreadStrategy, CreditSpreadConfig, trades_options=True),
)}

#: ``--signals NAME``: the indicator whose lines the strategy trades
SIGNALS = {"rule": RuleSignal, "ml": StrategySignal, "direction": Direction}


def strategy_spec(name: str) -> StrategySpec:
    """The registered strategy ``name`` (a KeyError lists the known ones)."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}") from None
