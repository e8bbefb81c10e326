"""The strategy model of seed 000 (regime or LSTM head) as a backtrader indicator.

Lines: ``signal`` (0 hold, 1 call credit spread, 2 put credit spread: the model's call, the
action with the highest expected return where the model gives expected returns, else the
most probable class: ``models.strategy_model``), ``p_hold``, ``p_call``, ``p_put``;
``direction`` (+1 on put, -1 on call, 0 on hold) and ``confidence`` (the called class's
probability) so the equity strategy can read it too; and the HMM's ``regime`` with one
filtered probability line per named state, so strategies can skip regimes and the spread
analyzer can attribute trades to them.

Causal: the model is fitted before the first bar it scores (walk-forward, checked by
``engine.backtest``), and every value at bar t uses bars <= t. In ``once`` mode the whole
series is scored in one compiled batch; in ``next`` mode one bar at a time through the
model's ``stream()`` (``indicators.model_indicator``), whose LSTM runs as a numpy forward
pass; both give the same numbers within 1e-5 (the regime probabilities bit for bit).
"""

from __future__ import annotations

import numpy as np

from indicators.model_indicator import ModelIndicator
from models.strategy_model import EV_COLUMNS, PROBA_COLUMNS, REGIME_COLUMNS, decided_class

REGIME_LINES = REGIME_COLUMNS
#: the direction of each class (hold, call credit spread: bearish, put credit spread: bullish)
DIRECTION_OF_CLASS = np.array([0.0, -1.0, 1.0])


class StrategySignal(ModelIndicator):
    """LSTM hold / call credit spread / put credit spread, with the HMM regime lines.
    ``model=``: a fitted ``models.StrategyModel`` or ``models.refit.RefitModel``."""

    lines = ("signal", "p_hold", "p_call", "p_put", "direction", "confidence", "regime",
             *REGIME_LINES)
    plotinfo = dict(subplot=True, plotname="StrategySignal")
    model_name = "fitted models.StrategyModel or models.refit.RefitModel"

    def line_values(self, outputs: np.ndarray) -> np.ndarray:
        """The model's class and regime probabilities (and expected returns) per row ->
        the lines: the model's call, its direction and probability, and the most probable
        regime (NaN while any of the probabilities they come from is NaN)."""
        columns = list(self.p.model.output_columns)

        def block(names):
            if not set(names) <= set(columns):  # a model without expected returns
                return np.full((len(outputs), len(names)), np.nan)
            return outputs[:, [columns.index(name) for name in names]]

        probs, regimes = block(PROBA_COLUMNS), block(REGIME_LINES)
        scored = np.isfinite(probs).all(axis=1)
        winner = decided_class(probs, block(EV_COLUMNS))
        confidence = probs[np.arange(len(probs)), winner]
        regime = np.where(np.isfinite(regimes).all(axis=1), regimes.argmax(axis=1), np.nan)
        derived = np.where(scored[:, None],
                           np.column_stack([winner, DIRECTION_OF_CLASS[winner], confidence]), np.nan)
        return np.column_stack([derived[:, 0], probs, derived[:, 1:], regime, regimes])
