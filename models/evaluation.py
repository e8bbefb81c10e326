"""Scores a quant trusts for a three-class spread signal (hold / call / put), pure maths.

Every predictor is scored on the same out-of-sample bars by the same numbers:

* classification: accuracy, balanced accuracy, macro-F1 (scikit-learn);
* probabilities: log loss and the multi-class Brier score (mean over bars of the summed
  squared error of the class probabilities), NaN for a predictor without probabilities;
* ranking: IC and rank IC (Pearson, and ``scipy.stats.spearmanr``) of the predictor's
  score ``p_put - p_call`` (a hard call scores +1 put, -1 call, 0 hold) against the
  realized ``put P&L - call P&L``;
* money: mean P&L per call, the realized return on risk of the spread the predictor chose
  (hold = 0, a spread the broker refused = 0), and its standard error;
* edge captured, ``(score - majority) / (oracle - majority)``: the share of the distance
  from the majority-class baseline to the oracle that a predictor covers, in log loss and
  in P&L (1 = as good as the oracle, 0 = no better than the majority class).

``regime_oracle`` is the honest ceiling where the truth is known (the sample market's
``true_regime``): it knows each bar's true regime but learns what to do in it only from
labels known before the scored block. ``fit_temperature`` calibrates probabilities by
temperature scaling (Guo et al., *On Calibration of Modern Neural Networks*, 2017).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# scipy.stats, scipy.optimize and scikit-learn are imported in the functions that use them:
# they take about a second to import, and every command imports this module (through the
# indicators) whether or not it scores a model (``tests/cli/test_startup.py``)
from core.domain import CALL_CREDIT_SPREAD, HOLD, PUT_CREDIT_SPREAD

CLASSES = (HOLD, CALL_CREDIT_SPREAD, PUT_CREDIT_SPREAD)
#: the columns of a score table, in order
SCORE_COLUMNS = ("n", "accuracy", "balanced_accuracy", "macro_f1", "log_loss", "brier", "ic",
                 "rank_ic", "mean_pnl", "pnl_se", "edge_log_loss", "edge_pnl")
_CLIP = 1e-6


def chosen_pnl(choice, put_pnl, call_pnl) -> np.ndarray:
    """Realized return on risk of each call: the put's, the call's, or 0 for hold (and 0
    for a spread the broker refused, NaN P&L)."""
    choice = np.asarray(choice, dtype=int)
    put, call = np.nan_to_num(np.asarray(put_pnl, float)), np.nan_to_num(np.asarray(call_pnl,
                                                                                     float))
    return np.where(choice == PUT_CREDIT_SPREAD, put,
                    np.where(choice == CALL_CREDIT_SPREAD, call, 0.0))


def action_returns(labels, put_pnl, call_pnl) -> np.ndarray:
    """``m[a, c]``: the mean realized return on risk of action ``a`` (hold, call, put) over
    the bars labelled ``c`` (hold = 0, a refused spread = 0; 0 for a class that never
    occurred). With class probabilities ``p`` of a bar, ``p @ m.T`` is each action's
    expected return: what a trader who believes ``p`` should weigh, not ``p`` alone."""
    labels = np.asarray(labels, dtype=int)
    put, call = (np.nan_to_num(np.asarray(pnl, dtype=float)) for pnl in (put_pnl, call_pnl))
    m = np.zeros((len(CLASSES), len(CLASSES)))
    for c in CLASSES:
        rows = labels == c
        if rows.any():
            m[PUT_CREDIT_SPREAD, c], m[CALL_CREDIT_SPREAD, c] = put[rows].mean(), call[rows].mean()
    return m


def brier_score(y_true, proba) -> float:
    """Multi-class Brier score: mean over bars of sum_k (p_k - [y = k])^2 (0 is perfect,
    2 is sure and wrong)."""
    proba = np.asarray(proba, dtype=float)
    onehot = np.eye(len(CLASSES))[np.asarray(y_true, dtype=int)]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def signal_score(choice, proba=None) -> np.ndarray:
    """What a predictor says about put vs call: ``p_put - p_call``, or +1 / -1 / 0 for a
    hard call."""
    if proba is not None:
        proba = np.asarray(proba, dtype=float)
        return proba[:, PUT_CREDIT_SPREAD] - proba[:, CALL_CREDIT_SPREAD]
    choice = np.asarray(choice, dtype=int)
    return np.where(choice == PUT_CREDIT_SPREAD, 1.0,
                    np.where(choice == CALL_CREDIT_SPREAD, -1.0, 0.0))


def information_coefficients(score, put_pnl, call_pnl) -> tuple[float, float]:
    """IC and rank IC of ``score`` against ``put P&L - call P&L`` (refused = 0); NaN when
    either side is constant."""
    edge = np.nan_to_num(np.asarray(put_pnl, float)) - np.nan_to_num(np.asarray(call_pnl,
                                                                              float))
    score = np.asarray(score, dtype=float)
    if len(score) < 3 or np.ptp(score) == 0 or np.ptp(edge) == 0:
        return np.nan, np.nan
    from scipy.stats import pearsonr, spearmanr  # on use: scipy.stats is slow to import

    return float(pearsonr(score, edge)[0]), float(spearmanr(score, edge)[0])


def score_predictor(y_true, choice, put_pnl, call_pnl, proba=None) -> dict:
    """One row of the score table (see the module doc); ``proba`` has the columns of
    ``CLASSES`` (hold, call, put)."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss, recall_score

    y_true, choice = np.asarray(y_true, dtype=int), np.asarray(choice, dtype=int)
    pnl = chosen_pnl(choice, put_pnl, call_pnl)
    row = {"n": int(len(y_true)),
           "accuracy": float(accuracy_score(y_true, choice)),
           # mean recall over the classes present (balanced_accuracy_score's definition,
           # without its warning on a block where one class is missing)
           "balanced_accuracy": float(recall_score(y_true, choice, labels=np.unique(y_true),
                                                   average="macro", zero_division=0)),
           # over the classes that occur (truth or call), as scikit-learn does by default
           "macro_f1": float(f1_score(y_true, choice, average="macro", zero_division=0)),
           "log_loss": np.nan, "brier": np.nan}
    row["mean_pnl"], row["pnl_se"] = mean_and_standard_error(pnl)
    if proba is not None:
        proba = np.clip(np.asarray(proba, dtype=float), _CLIP, 1.0)
        proba = proba / proba.sum(axis=1, keepdims=True)
        row["log_loss"] = float(log_loss(y_true, proba, labels=list(CLASSES)))
        row["brier"] = brier_score(y_true, proba)
    row["ic"], row["rank_ic"] = information_coefficients(signal_score(choice, proba),
                                                         put_pnl, call_pnl)
    return row


def edge_captured(score: float, majority: float, oracle: float,
                  higher_is_better: bool = True) -> float:
    """``(score - majority) / (oracle - majority)``; NaN when the oracle does not beat the
    majority class (nothing to capture: a ratio against a gap of the wrong sign would
    read as skill)."""
    gap = oracle - majority
    if not np.isfinite(gap) or not np.isfinite(score) or (
            gap if higher_is_better else -gap) < 1e-12:
        return np.nan
    return float((score - majority) / gap)


#: an edge share is shown only where the oracle beats the majority class by at least this
#: many paired standard errors over the scored bars: below it the oracle's margin is the
#: bars' noise, and a ratio against it reads anything (+216 on a short window)
EDGE_MIN_STANDARD_ERRORS = 2.0


def score_table(y_true, put_pnl, call_pnl, predictors: dict,
                reference: tuple[str, str] = ("majority", "oracle")) -> pd.DataFrame:
    """Rows ``score_predictor`` per named predictor (``{name: (choice, proba or None)}``)
    plus the edge each captures between ``reference`` = (majority row, oracle row), NaN
    where the oracle's margin over the majority is not measured (``oracle_margins``)."""
    rows = {name: score_predictor(y_true, choice, put_pnl, call_pnl, proba)
            for name, (choice, proba) in predictors.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    low, high = reference
    if low in table.index:  # its call is one per training block: a correlation pooled over
        table.loc[low, ["ic", "rank_ic"]] = np.nan  # blocks measures their drift, not skill
    measured = {"log_loss": False, "mean_pnl": False}
    if low in predictors and high in predictors:
        measured = {metric: margin >= EDGE_MIN_STANDARD_ERRORS * se and margin > 0
                    for metric, (margin, se) in oracle_margins(
                        y_true, put_pnl, call_pnl, predictors[high], predictors[low]).items()}
    for column, metric, higher in (("edge_log_loss", "log_loss", False),
                                   ("edge_pnl", "mean_pnl", True)):
        table[column] = np.nan
        if measured[metric]:
            table[column] = [edge_captured(v, table.loc[low, metric], table.loc[high, metric],
                                           higher) for v in table[metric]]
    return table.loc[:, list(SCORE_COLUMNS)]


def oracle_margins(y_true, put_pnl, call_pnl, oracle: tuple,
                   majority: tuple) -> dict[str, tuple[float, float]]:
    """How much better the oracle scores than the majority class on the same bars, with the
    paired standard error of that margin: ``{"log_loss": (majority's minus oracle's, se),
    "mean_pnl": (oracle's minus majority's, se)}`` (NaN where a probability is missing).
    An edge share is a ratio against this margin, so it means something only where the
    margin stands out of the bars' noise."""
    (oracle_choice, oracle_proba), (majority_choice, majority_proba) = oracle, majority
    margins = {"log_loss": (np.nan, np.nan)}
    if oracle_proba is not None and majority_proba is not None and len(y_true) > 1:
        diff, se = paired_log_loss_difference(y_true, oracle_proba, majority_proba)
        margins["log_loss"] = (-diff, se)
    margins["mean_pnl"] = (paired_pnl_difference(oracle_choice, majority_choice, put_pnl,
                                                 call_pnl) if len(y_true) > 1
                           else (np.nan, np.nan))
    return margins


# ---------------------------------------------------------------------- baselines
def paired_log_loss_difference(y_true, proba, baseline) -> tuple[float, float]:
    """Mean over bars of ``proba``'s log loss minus ``baseline``'s on the same bars, and
    the standard error of that mean (the per-bar differences' std / sqrt(n)): whether a
    predictor beats a baseline by more than the bars' own noise. Probabilities are clipped
    and renormalised per row, as the log loss column does."""
    y = np.asarray(y_true, dtype=int)

    def per_bar(p) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=float), _CLIP, 1.0)
        return -np.log(p[np.arange(len(y)), y] / p.sum(axis=1))

    return mean_and_standard_error(per_bar(proba) - per_bar(baseline))


def paired_pnl_difference(choice, baseline_choice, put_pnl, call_pnl) -> tuple[float, float]:
    """Mean over bars of the P&L of ``choice``'s calls minus ``baseline_choice``'s on the
    same bars, and the standard error of that mean: does a predictor earn more than a
    baseline by more than the bars' noise? (Labels overlap in time, so the true error is
    larger.)"""
    return mean_and_standard_error(chosen_pnl(choice, put_pnl, call_pnl)
                                   - chosen_pnl(baseline_choice, put_pnl, call_pnl))


def mean_and_standard_error(diff) -> tuple[float, float]:
    """Mean of per-bar differences and its standard error (std / sqrt(n); NaN under two
    bars): the paired comparisons' shared arithmetic."""
    diff = np.asarray(diff, dtype=float)
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    return float(diff.mean()), se


def class_frequencies(y, smoothing: float = 1.0) -> np.ndarray:
    """Class probabilities of ``y`` with ``smoothing`` pseudo-counts per class (so an
    unseen class is unlikely, not impossible)."""
    counts = np.bincount(np.asarray(y, dtype=int), minlength=len(CLASSES)).astype(float)
    counts += smoothing
    return counts / counts.sum()


def best_action(put_pnl, call_pnl) -> int:
    """The spread with the higher mean realized P&L when it is positive, else hold."""
    put = float(np.nanmean(put_pnl)) if np.isfinite(put_pnl).any() else -np.inf
    call = float(np.nanmean(call_pnl)) if np.isfinite(call_pnl).any() else -np.inf
    if max(put, call) <= 0.0:
        return HOLD
    return PUT_CREDIT_SPREAD if put >= call else CALL_CREDIT_SPREAD


def regime_oracle(past: pd.DataFrame, test_regime) -> tuple[np.ndarray, np.ndarray]:
    """Choice and probabilities per test bar from its true regime, learned from ``past``
    (columns ``true_regime``, ``label``, ``put_return``, ``call_return``: only labels known
    before the scored block; the caller filters on ``label_end``). A regime ``past`` never
    saw falls back to all of ``past``."""
    test_regime = np.asarray(test_regime)
    choice = np.empty(len(test_regime), dtype=int)
    proba = np.empty((len(test_regime), len(CLASSES)))
    for regime in np.unique(test_regime):
        seen = past[past["true_regime"] == regime]
        if seen.empty:
            seen = past
        at = test_regime == regime
        choice[at] = best_action(seen["put_return"].to_numpy(float),
                                 seen["call_return"].to_numpy(float))
        proba[at] = class_frequencies(seen["label"].to_numpy())
    return choice, proba


# ---------------------------------------------------------------------- calibration
def apply_temperature(proba, temperature: float) -> np.ndarray:
    """``softmax(log p / T)``: T > 1 softens over-confident probabilities, T < 1 sharpens."""
    logits = np.log(np.clip(np.asarray(proba, dtype=float), _CLIP, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def fit_temperature(proba, y_true) -> float:
    """The temperature that minimises the log loss of ``proba`` on ``y_true`` (validation
    data the network did not train on), or 1.0 when scaling does not improve it."""
    proba, y_true = np.asarray(proba, dtype=float), np.asarray(y_true, dtype=int)
    if len(y_true) < 5:
        return 1.0
    from scipy.optimize import minimize_scalar
    from sklearn.metrics import log_loss

    def loss(log_t: float) -> float:
        return log_loss(y_true, apply_temperature(proba, np.exp(log_t)), labels=list(CLASSES))

    best = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    if best.fun < loss(0.0) - 1e-9:
        return float(np.exp(best.x))
    return 1.0
