"""Seed 003's multi-model direction signal as a backtrader indicator.

Lines: ``direction`` (-1 SELL, 0 NEUTRAL, +1 BUY: the meta-model's most probable class),
``confidence`` (that class's probability) and ``p_sell``, ``p_neutral``, ``p_buy``; NaN
until the model's warm-up is over.

Causal: the model is fitted before the first bar it scores (``engine.backtest`` checks
``trained_until``), and the value at bar t uses bars <= t. In ``once`` mode the series is
scored in one ``predict_frame`` call (tree members over all rows, keras members through
their compiled batch function); in ``next`` mode one bar at a time through
``DirectionModel.stream()`` (``indicators.model_indicator``), through the members' live
paths (numpy forward passes); both give the same directions and probabilities within 1e-5.
"""

from __future__ import annotations

from indicators.model_indicator import ModelIndicator
from models.direction_model import OUTPUT_COLUMNS, DirectionModel


class Direction(ModelIndicator):
    """Meta-model direction (-1/0/1) and confidence of the fitted DirectionModel."""

    lines = OUTPUT_COLUMNS
    plotinfo = dict(subplot=True, plotname="Direction")
    model_class = DirectionModel
    model_name = "fitted models.direction_model.DirectionModel"
