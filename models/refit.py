"""A strategy model refitted every N sessions: one fitted ``StrategyModel`` per segment.

The scored period is cut into segments of N sessions (``walk_forward.refit_folds``). The
model of the segment starting at session s is fitted on bars before s only; labels whose
window (``label_end``) reaches s are purged by ``StrategyModel.fit``, which drops every
label reading past the last bar it is given. ``window="expanding"`` trains each model from
the same first bar; ``"rolling"`` on a fixed number of sessions before the segment. The
HMM of every segment is fitted on its long history, from one first bar for all segments,
up to the segment's last training bar, continuing the previous segment's HMM
(``fold_regimes``): EM starts from its parameters and its states keep their names, so
``p_<name>`` means the same regime in every segment's model.

``RefitModel`` is a ``models.contract.SignalModel`` like the models it holds, so
``indicators.StrategySignal``, ``engine.backtest`` and the store treat it as one model:
``predict_proba(bars)`` (``predict_frame``) takes each bar's scores from the model of that bar's segment (bars
before the first segment from the first model), ``stream()`` switches models at segment
boundaries with the same numbers as the batch, ``trained_until`` is the first model's (the
backtest refuses it unless it ends before the start) and ``warmup_bars`` the largest.
Every segment model scores a series from its first bar, as a single model would, so its
regime filter and features agree with the batch exactly. ``save`` writes each segment's
model into ``segment_<k>/`` and the folds into ``metadata.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from core.errors import DataError
from models.features import available_groups
from models.folds import Fold, training_slice
from models.regimes import MarketStateClassifier
from models.store import library_versions, read_metadata, write_metadata
from models.strategy_model import INPUT_COLUMNS, StrategyModel, regime_features


class RefitModel:
    """Fitted models per segment; segment k scores bars from ``starts[k]`` until
    ``starts[k + 1]``."""

    output_columns = StrategyModel.output_columns
    input_columns = INPUT_COLUMNS

    def __init__(self, models: list[StrategyModel], folds: list[Fold]):
        if not models or len(models) != len(folds):
            raise ValueError("RefitModel needs one fitted model per fold")
        for model, fold in zip(models, folds, strict=True):
            if pd.Timestamp(model.trained_until) >= fold.test_start:
                raise DataError(f"the model of the segment from {fold.test_start:%Y-%m-%d} "
                                f"was trained up to {model.trained_until:%Y-%m-%d}")
        self.models = list(models)
        self.folds = list(folds)

    @property
    def starts(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex([f.test_start for f in self.folds])

    @property
    def trained_until(self) -> pd.Timestamp:
        """The first model's last training session: the start must come after it."""
        return self.models[0].trained_until

    @property
    def warmup_bars(self) -> int:
        return max(m.warmup_bars for m in self.models)

    def _check_fitted(self) -> None:
        for model in self.models:
            model._check_fitted()

    def segment_of(self, dates) -> np.ndarray:
        """Index of the model that scores each date (0 before the first segment)."""
        positions = np.searchsorted(self.starts, pd.DatetimeIndex(dates), side="right") - 1
        return np.maximum(positions, 0)

    def fit(self, bars: pd.DataFrame, labels: pd.DataFrame, make_model: Callable,
            hmm_bars: pd.DataFrame | None = None, progress: bool = False,
            warmup: int | None = None) -> RefitModel:
        """Fit every segment's model again on the same folds (``fit_refit_model``)."""
        self.models = fit_refit_model(bars, labels, make_model, self.folds, hmm_bars,
                                      progress, warmup).models
        return self

    def predict_proba(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Each bar's class and regime probabilities from the model of its segment."""
        out = pd.DataFrame(np.nan, index=bars.index, columns=list(self.output_columns))
        segment = self.segment_of(bars.index)
        for k in np.unique(segment):
            rows = np.flatnonzero(segment == k)  # consecutive: dates are sorted
            scores = self.models[k].predict_proba(bars.iloc[: rows[-1] + 1])
            out.iloc[rows] = scores.iloc[rows].to_numpy()
        return out

    def predict_frame(self, bars: pd.DataFrame) -> pd.DataFrame:
        """``predict_proba``: the batch path of the ``SignalModel`` contract."""
        return self.predict_proba(bars)

    def stream(self) -> RefitStream:
        self._check_fitted()
        return RefitStream(self)

    def save(self, directory: Path | str) -> None:
        """Each segment's model in ``segment_<k>/`` (k from 1), the folds and the first
        model's training window in ``metadata.json``."""
        directory = Path(directory)
        for fold, model in zip(self.folds, self.models, strict=True):
            model.save(directory / f"segment_{fold.number}")
        first = read_metadata(directory / f"segment_{self.folds[0].number}")
        write_metadata(directory, {
            "training_window": first["training_window"], "features": first["features"],
            "folds": [{k: f"{v:%Y-%m-%d}" if isinstance(v, pd.Timestamp) else v
                       for k, v in asdict(fold).items()} for fold in self.folds],
            "libraries": library_versions()})

    @classmethod
    def load(cls, directory: Path | str) -> RefitModel:
        """A refit model written by ``save``."""
        meta = read_metadata(directory)
        folds = [Fold(f["number"], *(pd.Timestamp(f[k]) for k in ("train_start", "train_end",
                                                                  "test_start", "test_end")))
                 for f in meta["folds"]]
        return cls([StrategyModel.load(Path(directory) / f"segment_{f.number}") for f in folds],
                   folds)


class RefitStream:
    """Bar by bar: every model that may still score a bar keeps its own stream from the
    first bar (so its state matches the batch); the bar's value comes from its segment's."""

    def __init__(self, refit: RefitModel):
        self.refit = refit
        self.streams = [model.stream() for model in refit.models]

    def update(self, date, bar) -> np.ndarray:
        k = int(self.refit.segment_of([pd.Timestamp(date)])[0])
        values = None
        for j in range(k, len(self.streams)):
            if self.streams[j] is not None:
                row = self.streams[j].update(date, bar)
                values = row if j == k else values
        for j in range(k):  # segments that are over never score again
            self.streams[j] = None
        return values


def fit_refit_model(bars: pd.DataFrame, labels: pd.DataFrame, make_model: Callable,
                    folds: list[Fold], hmm_bars: pd.DataFrame | None = None,
                    progress: bool = False, warmup: int | None = None) -> RefitModel:
    """Fit ``make_model()`` once per fold on ``training_slice(bars, fold, warmup)`` (bars up
    to the fold's last training bar; ``warmup`` bars before its first, default the model's
    ``warmup_bars``) and the HMM on ``hmm_bars`` up to the same bar."""
    models, hmm = [], None
    for fold in tqdm(folds, desc="refits", unit="model", disable=not progress):
        model = make_model()
        train = training_slice(bars, fold, model.warmup_bars if warmup is None else warmup)
        hmm_train = hmm_bars[hmm_bars.index <= fold.train_end] if hmm_bars is not None else None
        hmm = fold_regimes(model, train, hmm_train, previous=hmm)
        models.append(model.fit(train, labels, hmm=hmm, hmm_bars=hmm_train))
    return RefitModel(models, folds)


def fold_regimes(model: StrategyModel, train: pd.DataFrame, hmm_bars: pd.DataFrame | None,
                 previous: MarketStateClassifier | None,
                 final: bool = False) -> MarketStateClassifier:
    """The HMM ``model.fit(train, labels, hmm_bars=hmm_bars)`` would fit (same features,
    same bars: ``hmm_bars``, else ``train``), continuing ``previous``, the HMM of the
    fold before (``MarketStateClassifier.fit``); ``final``: that of the model fitted on
    all the history after the walk-forward, which a history too short names as such."""
    groups = model.feature_groups or available_groups(train)
    source = hmm_bars if hmm_bars is not None else train
    try:
        features = regime_features(source, groups)
    except DataError as exc:
        last = f"{source.index[-1]:%Y-%m-%d}"
        if final:
            raise DataError(f"the final model, trained up to {last}: {exc}; give it a "
                            "longer history") from None
        raise DataError(f"the walk-forward block that trains up to {last}: {exc}; start the "
                        "blocks later (train: fewer --folds; backtest: a later --start-date) "
                        "or give a longer history") from None
    return MarketStateClassifier(model.hmm_config).fit(features, previous=previous)
