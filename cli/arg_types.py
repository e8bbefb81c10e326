"""Argument types shared by the commands that name symbols and dates (backtest, train,
data fetch), so every command reads and refuses them the same way."""

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
