"""Walk-forward selection: choose the parameter set on the folds before, trade it on the next.

The report's best set is chosen on the whole window, so its Sharpe is in-sample: it was
picked knowing every fold it is scored on. A trader who sweeps and then trades the winner
gets something else, which the stored runs already hold (no new backtests): for each fold
k after the first, the set with the best score on folds 0..k-1 (anchored: every fold
before), then that set's daily returns on fold k; folds 1..K-1 stitched end to end are the
out-of-sample result.

* Score: the mean of the per-fold annualized Sharpe ratios over the folds before, the same
  per-fold Sharpe ``fold_sharpe_mean`` uses; an idle fold (returns that never change)
  scores 0.
* Ties: every set with the highest score (exactly equal, as when a rule does not bind in
  those folds and several sets hold the same positions) shares the fold equally: the fold's
  returns are the mean of the tied sets' daily returns. Picking the first would make the
  answer depend on the order of the ``--grid`` values, as it made PBO before.
* Only sets that finished every fold take part, as in the overfitting statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.domain import TRADING_DAYS
from sweeps.overfitting import sharpe_ratio

PERIODS_PER_YEAR = TRADING_DAYS


@dataclass(frozen=True)
class FoldChoice:
    """What was traded on one fold: the sets chosen on the folds before it."""

    fold: int
    #: indices (into the sets given) of the sets sharing the best in-sample score
    chosen: tuple[int, ...]
    #: their score: mean annualized Sharpe over folds 0..fold-1
    in_sample_sharpe: float
    #: the mean of the chosen sets' daily returns on this fold
    returns: pd.Series


def fold_sharpes(fold_returns: list[list[pd.Series]]) -> np.ndarray:
    """The (folds x sets) matrix of annualized per-fold Sharpe ratios (idle folds 0) of
    ``fold_returns[set][fold]``."""
    return np.array([[sharpe_ratio(f) * math.sqrt(PERIODS_PER_YEAR) for f in folds]
                     for folds in fold_returns]).T


def choose(scores: np.ndarray, fold: int) -> tuple[tuple[int, ...], float]:
    """The sets with the best mean score over rows ``0..fold-1`` of ``scores`` (folds x
    sets) and that score; rows from ``fold`` on are never read."""
    if fold < 1:
        raise ValueError("the first fold has no folds before it to choose on")
    in_sample = np.asarray(scores, dtype=float)[:fold].mean(axis=0)
    best = in_sample.max()
    return tuple(int(i) for i in np.flatnonzero(in_sample == best)), float(best)


def select(fold_returns: list[list[pd.Series]]) -> list[FoldChoice]:
    """Anchored walk-forward selection over ``fold_returns[set][fold]`` (every set with the
    same folds): one choice per fold after the first."""
    scores = fold_sharpes(fold_returns)
    choices = []
    for fold in range(1, scores.shape[0]):
        chosen, score = choose(scores, fold)
        returns = pd.concat([fold_returns[i][fold] for i in chosen], axis=1).mean(axis=1)
        choices.append(FoldChoice(fold, chosen, score, returns))
    return choices


def stitched(choices: list[FoldChoice]) -> pd.Series:
    """The out-of-sample daily returns: each choice's fold, end to end."""
    return pd.concat([c.returns for c in choices])


def performance(returns: pd.Series) -> dict:
    """Total and annual return, annualized Sharpe and max drawdown (a negative fraction) of
    daily returns compounded, as the backtest reports them."""
    equity = (1.0 + returns).cumprod()
    total = float(equity.iloc[-1] - 1.0) if len(returns) else math.nan
    annual = (1.0 + total) ** (PERIODS_PER_YEAR / len(returns)) - 1.0 if len(returns) else math.nan
    drawdown = float((equity / equity.cummax().clip(lower=1.0) - 1.0).min()) if len(returns) \
        else math.nan
    return {"total_return": total, "annual_return": float(annual),
            "sharpe": sharpe_ratio(returns) * math.sqrt(PERIODS_PER_YEAR),
            "max_drawdown": min(drawdown, 0.0)}


def full_window_sharpes(fold_returns: dict[int, list[pd.Series]]) -> dict[int, float]:
    """Each set's per-period Sharpe over all its folds joined."""
    return {i: sharpe_ratio(pd.concat(folds)) for i, folds in fold_returns.items()}


def full_window_best(sharpes: dict[int, float]) -> int:
    """The report's best set from ``full_window_sharpes``: the highest (the first of the
    grid on a tie), i.e. chosen in-sample."""
    return max(sharpes, key=lambda i: (sharpes[i], -i))
