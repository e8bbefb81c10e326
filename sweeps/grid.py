"""``--grid name=v1,v2`` read against a strategy's config dataclass.

The names are the fields of ``EquityConfig`` / ``CreditSpreadConfig``, so a new field is
sweepable without touching this module; each value is converted by the field's type. A
misspelt name or a value of the wrong type stops the sweep before anything runs
(``DataError``), and so does a value its config's own rule refuses whatever the other
fields (a delta of 1.5: ``RULES`` of the config). A combination the config refuses
(``dte_min`` above ``dte_max`` in one of them) is refused per run by the config's
``__post_init__`` (``make_config``), so that run's row carries the error and the other runs
finish.
"""

from __future__ import annotations

import itertools
import math
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace

from core.errors import DataError
from strategies.registry import STRATEGIES

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


@dataclass(frozen=True)
class Grid:
    """The swept parameters of one strategy, in the order given: ``((name, values), ...)``."""

    strategy: str
    axes: tuple[tuple[str, tuple], ...] = ()

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.axes]

    def parameter_sets(self) -> list[dict]:
        """Every combination, first axis slowest (the cartesian product in grid order)."""
        values = [v for _, v in self.axes]
        return [dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*values)]


def parse_grid(strategy: str, items: Sequence[str]) -> Grid:
    """A Grid from ``["target_delta=0.2,0.3", "width=5,10"]`` for ``strategy``."""
    if strategy not in STRATEGIES:
        raise DataError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    config = STRATEGIES[strategy].config_cls
    converters = field_converters(config)
    axes: list[tuple[str, tuple]] = []
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise DataError(f"--grid {item!r}: expected NAME=V1,V2 (e.g. target_delta=0.2,0.3)")
        if name not in converters:
            raise DataError(f"--grid {item!r}: {strategy} has no parameter {name!r}; "
                            f"sweepable: {', '.join(converters)}")
        if name in dict(axes):
            raise DataError(f"--grid {item!r}: {name} is given twice; list all its values once")
        raw = [v.strip() for v in text.split(",")]
        if not text.strip() or any(v == "" for v in raw):
            raise DataError(f"--grid {item!r}: empty value in the list for {name}")
        values = []
        for value in raw:
            try:
                converted = converters[name](value)
            except ValueError as exc:
                raise DataError(f"--grid {item!r}: bad value {value!r} for {name} "
                                f"({exc})") from None
            complaint = field_complaint(config, name, converted)
            if complaint:  # wrong whatever the other fields: refused before anything runs
                raise DataError(f"--grid {item!r}: {complaint}")
            if converted in values:
                raise DataError(f"--grid {item!r}: value {value!r} repeats for {name}")
            values.append(converted)
        axes.append((name, tuple(values)))
    return Grid(strategy, tuple(axes))


def field_converters(config: type) -> dict[str, Callable[[str], object]]:
    """Text-to-value converter of every field of a config dataclass, by its type hint."""
    hints = typing.get_type_hints(config)
    return {f.name: _converter(hints[f.name]) for f in fields(config)}


def field_complaint(config: type, name: str, value: object) -> str | None:
    """What the config's own rule for ``name`` says against ``value`` (None: fine). The
    rules between fields (``dte_min`` above ``dte_max``) are the run's to report."""
    rule = config.RULES.get(name)
    return rule.complaint(name, value) if rule else None


def _converter(hint) -> Callable[[str], object]:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) and type(None) in args:
        inner = _converter(next(a for a in args if a is not type(None)))
        return lambda text: None if text.lower() == "none" else inner(text)
    if typing.get_origin(hint) is tuple:
        item = _converter(args[0])
        return lambda text: () if text.lower() == "none" else tuple(
            item(part) for part in text.split("+"))
    if hint is bool:
        return _boolean
    if hint is int:
        return _integer
    if hint is float:
        return _number
    raise ValueError(f"no text form for {hint}")


def _boolean(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError("expected true or false")


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("expected a whole number") from None


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def make_config(strategy: str, params: dict):
    """The strategy's default config with ``params`` replaced; the config checks itself
    (``ValueError`` naming the field, which the run's row then carries)."""
    return replace(STRATEGIES[strategy].config_cls(), **params)
