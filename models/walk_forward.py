"""Walk-forward evaluation: every score comes from a model trained strictly before it.

Folds split the scored period into consecutive test blocks. A fold's model sees only bars
before its test block, minus an ``embargo`` of sessions; its labels that read bars past
its training data are purged by ``StrategyModel.fit``. ``make_folds`` cuts ``n_folds``
equal blocks, ``refit_folds`` blocks of ``every`` sessions (a model refitted every N
sessions). ``window="expanding"`` trains on all history before the block, ``"rolling"`` on
the last ``train_bars`` of it (plus the model's warm-up bars before them). Reported per
fold and overall: accuracy, balanced accuracy, per-class precision and recall, and the
confusion matrix, for the model and its baselines (majority class of the training labels,
the rule signal, a logistic regression on the same inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from core.domain import CLASS_NAMES
from core.errors import DataError

CLASSES = (0, 1, 2)


@dataclass(frozen=True)
class Fold:
    number: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def make_folds(index: pd.DatetimeIndex, first_test: pd.Timestamp, n_folds: int,
               embargo: int = 5, window: str = "expanding",
               train_bars: int | None = None) -> list[Fold]:
    """``n_folds`` consecutive test blocks from ``first_test`` to the end of ``index``."""
    _check_window(window)
    first = int(np.searchsorted(index, pd.Timestamp(first_test)))
    if first - embargo < 2 or first >= len(index):
        raise DataError(f"walk-forward needs history before {first_test:%Y-%m-%d} and bars "
                        "after it")
    bounds = np.linspace(first, len(index), n_folds + 1).round().astype(int)
    return _folds(index, bounds, embargo, window, train_bars)


def refit_folds(index: pd.DatetimeIndex, first_test: pd.Timestamp, every: int,
                embargo: int = 0, window: str = "expanding", train_bars: int | None = None,
                train_start: pd.Timestamp | None = None) -> list[Fold]:
    """Test blocks of ``every`` sessions from ``first_test`` to the end of ``index`` (the
    last block may be shorter): a model refitted every ``every`` sessions. ``train_start``
    is the first training bar of an expanding window (default: the first of ``index``);
    a rolling window holds the last ``train_bars`` sessions before each block."""
    if every < 1:
        raise DataError(f"refit every {every} sessions: needs at least 1")
    _check_window(window)
    first = int(np.searchsorted(index, pd.Timestamp(first_test)))
    if first - embargo < 2 or first >= len(index):
        raise DataError(f"walk-forward needs history before {first_test:%Y-%m-%d} and bars "
                        "after it")
    bounds = np.append(np.arange(first, len(index), every), len(index))
    lowest = int(np.searchsorted(index, pd.Timestamp(train_start))) if train_start else 0
    return _folds(index, bounds, embargo, window, train_bars, lowest)


def _check_window(window: str) -> None:
    if window not in ("expanding", "rolling"):
        raise ValueError("window must be 'expanding' or 'rolling'")


def _folds(index, bounds, embargo, window, train_bars, lowest: int = 0) -> list[Fold]:
    """Folds whose test blocks start at ``bounds[k]`` and end before ``bounds[k + 1]``."""
    folds = []
    for k in range(len(bounds) - 1):
        test_lo, test_hi = bounds[k], bounds[k + 1] - 1
        if test_hi < test_lo:
            continue
        train_hi = test_lo - 1 - embargo
        train_lo = lowest
        if window == "rolling" and train_bars:
            train_lo = max(train_hi - train_bars + 1, lowest)
        if train_lo > train_hi:
            raise DataError(f"no training bars before {index[test_lo]:%Y-%m-%d} from "
                            f"{index[lowest]:%Y-%m-%d} on")
        folds.append(Fold(len(folds) + 1, index[train_lo], index[train_hi], index[test_lo],
                          index[test_hi]))
    return folds


def training_slice(frame: pd.DataFrame, fold: Fold, warmup: int = 0) -> pd.DataFrame:
    """The rows a fold's model may train on: from ``warmup`` rows before the fold's first
    training bar (feature and window warm-up) through its last training bar, never later."""
    first = max(int(np.searchsorted(frame.index, fold.train_start)) - warmup, 0)
    frame = frame.iloc[first:]
    return frame[frame.index <= fold.train_end]


def classification_metrics(y_true, y_pred) -> dict:
    """Accuracy, balanced accuracy, per-class precision/recall and the confusion matrix."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    precision, recall, _, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(CLASSES), zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "precision": {CLASS_NAMES[c]: float(precision[c]) for c in CLASSES},
        "recall": {CLASS_NAMES[c]: float(recall[c]) for c in CLASSES},
        "support": {CLASS_NAMES[c]: int(support[c]) for c in CLASSES},
        "confusion": confusion_matrix(y_true, y_pred, labels=list(CLASSES)).tolist(),
    }


@dataclass
class WalkForwardReport:
    """Per-fold rows, overall metrics per model name, and every out-of-sample prediction."""

    folds: list[Fold]
    table: pd.DataFrame
    overall: dict
    predictions: pd.DataFrame
    models: list = field(default_factory=list)


def logistic_baseline(model, bars: pd.DataFrame, labels: pd.DataFrame,
                      train_end: pd.Timestamp, seed: int) -> Callable[[pd.DataFrame], np.ndarray]:
    """A logistic regression on the fitted model's inputs at bar t (no sequence), trained
    on the same purged rows; returns a function scoring bars."""
    inputs = model.model_inputs(bars)
    label_end = pd.DatetimeIndex(labels["label_end"]).tz_localize(None)
    mask = (inputs.notna().all(axis=1).to_numpy() & labels["label"].notna().to_numpy()
            & (label_end <= train_end) & (inputs.index <= train_end))
    scaler = StandardScaler().fit(inputs[mask])
    clf = LogisticRegression(max_iter=500, random_state=seed, class_weight="balanced")
    clf.fit(scaler.transform(inputs[mask]), labels["label"][mask].astype(int))

    def score(test_bars: pd.DataFrame) -> np.ndarray:
        rows = model.model_inputs(test_bars)
        out = np.full(len(rows), -1)
        ok = rows.notna().all(axis=1).to_numpy()
        out[ok] = clf.predict(scaler.transform(rows[ok]))
        return out
    return score


def walk_forward(bars: pd.DataFrame, labels: pd.DataFrame, make_model: Callable,
                 folds: list[Fold], hmm_bars: pd.DataFrame | None = None,
                 rule_signal: pd.Series | None = None, seed: int = 42,
                 progress: bool = False) -> WalkForwardReport:
    """Fit ``make_model()`` per fold on the bars before the fold and score the fold."""
    labels = labels.reindex(bars.index)
    rows, preds, models = [], [], []
    for fold in tqdm(folds, desc="walk-forward folds", unit="fold", disable=not progress):
        model = make_model()
        train = training_slice(bars, fold, model.warmup_bars)
        hmm_train = hmm_bars[hmm_bars.index <= fold.train_end] if hmm_bars is not None else None
        model.fit(train, labels, hmm_bars=hmm_train)
        models.append(model)
        upto = bars[bars.index <= fold.test_end]
        scores = model.predict_proba(upto)
        test = (upto.index >= fold.test_start) & labels["label"].reindex(upto.index).notna()
        y = labels["label"].reindex(upto.index)[test].astype(int)
        lstm = scores.loc[test, ["p_hold", "p_call", "p_put"]].to_numpy().argmax(axis=1)
        known = model.report_.class_counts
        majority = max(known, key=known.get)
        logit = logistic_baseline(model, train, labels.reindex(train.index), fold.train_end,
                                  seed)(upto)[test]
        frame = pd.DataFrame({"fold": fold.number, "label": y.to_numpy(), "lstm": lstm,
                              "majority": majority, "logistic": logit}, index=y.index)
        if rule_signal is not None:
            frame["rule"] = rule_signal.reindex(y.index).fillna(0).astype(int).to_numpy()
        preds.append(frame)
        for name in frame.columns.drop(["fold", "label"]):
            metrics = classification_metrics(frame["label"], frame[name])
            rows.append({"fold": fold.number, "model": name,
                         "train": f"{fold.train_start:%Y-%m-%d}..{fold.train_end:%Y-%m-%d}",
                         "test": f"{fold.test_start:%Y-%m-%d}..{fold.test_end:%Y-%m-%d}",
                         "n": metrics["n"], "accuracy": metrics["accuracy"],
                         "balanced_accuracy": metrics["balanced_accuracy"]})
    predictions = pd.concat(preds) if preds else pd.DataFrame()
    overall = {name: classification_metrics(predictions["label"], predictions[name])
               for name in predictions.columns.drop(["fold", "label"])}
    return WalkForwardReport(folds, pd.DataFrame(rows), overall, predictions, models)
