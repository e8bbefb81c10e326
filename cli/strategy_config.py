"""A strategy's config from the parsed command line, checked before any work starts.

The config dataclass checks its own values (``__post_init__``, ``strategies.config_rules``)
and names the field (``stop_multiple=0.5 is invalid: ...``); here that becomes the flag the
user typed (``--stop-multiple 0.5 is invalid: ...``) in a ``DataError`` (exit code 2).
"""

from __future__ import annotations

import argparse
import re

from cli.options import CONFIG_FLAGS
from core.errors import DataError
from strategies.registry import StrategySpec


def config_from_args(spec: StrategySpec, args: argparse.Namespace, **values) -> object:
    """``spec.config_cls`` with its flagged fields (``cli.options.CONFIG_FLAGS``) taken from
    ``args`` and ``values`` on top; a refused value is a ``DataError`` naming the flag."""
    flagged = CONFIG_FLAGS.get(spec.config_cls, ())
    given = {name: getattr(args, name) for name in flagged if hasattr(args, name)}
    try:
        return spec.config_cls(**{**given, **values})
    except ValueError as exc:
        raise DataError(with_flags(str(exc), flagged)) from None


def check_account(config: object, cash: float) -> None:
    """Refuse, before any work, a spread width the account's starting ``cash`` can never
    size one contract of (``account_refusal``)."""
    refusal = account_refusal(config, cash)
    if refusal:
        raise DataError(in_flags(refusal))


def account_refusal(config: object, cash: float) -> str | None:
    """Why an account starting with ``cash`` can never size one contract of the config's
    set width (``CreditSpreadConfig.sizing_refusal``, in field names), else None; a config
    without a set width is checked by the backtest at the first traded session's price."""
    width = getattr(config, "width", None)
    return config.sizing_refusal(cash, width) if width else None


def check_regimes_have_a_line(skip_regimes, signals: str, flag: str) -> None:
    """Refuse regimes to skip on a signal without a regime line (only ``--signals ml`` has
    one): no regime would ever be skipped, every value trading the same."""
    if skip_regimes and signals != "ml":
        raise DataError(f"{flag} needs --signals ml: the rule signal has no regime line, so "
                        "no regime would ever be skipped and every value trades the same")


def in_flags(message: str) -> str:
    """``message`` with every config field of ``cli.options.CONFIG_FLAGS`` as its flag."""
    for names in CONFIG_FLAGS.values():
        message = with_flags(message, names)
    return message


def with_flags(message: str, names: tuple[str, ...]) -> str:
    """``message`` with each ``name=`` of ``names`` written as its flag, ``--name-x ``."""
    for name in names:
        message = re.sub(rf"\b{name}=", f"--{name.replace('_', '-')} ", message)
    return message
