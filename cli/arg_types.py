"""Argument types shared by the commands (symbols, dates, counts), so every command reads
and refuses them the same way; ``cli.options`` declares the options that use them."""

from __future__ import annotations

import argparse

import pandas as pd


def date_arg(text: str) -> pd.Timestamp:
    """A session date, ``YYYY-MM-DD``."""
    try:
        return pd.Timestamp(text).normalize()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def symbols_arg(text: str) -> list[str]:
    """A comma-separated list of symbols, upper-cased."""
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("give at least one symbol, e.g. SPY or SPY,QQQ")
    return symbols


def symbol_arg(text: str) -> str:
    """Exactly one symbol, upper-cased."""
    symbols = symbols_arg(text)
    if len(symbols) != 1:
        raise argparse.ArgumentTypeError(f"give one symbol, got {text!r}")
    return symbols[0]


def positive_int_arg(text: str) -> int:
    """A whole number of at least 1 (a count of sessions, folds, workers, epochs)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
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
