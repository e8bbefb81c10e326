"""Walk-forward evaluation: every score comes from a model trained strictly before it.

The folds come from ``models.folds`` (consecutive test blocks; a fold's model sees only bars
before its block, minus an embargo; its labels that read bars past its training data are
purged by ``StrategyModel.fit``); each fold's HMM continues the previous fold's
(``models.refit.fold_regimes``), so its regime names mean the same in every fold. Every
predictor is scored on the same out-of-sample bars by ``models.evaluation.score_table`` (accuracy to P&L, see there), per fold and overall:

* the model, named by its head: ``regime`` (a logistic regression on the fold HMM's
  filtered regime probabilities) or ``lstm``, the LSTM's probabilities, scaled by the
  model's temperature (1 unless ``calibration_fraction`` set aside a calibration block in
  its fit: ``StrategyModel``) (``lstm_raw``: before scaling);
* ``majority``: the class frequencies of every label known by the end of the fold's
  training data (the class it always calls);
* ``rule``: the rule signal, when given;
* ``logistic``: a logistic regression on the model's inputs at bar t, same purged rows;
* ``regime_logistic`` (beside an LSTM head): the same regression on the five regime
  probabilities alone, which is what the regime head is;
* ``oracle`` (when the bars carry ``true_regime``): per true regime, the best action and
  class frequencies learned only from labels whose ``label_end`` is before the block;
* ``foresight``: the realized label itself, the ceiling nothing honest reaches.
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
from models.evaluation import (
    class_frequencies,
    regime_oracle,
    score_table,
)
from models.folds import Fold, training_slice
from models.refit import fold_regimes
from models.strategy_model import EV_COLUMNS, REGIME_COLUMNS, decided_class

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
    """Per-fold score rows, the overall score table, every out-of-sample prediction (with
    probabilities ``<name>_p_hold`` / ``_p_call`` / ``_p_put``) and the fold models."""

    folds: list[Fold]
    table: pd.DataFrame
    scores: pd.DataFrame
    predictions: pd.DataFrame
    models: list = field(default_factory=list)
    temperatures: list = field(default_factory=list)

    @property
    def overall(self) -> dict:
        """The overall score table as ``{predictor: {metric: value}}``."""
        return {name: {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
                for name, row in self.scores.to_dict(orient="index").items()}


PROBA = ("p_hold", "p_call", "p_put")


def logistic_baseline(model, bars: pd.DataFrame, labels: pd.DataFrame,
                      train_end: pd.Timestamp, seed: int, columns: list[str] | None = None
                      ) -> Callable[[pd.DataFrame], np.ndarray]:
    """A logistic regression on the fitted model's inputs at bar t (no sequence; only
    ``columns`` when given), trained on the same purged rows; returns a function giving
    class probabilities per bar (NaN where the inputs are not ready)."""
    def model_inputs(frame: pd.DataFrame) -> pd.DataFrame:
        inputs = model.model_inputs(frame)
        return inputs if columns is None else inputs.loc[:, columns]

    inputs = model_inputs(bars)
    label_end = pd.DatetimeIndex(labels["label_end"]).tz_localize(None)
    mask = (inputs.notna().all(axis=1).to_numpy() & labels["label"].notna().to_numpy()
            & (label_end <= train_end) & (inputs.index <= train_end))
    scaler = StandardScaler().fit(inputs[mask])
    clf = LogisticRegression(max_iter=500, random_state=seed)
    clf.fit(scaler.transform(inputs[mask]), labels["label"][mask].astype(int))

    def score(test_bars: pd.DataFrame) -> np.ndarray:
        rows = model_inputs(test_bars)
        out = np.full((len(rows), len(CLASSES)), np.nan)
        ok = rows.notna().all(axis=1).to_numpy()
        if ok.any():
            columns = clf.classes_.astype(int)
            out[np.ix_(ok, columns)] = clf.predict_proba(scaler.transform(rows[ok]))
            out[ok] = np.nan_to_num(out[ok])  # a class unseen in training: probability 0
        return out
    return score


def _with_proba(frame: pd.DataFrame, name: str, choice, proba) -> None:
    frame[name] = np.asarray(choice, dtype=int)
    if proba is not None:
        for j, column in enumerate(PROBA):
            frame[f"{name}_{column}"] = np.asarray(proba)[:, j]


def predictors_of(frame: pd.DataFrame) -> dict:
    """``{name: (choice, proba or None)}`` of every predictor column of a predictions frame."""
    names = [c for c in frame.columns if f"{c}_p_hold" in frame.columns or c == "rule"]
    out = {}
    for name in names:
        columns = [f"{name}_{c}" for c in PROBA]
        proba = frame[columns].to_numpy() if columns[0] in frame else None
        out[name] = (frame[name].to_numpy(), proba)
    return out


def scores_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The score table of a predictions frame (see ``models.evaluation.score_table``)."""
    return score_table(frame["label"], frame["put_return"], frame["call_return"],
                       predictors_of(frame))


def oracle_predictions(true_regime: pd.Series, labels: pd.DataFrame, test_start: pd.Timestamp,
                       index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """``models.evaluation.regime_oracle`` for the bars ``index`` of a block starting at
    ``test_start``, learned only from labels known before it: bars before the block whose
    label ended before it too (a label still open at the block's start is not known yet)."""
    past = labels[(labels.index < test_start) & labels["label"].notna()
                  & (pd.DatetimeIndex(labels["label_end"]) < test_start)]
    past = past.assign(true_regime=true_regime.reindex(past.index).to_numpy())
    return regime_oracle(past, true_regime.reindex(index).to_numpy())


def fold_predictions(model, fold: Fold, bars: pd.DataFrame, labels: pd.DataFrame,
                     train: pd.DataFrame, rule_signal: pd.Series | None,
                     seed: int) -> tuple[pd.DataFrame, float]:
    """Every predictor's calls and probabilities on the labelled bars of ``fold``'s test
    block, and the temperature applied to the model."""
    upto = bars[bars.index <= fold.test_end]
    scores = model.predict_proba(upto)
    test = (upto.index >= fold.test_start) & labels["label"].reindex(upto.index).notna()
    block = labels.reindex(upto.index)[test]
    frame = pd.DataFrame({"fold": fold.number, "label": block["label"].astype(int),
                          "put_return": block["put_return"],
                          "call_return": block["call_return"]}, index=block.index)
    calibrated = scores.loc[test, list(PROBA)].to_numpy()
    temperature = model.temperature
    expected = scores.loc[test, list(EV_COLUMNS)].to_numpy()
    _with_proba(frame, model.name, decided_class(calibrated, expected), calibrated)
    if np.isfinite(expected).all():  # the same probabilities, the most probable class called
        _with_proba(frame, f"{model.name}_argmax", calibrated.argmax(axis=1), calibrated)
    lstm = model.name == "lstm"
    if lstm:
        raw = model.predict_proba(upto, calibrated=False).loc[test, list(PROBA)].to_numpy()
        _with_proba(frame, "lstm_raw", raw.argmax(axis=1), raw)
    # every label the fold could know (inside its training bars, ended by their end), not
    # only the model's training split: the same row whatever the head holds out
    past = labels["label"].reindex(train.index)
    ended = (pd.DatetimeIndex(labels["label_end"].reindex(train.index)).tz_localize(None)
             <= fold.train_end)
    priors = class_frequencies(past[past.notna().to_numpy() & ended].astype(int).to_numpy())
    _with_proba(frame, "majority", np.full(len(frame), int(np.argmax(priors))),
                np.tile(priors, (len(frame), 1)))
    logit = logistic_baseline(model, train, labels.reindex(train.index), fold.train_end,
                              seed)(upto)[test]
    _with_proba(frame, "logistic", logit.argmax(axis=1), logit)
    if lstm:
        # the same regression on the fold HMM's five filtered state probabilities alone:
        # how much of the edge the regimes carry without any other feature (the regime head)
        regimes = logistic_baseline(model, train, labels.reindex(train.index),
                                    fold.train_end, seed, list(REGIME_COLUMNS))(upto)[test]
        _with_proba(frame, "regime_logistic", regimes.argmax(axis=1), regimes)
    if rule_signal is not None:
        frame["rule"] = rule_signal.reindex(frame.index).fillna(0).astype(int).to_numpy()
    if "true_regime" in bars:
        _with_proba(frame, "oracle", *oracle_predictions(bars["true_regime"], labels,
                                                         fold.test_start, frame.index))
    onehot = np.eye(len(CLASSES))[frame["label"].to_numpy()]
    _with_proba(frame, "foresight", frame["label"].to_numpy(), onehot)
    return frame, temperature


def walk_forward(bars: pd.DataFrame, labels: pd.DataFrame, make_model: Callable,
                 folds: list[Fold], hmm_bars: pd.DataFrame | None = None,
                 rule_signal: pd.Series | None = None, seed: int = 42,
                 progress: bool = False) -> WalkForwardReport:
    """Fit ``make_model()`` per fold on the bars before the fold and score the fold."""
    labels = labels.reindex(bars.index)
    rows, preds, models, temperatures, hmm = [], [], [], [], None
    for fold in tqdm(folds, desc="walk-forward folds", unit="fold", disable=not progress):
        model = make_model()
        train = training_slice(bars, fold, model.warmup_bars)
        hmm_train = hmm_bars[hmm_bars.index <= fold.train_end] if hmm_bars is not None else None
        hmm = fold_regimes(model, train, hmm_train, previous=hmm)
        model.fit(train, labels, hmm=hmm, hmm_bars=hmm_train)
        models.append(model)
        frame, temperature = fold_predictions(model, fold, bars, labels, train, rule_signal,
                                              seed)
        temperatures.append(temperature)
        preds.append(frame)
        for name, row in scores_of(frame).iterrows():
            rows.append({"fold": fold.number, "model": name,
                         "train": f"{fold.train_start:%Y-%m-%d}..{fold.train_end:%Y-%m-%d}",
                         "test": f"{fold.test_start:%Y-%m-%d}..{fold.test_end:%Y-%m-%d}",
                         **row.to_dict()})
    predictions = pd.concat(preds) if preds else pd.DataFrame()
    return WalkForwardReport(folds, pd.DataFrame(rows), scores_of(predictions), predictions,
                             models, temperatures)
