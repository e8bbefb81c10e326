"""Walk-forward evaluation: every score comes from a model trained strictly before it.

The folds come from ``models.folds`` (consecutive test blocks; a fold's model sees only bars
before its block, minus an embargo; its labels that read bars past its training data are
purged by ``StrategyModel.fit``); each fold's HMM continues the previous fold's
(``models.refit.fold_regimes``), so its regime names mean the same in every fold. Reported per fold and overall: accuracy, balanced
accuracy, per-class precision and recall, and the confusion matrix, for the model and its
baselines (majority class of the training labels, the rule signal, a logistic regression on
the same inputs).
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
from models.folds import Fold, training_slice
from models.refit import fold_regimes

CLASSES = (0, 1, 2)


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
    rows, preds, models, hmm = [], [], [], None
    for fold in tqdm(folds, desc="walk-forward folds", unit="fold", disable=not progress):
        model = make_model()
        train = training_slice(bars, fold, model.warmup_bars)
        hmm_train = hmm_bars[hmm_bars.index <= fold.train_end] if hmm_bars is not None else None
        hmm = fold_regimes(model, train, hmm_train, previous=hmm)
        model.fit(train, labels, hmm=hmm, hmm_bars=hmm_train)
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
