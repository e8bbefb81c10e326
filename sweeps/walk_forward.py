"""Walk-forward selection: choose the parameter set on the folds before, trade it on the next.

The report's best set is chosen on the whole window, so its Sharpe is in-sample: it was
picked knowing every fold it is scored on. A trader who sweeps and then trades the winner
gets something else, which the stored runs already hold (no new backtests): for each fold
k after the first, the set with the best score on folds 0..k-1 (anchored: every fold
before), then that set's daily returns on fold k; folds 1..K-1 stitched end to end are the
out-of-sample result.

* Score: the annualized Sharpe of each set's daily returns of the folds before, joined end
  to end (``column_sharpes``): the statistic by which the probability of overfitting ranks
  a half's sets in-sample, so that the PBO measures this very rule. The mean of the folds'
  Sharpe ratios, used before, weighs a quiet fold like a busy one: a set with a steady
  0.1 % a day in a calm fold (Sharpe 11) and a 3 % loss in the next (Sharpe -0.5) beat one
  up in both (Sharpe 1 each) although it lost money over the two. Returns that never
  change score 0.
* Ties: every set with the highest score (exactly equal, as when a rule does not bind in
  those folds and several sets hold the same positions) shares the fold equally: the fold's
  returns are the mean of the tied sets' daily returns. Picking the first would make the
  answer depend on the order of the ``--grid`` values, as it made PBO before.
* A set whose account fell to 0 or below in one of the folds before has no Sharpe there
  (as a backtest's Sharpe is n/a once its account touched 0: the daily returns from then
  on are returns on a value of 0 or less, and a loss on a negative value reads as a
  gain): it scores -inf, below every set with a Sharpe, and is chosen only when every set
  fell to 0 (then all share the fold by the tie rule, and the score is n/a).
* Only sets that finished every fold take part, as in the overfitting statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.domain import TRADING_DAYS
from sweeps.overfitting import column_sharpes, fell_to_zero, sharpe_ratio

PERIODS_PER_YEAR = TRADING_DAYS


@dataclass(frozen=True)
class FoldChoice:
    """What was traded on one fold: the sets chosen on the folds before it."""

    fold: int
    #: indices (into the sets given) of the sets sharing the best in-sample score
    chosen: tuple[int, ...]
    #: their score: the annualized Sharpe of their returns of folds 0..fold-1 joined (NaN:
    #: every set's account fell to 0 or below in one of those folds)
    in_sample_sharpe: float
    #: the mean of the chosen sets' daily returns on this fold
    returns: pd.Series


def choose(fold_returns: list[list[pd.Series]], fold: int) -> tuple[tuple[int, ...], float]:
    """The sets of ``fold_returns[set][fold]`` whose returns of folds ``0..fold-1`` joined
    have the best annualized Sharpe, and that Sharpe; folds from ``fold`` on are never
    read. A set whose account fell to 0 or below in one of those folds scores -inf (no
    Sharpe): chosen only if every set did, with a score of NaN (n/a)."""
    if fold < 1:
        raise ValueError("the first fold has no folds before it to choose on")
    joined = np.column_stack([np.concatenate([np.asarray(f, dtype=float)
                                              for f in folds[:fold]])
                              for folds in fold_returns])
    in_sample = column_sharpes(joined) * math.sqrt(PERIODS_PER_YEAR)
    fell = [any(fell_to_zero(f) for f in folds[:fold]) for folds in fold_returns]
    in_sample[fell] = -np.inf
    best = in_sample.max()
    chosen = tuple(int(i) for i in np.flatnonzero(in_sample == best))
    return chosen, float(best) if np.isfinite(best) else math.nan


def select(fold_returns: list[list[pd.Series]]) -> list[FoldChoice]:
    """Anchored walk-forward selection over ``fold_returns[set][fold]`` (every set with the
    same folds): one choice per fold after the first."""
    choices = []
    for fold in range(1, len(fold_returns[0])):
        chosen, score = choose(fold_returns, fold)
        returns = pd.concat([fold_returns[i][fold] for i in chosen], axis=1).mean(axis=1)
        choices.append(FoldChoice(fold, chosen, score, returns))
    return choices


def stitched(choices: list[FoldChoice]) -> pd.Series:
    """The out-of-sample daily returns: each choice's fold, end to end."""
    return pd.concat([c.returns for c in choices])


def performance(returns: pd.Series) -> dict:
    """Total and annual return, annualized Sharpe and max drawdown (a negative fraction) of
    daily returns compounded, as the backtest reports them: no annual return (NaN) for an
    account that ends at 0 or below, no Sharpe once it touched 0."""
    equity = (1.0 + returns).cumprod()
    total = float(equity.iloc[-1] - 1.0) if len(returns) else math.nan
    annual = ((1.0 + total) ** (PERIODS_PER_YEAR / len(returns)) - 1.0
              if len(returns) and total > -1.0 else math.nan)
    drawdown = float((equity / equity.cummax().clip(lower=1.0) - 1.0).min()) if len(returns) \
        else math.nan
    return {"total_return": total, "annual_return": float(annual),
            "sharpe": (math.nan if (equity <= 0.0).any()
                       else sharpe_ratio(returns) * math.sqrt(PERIODS_PER_YEAR)),
            "max_drawdown": min(drawdown, 0.0)}


def full_window_sharpes(fold_returns: dict[int, list[pd.Series]]) -> dict[int, float]:
    """Each set's per-period Sharpe over all its folds joined; -inf (none, ranked last)
    for a set whose account fell to 0 or below in a fold."""
    return {i: -math.inf if any(fell_to_zero(f) for f in folds)
            else sharpe_ratio(pd.concat(folds)) for i, folds in fold_returns.items()}


def full_window_best(sharpes: dict[int, float]) -> int:
    """The report's best set from ``full_window_sharpes``: the highest (the first of the
    grid on a tie; a set with no Sharpe only when no set has one), i.e. chosen
    in-sample."""
    return max(sharpes, key=lambda i: (sharpes[i], -i))
