"""The one contract every fitted signal model keeps, so that the store (``models.store``),
the backtest engine and ``indicators.model_indicator.ModelIndicator`` treat them alike.

A ``SignalModel`` turns daily bars (a DataFrame indexed by session, one column per bar
field) into per-bar outputs, causally: the row of bar t reads bars <= t only. It has two
paths that give the same numbers, which is what lets a backtrader indicator run it
vectorised (``once``) or bar by bar (``next``, live). Bit for bit, except where the stream
scores through a faster live path that computes in another order (the LSTM and Direction
models' numpy forward passes, ``models.numpy_net``): there within 1e-5 per probability,
and the tests say which:

* ``predict_frame(bars)``: the batch path, one row per bar and one column per name in
  ``output_columns`` (NaN for the first ``warmup_bars`` bars);
* ``stream().update(date, bar)``: the same row for one more bar (``bar`` a dict or Series
  of bar fields), fed bars in order from the first.

``input_columns`` names the bar fields it reads (those a feed has are handed over);
``trained_until`` is the last session its training saw (a backtest must start after it;
reading it before ``fit`` raises RuntimeError); ``fit(...)`` learns and returns ``self``
(its arguments differ by model: bars and labels, bars alone, or features);
``save(directory)`` writes it into a folder and the class method ``load(directory)``
reads it back (``models.store`` adds the timestamped layout around them).

Implemented by seed 000's ``models.strategy_model.StrategyModel`` (HMM + LSTM) and
``models.refit.RefitModel`` (one of them per segment), seed 003's
``models.direction_model.DirectionModel`` and the HMM regime classifier
``models.regimes.MarketStateClassifier``.

The recursive filters of ``models.kalman``, ``models.regression_slope`` and
``models.stat_arb`` keep the smaller ``BarFilter`` contract: they learn nothing (so there
is nothing to fit, store or date), and read indicator lines rather than bar frames. They
are the same idea one level down: ``models.kalman.run_filter`` is their batch path and
``update`` their stream, and ``indicators.filter_indicator.FilterIndicator`` turns them
into lines the way ``ModelIndicator`` does for a ``SignalModel``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd


@runtime_checkable
class BarStream(Protocol):
    """A model's streaming path: one bar in, that bar's output row out."""

    def update(self, date, bar) -> np.ndarray:
        """The row ``predict_frame`` gives this bar (``output_columns`` order)."""
        ...


@runtime_checkable
class SignalModel(Protocol):
    """A fitted model that scores bars in batch and bar by bar (module docstring)."""

    #: names of the columns ``predict_frame`` returns and of the values ``update`` returns
    output_columns: tuple[str, ...]
    #: bar fields the model reads
    input_columns: tuple[str, ...]
    #: bars before the first bar that gets a score
    warmup_bars: int
    #: the last session the training saw
    trained_until: pd.Timestamp

    def fit(self, *args, **kwargs) -> SignalModel:
        ...

    def predict_frame(self, bars: pd.DataFrame) -> pd.DataFrame:
        ...

    def stream(self) -> BarStream:
        ...

    def save(self, directory: Path | str) -> None:
        ...

    @classmethod
    def load(cls, directory: Path | str) -> SignalModel:
        ...


@runtime_checkable
class BarFilter(Protocol):
    """A recursive filter of ``models/`` (Kalman trend, regression slope, stat-arb)."""

    #: names of the values ``update`` returns
    columns: tuple[str, ...]
    #: bars before the first finite output
    warmup_bars: int

    def update(self, *inputs: float) -> tuple[float, ...]:
        ...
