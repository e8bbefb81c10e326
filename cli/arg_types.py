"""Argument types shared by the commands (symbols, dates, counts), so every command reads
and refuses them the same way; ``cli.options`` declares the options that use them."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import pandas as pd

from core.domain import MAX_SEED


def date_arg(text: str) -> pd.Timestamp:
    """A session date, ``YYYY-MM-DD`` only: ``01/02/2024`` reads as January 2 and
    ``13/02/2024`` as February 13, so a date in another order is refused, not guessed."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}")
    try:
        return pd.Timestamp(text.strip()).normalize()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def symbols_arg(text: str) -> list[str]:
    """A comma-separated list of symbols, upper-cased; a symbol named twice is refused
    (it would run twice and count twice in every total)."""
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("give at least one symbol, e.g. SPY or SPY,QQQ")
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"{', '.join(twice)} named more than once in {text!r}")
    return symbols


def symbol_arg(text: str) -> str:
    """Exactly one symbol, upper-cased."""
    symbols = symbols_arg(text)
    if len(symbols) != 1:
        raise argparse.ArgumentTypeError(f"give one symbol, got {text!r}")
    return symbols[0]


def _whole(text: str, low: int, high: int | None = None) -> int:
    """``text`` as a whole number from ``low`` (to ``high``), else argparse's refusal."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < low or (high is not None and value > high):
        span = f"of at least {low}" if high is None else f"from {low} to {high}"
        raise argparse.ArgumentTypeError(f"expected a whole number {span}, got {text}")
    return value


def positive_int_arg(text: str) -> int:
    """A whole number of at least 1 (a count of sessions, folds, workers, epochs)."""
    return _whole(text, 1)


def count_arg(text: str) -> int:
    """A whole number of at least 0 (a count where 0 means "none", e.g. ``--folds 0``)."""
    return _whole(text, 0)


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):  # inf and nan would turn every metric into nan
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


#: the most starting cash accepted: share counts and margins of larger accounts overflow
#: the float arithmetic of sizing (1e308 gave NaN shares)
MAX_CASH = 1e12


def cash_arg(text: str) -> float:
    """Starting cash: a finite amount above 0 (returns are divided by it), at most
    ``MAX_CASH``."""
    value = _finite(text)
    if not 0 < value <= MAX_CASH:
        raise argparse.ArgumentTypeError(f"expected an amount above 0 and at most "
                                         f"{MAX_CASH:,.0f}, got {text}")
    return value


def seed_arg(text: str) -> int:
    """A random seed: a whole number from 0 to ``MAX_SEED`` (what numpy's generators take)."""
    return _whole(text, 0, MAX_SEED)


def path_arg(text: str) -> Path:
    """A path that is not empty (an empty one would silently mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty one")
    return Path(text)


def label_arg(text: str) -> str:
    """A store label: one folder name under the model store (no separators, not ``.`` or
    ``..``), so a saved model never lands outside ``--models-dir``."""
    if not text.strip() or text in (".", "..") or "/" in text or "\\" in text:
        raise argparse.ArgumentTypeError(f"expected one folder name (no '/', not '.' or "
                                         f"'..'), got {text!r}")
    return text


def money_arg(text: str) -> float:
    """A finite amount of 0 or more (a commission in dollars)."""
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an amount of 0 or more, got {text}")
    return value


def fraction_arg(text: str) -> float:
    """A rate from 0 to below 1 (a commission as a fraction of traded value)."""
    value = _finite(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to below 1, got {text}")
    return value


def positive_float_arg(text: str) -> float:
    """A number above 0 (a length of time in years)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:  # NaN too
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


def seconds_arg(text: str) -> float:
    """A finite number of seconds; which values a setting can use (0, negative) is the
    settings' own rule (``brokers.ib_store.StoreSettings``), so every command that builds
    them refuses the same values."""
    return _finite(text)


def port_arg(text: str) -> int:
    """A TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text}")
    return value


#: sessions (daily bars) in one unit of an IB duration, roughly: IB counts D, W, M, Y of
#: calendar time, S in seconds
_SESSIONS_PER_UNIT = {"S": 1 / 86_400, "D": 5 / 7, "W": 5.0, "M": 21.0, "Y": 252.0}


def ib_duration_arg(text: str) -> str:
    """An IB historical-data duration: a whole number above 0 and a unit of S, D, W, M, Y
    (``'1 Y'``, ``'5 D'``, ``'3600 S'``), as ``reqHistoricalData`` takes it."""
    match = re.fullmatch(r"\s*(\d+)\s+([SDWMY])\s*", text)
    if not match or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(
            f"expected an IB duration: a whole number above 0, a space and one of S, D, W, M, "
            f"Y (e.g. '1 Y', '5 D', '3600 S'), got {text!r}")
    return f"{int(match.group(1))} {match.group(2)}"


def duration_sessions(duration: str) -> float:
    """About how many daily sessions an IB duration (``ib_duration_arg``) spans."""
    count, unit = duration.split()
    return int(count) * _SESSIONS_PER_UNIT[unit]
