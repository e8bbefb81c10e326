"""The direction system's walk-forward score table, in the columns of the strategy model's
(``models.evaluation.score_table``), with the same reference rows.

A direction call is scored as the trade it stands for: BUY earns the label's own log return
from the bar to its ``label_end`` (the triple barrier's exit), SELL earns minus that return,
NEUTRAL earns nothing. Mapped onto the strategy vocabulary the score table speaks (BUY is
the bullish put credit spread, SELL the bearish call credit spread, NEUTRAL hold, with
``put_return = ret`` and ``call_return = -ret``), every column means the same as in the
strategy model's table: ``mean_pnl`` is the mean signed forward return per bar, ``ic`` and
``rank_ic`` correlate ``p_buy - p_sell`` with the forward return, and ``edge_log_loss`` /
``edge_pnl`` are the share of the oracle's edge over the majority class captured (NaN where
the source does not know the hidden regime, so there is no oracle).

``side_log_loss`` asks the direction question alone: on the bars where a barrier was hit,
the log loss of ``p_buy / (p_buy + p_sell)`` for the side that was hit. The three-class
log loss mixes it with *whether* a barrier is hit at all, which the barriers' width
(scaled by the trailing volatility, known at the bar) makes partly predictable in any
market, one without an edge included; the side is not.

Reference rows: ``majority`` (the training labels' class frequencies), ``logistic`` (a
regularised logistic regression on the same feature rows at bar t, trained on the same
purged rows as the members), ``oracle`` (per true regime, the side with the better mean
forward return of labels known before the block, and the class frequencies; only where the
bars carry ``true_regime``) and ``foresight`` (the label itself: the ceiling).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from core.domain import CALL_CREDIT_SPREAD, HOLD, PUT_CREDIT_SPREAD
from models.evaluation import SCORE_COLUMNS, mean_and_standard_error, regime_oracle, score_table

#: direction class (0 sell, 1 neutral, 2 buy) -> strategy class (hold, call, put); the
#: mapping is its own inverse, so it also reorders probability columns both ways
TO_STRATEGY = np.array([CALL_CREDIT_SPREAD, HOLD, PUT_CREDIT_SPREAD])
SELL, BUY = 0, 2
#: the direction-only columns kept beside the score table's
HIT_COLUMNS = ("buy_hit_rate", "sell_hit_rate", "buy_calls", "sell_calls")
TABLE_COLUMNS = (*SCORE_COLUMNS, "side_log_loss", *HIT_COLUMNS)


def side_losses(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per bar, the log loss of the side that was hit under ``p_buy / (p_buy + p_sell)``
    (probability columns in direction order), NaN on NEUTRAL bars (no side was hit)."""
    y = np.asarray(y, dtype=float)
    proba = np.asarray(proba, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_buy = proba[:, BUY] / (proba[:, BUY] + proba[:, SELL])
    p_side = np.clip(np.where(y == BUY, p_buy, 1.0 - p_buy), 1e-15, 1.0)
    return np.where((y == BUY) | (y == SELL), -np.log(p_side), np.nan)


def direction_scores(y: np.ndarray, ret: np.ndarray, predictors: dict) -> pd.DataFrame:
    """One row per ``{name: (pred or None, proba or None)}`` (classes and probability
    columns in direction order: sell, neutral, buy; a predictor without ``pred`` calls its
    most likely class) on labels ``y`` whose trades returned ``ret``."""
    y = np.asarray(y, dtype=int)
    ret = np.asarray(ret, dtype=float)
    mapped, hits = {}, {}
    for name, (pred, proba) in predictors.items():
        pred = np.asarray(pred if pred is not None else proba.argmax(axis=1), dtype=int)
        mapped[name] = (TO_STRATEGY[pred], None if proba is None else proba[:, TO_STRATEGY])
        buys, sells = pred == BUY, pred == SELL
        side = side_losses(y, proba) if proba is not None else np.full(len(y), np.nan)
        hits[name] = {"side_log_loss": np.nanmean(side) if np.isfinite(side).any() else np.nan,
                      "buy_hit_rate": (y[buys] == BUY).mean() if buys.any() else np.nan,
                      "sell_hit_rate": (y[sells] == SELL).mean() if sells.any() else np.nan,
                      "buy_calls": int(buys.sum()), "sell_calls": int(sells.sum())}
    if not len(y):
        return pd.DataFrame(np.nan, index=list(predictors), columns=list(TABLE_COLUMNS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant predictor's correlation
        table = score_table(TO_STRATEGY[y], ret, -ret, mapped)
    return table.join(pd.DataFrame.from_dict(hits, orient="index"))[list(TABLE_COLUMNS)]


def paired_side_difference(y: np.ndarray, proba: np.ndarray,
                           reference: np.ndarray) -> tuple[float, float, int]:
    """Mean side log loss of ``proba`` minus ``reference``'s on the bars where a barrier was
    hit, the paired standard error of that mean, and the number of those bars: is a side
    call better than the reference beyond the bars' noise? (Consecutive labels overlap, so
    the true error is larger.)"""
    diff = side_losses(y, proba) - side_losses(y, reference)
    diff = diff[np.isfinite(diff)]
    if len(diff) < 2:
        return float("nan"), float("nan"), int(len(diff))
    return (*mean_and_standard_error(diff), int(len(diff)))


def direction_oracle(true_regime: np.ndarray, y: np.ndarray, ret: np.ndarray,
                     past: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The oracle's calls and probabilities (direction order) on rows ``test``, learned from
    rows ``past`` only (the caller passes rows whose labels were known before the block)."""
    history = pd.DataFrame({"true_regime": true_regime[past],
                            "label": TO_STRATEGY[y[past].astype(int)],
                            "put_return": ret[past], "call_return": -ret[past]})
    choice, proba = regime_oracle(history, true_regime[test])
    return TO_STRATEGY[choice], proba[:, TO_STRATEGY]


def logistic_baseline(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
                      seed: int = 0) -> np.ndarray:
    """Probabilities (sell, neutral, buy) of a standardised, L2-regularised logistic
    regression on the feature rows at bar t: the simple model every member must beat."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y_train = np.asarray(y_train, dtype=int)
    out = np.zeros((len(X_test), 3))
    classes = np.unique(y_train)
    if len(classes) < 2:
        out[:, classes[0]] = 1.0
        return out
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000,
                                                               random_state=seed))
    model.fit(np.nan_to_num(X_train), y_train)
    out[:, classes] = model.predict_proba(np.nan_to_num(X_test))
    return out
