"""Seed 003's multi-model direction signal as a backtrader indicator.

Lines: ``direction`` (-1 SELL, 0 NEUTRAL, +1 BUY: the meta-model's most probable class),
``confidence`` (that class's probability) and ``p_sell``, ``p_neutral``, ``p_buy``; NaN
until the model's warm-up is over.

Causal: the model is fitted before the first bar it scores (``engine.backtest`` checks
``trained_until``), and the value at bar t uses bars <= t. In ``once`` mode the series is
scored in one call (tree members over all rows, keras members through their compiled batch
function), cached per model and data; in ``next`` mode one bar at a time through
``DirectionModel.stream()``; both give the same numbers.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np

from indicators.bar_frames import bars_until, current_bar
from indicators.model_cache import cached_scores
from models.direction_model import OUTPUT_COLUMNS, DirectionModel


def cached_direction(model: DirectionModel, bars) -> np.ndarray:
    """``model.predict_frame(bars)`` as an array, cached per model and data."""
    return cached_scores(model, bars, model.predict_frame)


class Direction(bt.Indicator):
    """Meta-model direction (-1/0/1) and confidence of the fitted DirectionModel."""

    lines = OUTPUT_COLUMNS
    params = (("model", None),)
    plotinfo = dict(subplot=True, plotname="Direction")
    #: engine.backtest passes the symbol's fitted model as ``model=``
    needs_model = True

    def __init__(self):
        if not isinstance(self.p.model, DirectionModel):
            raise ValueError("Direction needs model=<fitted models.direction_model."
                             "DirectionModel>")
        self.p.model._check_fitted()
        self.addminperiod(self.p.model.warmup_bars + 1)
        self._stream = None

    def once(self, start, end):
        bars = bars_until(self.data, end, self.p.model.input_columns_)
        values = cached_direction(self.p.model, bars)
        lines = [getattr(self.lines, name).array for name in OUTPUT_COLUMNS]
        for i in range(start, end):
            for k, line in enumerate(lines):
                line[i] = float(values[i, k])

    def prenext(self):
        self._update(write=False)

    def nextstart(self):
        self.next()

    def next(self):
        self._update(write=True)

    def _update(self, write: bool) -> None:
        if self._stream is None:
            self._stream = self.p.model.stream()
        day, bar = current_bar(self.data, self.p.model.input_columns_)
        values = self._stream.update(day, bar)
        if write:
            for name, value in zip(OUTPUT_COLUMNS, values, strict=True):
                getattr(self.lines, name)[0] = float(value)
