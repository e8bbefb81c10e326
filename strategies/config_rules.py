"""The value rules of the strategy configs, checked by each config's ``__post_init__``.

A config a strategy cannot trade with (a delta of 1.5, a stop below the credit) is refused
where it is made, so the backtest, paper and sweep commands all refuse the same values the
same way. Each config lists its rules in a ``RULES`` class
attribute (one ``Rule`` per field; the rules between fields stay in its ``__post_init__``);
the ``ValueError`` names the field as ``name=value`` (``stop_multiple=0.5 is
invalid: must be above 1 ...``): a sweep keeps that text in the failed run's row, and the
commands turn the field name into its flag (``--stop-multiple 0.5 is invalid: ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """What a field's value must be: a test and the words that say it."""

    test: Callable[[object], bool]
    #: completes "must be ...", e.g. "from 0 to 1"
    must_be: str

    def complaint(self, name: str, value: object) -> str | None:
        """What is wrong with ``value`` for the field ``name``; None when it is fine."""
        return None if self.test(value) else f"{name}={value!r} is invalid: must be {self.must_be}"


def check_fields(config: object) -> None:
    """Refuse the first field of ``config`` whose value breaks its rule in the config's
    ``RULES`` (``ValueError``)."""
    for name, rule in type(config).RULES.items():
        complaint = rule.complaint(name, getattr(config, name))
        if complaint:
            raise ValueError(complaint)


FRACTION = Rule(lambda v: 0.0 <= v <= 1.0, "from 0 to 1")
SHARE = Rule(lambda v: 0.0 < v <= 1.0, "above 0 and at most 1")
AT_LEAST_0 = Rule(lambda v: v >= 0, "0 or more")
AT_LEAST_1 = Rule(lambda v: v >= 1, "1 or more")
