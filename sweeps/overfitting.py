"""How likely the winner of a sweep is luck: the deflated Sharpe ratio and the probability
of backtest overfitting.

* Deflated Sharpe ratio (Bailey and Lopez de Prado, "The Deflated Sharpe Ratio", 2014):
  the probability that the best run's true Sharpe is above the Sharpe the best of N
  unskilled trials would show by chance. That expected maximum is
  ``SR0 = sqrt(V) * ((1 - g) * Z(1 - 1/N) + g * Z(1 - 1/(N e)))`` with V the variance of
  the trials' Sharpe ratios, g the Euler-Mascheroni constant and Z the standard normal
  quantile; then ``DSR = Phi((SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR +
  (kurtosis - 1) / 4 * SR^2))`` for the best run's per-period Sharpe SR over T returns,
  with their skewness and (non-excess) kurtosis. Everything is per period (daily), not
  annualized.
* Probability of backtest overfitting (Bailey, Borwein, Lopez de Prado and Zhu, "The
  Probability of Backtest Overfitting", 2017) by combinatorially symmetric cross-validation:
  the time splits (the sweep's folds) of a (periods x parameter sets) matrix of returns are
  split every way into two halves; each half scores every set by the Sharpe of its returns
  joined end to end (the paper's statistic on the half's rows, not the mean of the folds'
  Sharpe ratios, which weighs a quiet fold like a busy one); the set that is best on one
  half (in-sample) is ranked on the other half (out-of-sample); PBO is the share of splits
  where that rank is at or below the median, i.e. where the logit ``log(w / (1 - w))`` of
  its relative rank ``w = rank / (N + 1)`` is ``<= 0``. Sets that tie in-sample (a rule
  that does not bind in those folds gives several sets the same positions) are all winners,
  each with an equal share of the split: picking the first would make PBO depend on the
  order of the grid. Sets whose returns are the same everywhere have no winner at all and
  no PBO. A set whose account fell to 0 or below in a fold (``wiped``) has no Sharpe in
  any half that holds that fold: it is ranked last there, below every set with a Sharpe
  (its daily returns from then on are returns on a value of 0 or less, whose Sharpe reads
  a loss as a gain). More than ``MAX_GROUPS`` folds are joined into that many groups or fewer of
  equally many consecutive folds (the paper's S = 16 gives C(16, 8) = 12,870 combinations;
  40 folds alone would give C(40, 20), about 1.4e11, a report that never ends).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: most CSCV groups: C(16, 8) = 12,870 combinations, each a ranking of every set
MAX_GROUPS = 16


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of the best of ``n_trials`` runs (per-period figures)."""

    sharpe: float
    expected_max_sharpe: float
    deflated_sharpe: float
    n_trials: int
    n_observations: int
    skewness: float
    kurtosis: float


@dataclass(frozen=True)
class Overfitting:
    """CSCV result: PBO and the logit of every split's in-sample winner (in the order of
    the combinations; a split whose best is tied has one logit per tied set, each weighing
    ``1 / ties``, so the weights of a split add up to 1)."""

    pbo: float
    logits: tuple[float, ...]
    n_splits: int
    n_combinations: int
    weights: tuple[float, ...] = ()
    #: splits whose in-sample best several parameter sets share
    tied_splits: int = 0
    #: consecutive rows of the matrix (folds) joined into each of the ``n_splits`` groups
    folds_per_group: int = 1


def sharpe_ratio(returns) -> float:
    """Per-period Sharpe: mean over standard deviation (ddof 1), no risk-free rate."""
    returns = np.asarray(returns, dtype=float)
    sd = returns.std(ddof=1) if len(returns) > 1 else 0.0
    return float(returns.mean() / sd) if sd > 0 else 0.0


def fell_to_zero(returns) -> bool:
    """Whether an account whose daily returns from its start are ``returns`` fell to 0 or
    below: its value relative to the start is the running product of 1 + the returns (the
    product telescopes, sign included; ``engine.backtest.first_at_or_below_zero``)."""
    return bool((np.cumprod(1.0 + np.asarray(returns, dtype=float)) <= 0.0).any())


def expected_max_sharpe(trial_sharpes) -> float:
    """SR0: the highest Sharpe expected among these many unskilled trials, given their
    spread. 0 for a single trial (nothing was selected)."""
    trial_sharpes = np.asarray(trial_sharpes, dtype=float)
    n = len(trial_sharpes)
    if n < 2:
        return 0.0
    spread = math.sqrt(trial_sharpes.var(ddof=1))
    gamma = np.euler_gamma
    return spread * ((1.0 - gamma) * stats.norm.ppf(1.0 - 1.0 / n)
                     + gamma * stats.norm.ppf(1.0 - 1.0 / (n * math.e)))


def probabilistic_sharpe(sharpe: float, benchmark: float, n_observations: int,
                         skewness: float, kurtosis: float) -> float:
    """P(true Sharpe > benchmark) for an estimated per-period Sharpe over n returns with
    this skewness and non-excess kurtosis; NaN where the variance term is not positive."""
    if n_observations < 2:
        return math.nan
    variance = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe ** 2
    if not variance > 0.0:
        return math.nan
    z = (sharpe - benchmark) * math.sqrt(n_observations - 1) / math.sqrt(variance)
    return float(stats.norm.cdf(z))


def deflated_sharpe(best_returns, trial_sharpes) -> DeflatedSharpe:
    """DSR of the run with ``best_returns`` (per period), chosen among trials whose
    per-period Sharpe ratios are ``trial_sharpes`` (the best one included)."""
    best_returns = np.asarray(best_returns, dtype=float)
    sharpe = sharpe_ratio(best_returns)
    sr0 = expected_max_sharpe(trial_sharpes)
    varies = best_returns.std() > 0
    skewness = float(stats.skew(best_returns)) if varies else 0.0
    kurtosis = float(stats.kurtosis(best_returns, fisher=False)) if varies else 3.0
    # constant returns (a run that never traded) have no Sharpe ratio to test: the 0 that
    # ranks them is a convention, and Phi(-SR0 ...) or 0.5 would read as a finding
    dsr = (probabilistic_sharpe(sharpe, sr0, len(best_returns), skewness, kurtosis)
           if varies else math.nan)
    return DeflatedSharpe(sharpe, float(sr0), dsr, len(trial_sharpes), len(best_returns),
                          skewness, kurtosis)


def cscv_groups(n_folds: int) -> int:
    """How many groups of equally many consecutive folds CSCV splits ``n_folds`` into:
    the folds themselves up to ``MAX_GROUPS``, else the largest even divisor of
    ``n_folds`` not above it (0 when there is none: an odd number, e.g. 17)."""
    if n_folds <= MAX_GROUPS:
        return n_folds
    return max((g for g in range(2, MAX_GROUPS + 1, 2) if n_folds % g == 0), default=0)


def column_sharpes(returns: np.ndarray) -> np.ndarray:
    """The per-period Sharpe of every column of ``returns`` (rows: periods), 0 for a
    column that never moves (``sharpe_ratio`` column by column)."""
    if len(returns) < 2:
        return np.zeros(returns.shape[1])
    sd = returns.std(axis=0, ddof=1)
    mean = returns.mean(axis=0)
    return np.divide(mean, sd, out=np.zeros_like(mean), where=sd > 0)


def column_means(rows: np.ndarray) -> np.ndarray:
    """The mean of every column: a half scored by the mean of its rows' scores (rows that
    are already one score per fold)."""
    return rows.mean(axis=0)


def probability_of_overfitting(returns, fold_sizes=None,
                               metric: Callable[[np.ndarray], np.ndarray] = column_sharpes,
                               wiped=None) -> Overfitting:
    """PBO by CSCV, as in the paper: ``returns`` is the (periods x parameter sets) matrix of
    every set's per-period returns in time order, ``fold_sizes`` how many consecutive rows
    each fold has (default one row a fold). The folds (in ``cscv_groups`` groups of
    consecutive folds when there are more than ``MAX_GROUPS``) are the splits: their number
    must be even and at least 2, and there must be at least 2 parameter sets. A half is
    scored by ``metric`` over its rows joined (default: each set's per-period Sharpe of the
    half's returns end to end; ``column_means`` scores a matrix of one score per fold by
    their mean). ``wiped`` (a boolean matrix of the same shape, optional) marks the rows of
    each fold in which that set's account fell to 0 or below: a half holding any of them
    scores that set -inf, last."""
    returns = np.asarray(returns, dtype=float)
    if returns.ndim != 2:
        raise ValueError("returns must be a (periods x parameter sets) matrix")
    sizes = [1] * len(returns) if fold_sizes is None else [int(n) for n in fold_sizes]
    if sum(sizes) != len(returns) or min(sizes, default=0) < 1:
        raise ValueError(f"fold sizes {sizes} do not split {len(returns)} rows")
    n_folds, n_sets = len(sizes), returns.shape[1]
    if n_folds < 2 or n_folds % 2 and n_folds <= MAX_GROUPS:
        raise ValueError(f"CSCV needs an even number of time splits (>= 2), got {n_folds}")
    n_splits = cscv_groups(n_folds)
    if not n_splits:
        raise ValueError(f"CSCV over {n_folds} folds: C({n_folds}, {n_folds // 2}) "
                         "combinations are too many, and no even number of groups up to "
                         f"{MAX_GROUPS} splits them equally; use {MAX_GROUPS} folds or "
                         "fewer, or a multiple of an even number up to it")
    if n_sets < 2:
        raise ValueError(f"CSCV needs at least 2 parameter sets, got {n_sets}")
    if not np.isfinite(returns).all():
        raise ValueError("returns have missing values")
    per_group = n_folds // n_splits
    ends = np.cumsum(sizes)[per_group - 1::per_group]
    groups = np.split(returns, ends[:-1])  # each group's rows, in time order
    fell = np.split(np.zeros(returns.shape, dtype=bool) if wiped is None
                    else np.asarray(wiped, dtype=bool), ends[:-1])

    def score(chosen) -> np.ndarray:
        scores = metric(np.concatenate([groups[g] for g in chosen]))
        return np.where(np.concatenate([fell[g] for g in chosen]).any(axis=0), -np.inf,
                        scores)

    if (returns == returns[:, :1]).all():
        raise ValueError("every parameter set scored the same in every fold (the swept "
                         "values made no difference): no in-sample winner to rank")
    logits, weights, tied, overfit = [], [], 0, 0.0
    combinations = list(itertools.combinations(range(n_splits), n_splits // 2))
    for in_sample in combinations:
        out_sample = [i for i in range(n_splits) if i not in in_sample]
        scores = score(in_sample)
        winners = np.flatnonzero(scores == scores.max())  # a tie: each one equally likely
        tied += len(winners) > 1
        ranks = stats.rankdata(score(out_sample))  # 1 = worst, ties averaged
        for best in winners:
            w = ranks[best] / (n_sets + 1)
            logits.append(math.log(w / (1.0 - w)))
            weights.append(1.0 / len(winners))
            overfit += weights[-1] * (logits[-1] <= 0.0)
    return Overfitting(overfit / len(combinations), tuple(logits), n_splits, len(combinations),
                       tuple(weights), tied, per_group)
