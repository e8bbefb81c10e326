"""The HMM market regime of seed 000 as a backtrader indicator.

Lines: ``regime`` (index into ``core.domain.REGIME_NAMES`` of the most probable state) and
``p_<name>`` for each named state: filtered probabilities P(state_t | bars <= t) from the
forward recursion of ``models.regimes`` (never Viterbi or forward-backward, which read the
future), the recursion starting at the first bar with features. ``once`` computes the
series in one ``predict_frame`` pass; ``next`` steps the same recursion one bar at a time
(``indicators.model_indicator``); the numbers are identical.
"""

from __future__ import annotations

from core.domain import REGIME_NAMES
from indicators.model_indicator import ModelIndicator
from models.regimes import MarketStateClassifier

PROBABILITY_LINES = tuple(f"p_{name}" for name in REGIME_NAMES)


class RegimeIndicator(ModelIndicator):
    """Filtered HMM market regime (causal: bar t sees bars <= t)."""

    lines = ("regime", *PROBABILITY_LINES)
    plotinfo = dict(subplot=True, plotname="Regime")
    model_class = MarketStateClassifier
    model_name = "fitted MarketStateClassifier"
