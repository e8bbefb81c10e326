"""Training a refitted model from a data source: folds, labels (cached) and the HMM history
of every segment; the fitting itself is ``models.refit``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.domain import TRADING_DAYS
from core.errors import DataError
from feeds.base import MarketSource
from feeds.cache import ParquetCache
from models.folds import refit_folds
from models.refit import RefitModel, fit_refit_model
from training.label_cache import cached_strategy_labels
from training.pipeline import (
    LSTM_YEARS,
    TrainingSpec,
    option_chain_of,
    training_starts,
    warmup_sessions,
)


def train_refit_model(source: MarketSource, symbol: str, start: pd.Timestamp,
                      end: pd.Timestamp, spec: TrainingSpec, every: int,
                      window: str = "expanding", train_years: float | None = None,
                      progress: bool = False, cache: ParquetCache | None = None) -> RefitModel:
    """A model refitted every ``every`` sessions for scoring ``symbol`` from ``start`` to
    ``end``. The expanding window starts where ``training.train_strategy_model`` would
    start for the bars before ``start`` (``spec.lstm_start`` or LSTM_YEARS before), a
    rolling one holds ``train_years`` (default LSTM_YEARS) of sessions; the HMM history
    starts where it would for that first model. The labels of all segments are priced once
    (and cached)."""
    history = source.bars(symbol, None, end)
    before = history.index[history.index < pd.Timestamp(start)]
    if len(before) == 0:
        raise DataError(f"{symbol}: no history before {start:%Y-%m-%d} to train on")
    lstm_start, hmm_start = training_starts(before[-1], spec)
    years = train_years if train_years is not None else LSTM_YEARS
    folds = refit_folds(history.index, start, every, embargo=0, window=window,
                        train_bars=max(int(round(years * TRADING_DAYS)), 1),
                        train_start=lstm_start)
    first = int(np.searchsorted(history.index, folds[0].train_start))
    bars = history.iloc[max(first - warmup_sessions(spec), 0):]
    bars = bars[bars.index <= folds[-1].train_end]
    labels = cached_strategy_labels(option_chain_of(source, symbol), spec.labels,
                                    start=bars.index[0], end=folds[-1].train_end, cache=cache,
                                    source_name=source.name, progress=progress)
    hmm_bars = history[(history.index >= hmm_start) & (history.index <= folds[-1].train_end)]
    return fit_refit_model(bars, labels, spec.make_model, folds, hmm_bars=hmm_bars,
                           progress=progress, warmup=warmup_sessions(spec))
