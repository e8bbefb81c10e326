"""The HMM market regime of seed 000 as a backtrader indicator.

Lines: ``regime`` (index into ``core.domain.REGIME_NAMES`` of the most probable state) and
``p_<name>`` for each named state: filtered probabilities P(state_t | bars <= t) from the
forward recursion of ``models.regimes`` (never Viterbi or forward-backward, which read the
future). ``once`` computes the series in one pass; ``next`` steps the same recursion one
bar at a time; the numbers are identical.
"""

from __future__ import annotations

from collections import deque

import backtrader as bt
import numpy as np
import pandas as pd

from core.domain import REGIME_NAMES
from indicators.bar_frames import bars_until, current_bar
from models.features import LOOKBACK, build_features, groups_for
from models.regimes import MarketStateClassifier, RegimeFilter

PROBABILITY_LINES = tuple(f"p_{name}" for name in REGIME_NAMES)


class RegimeIndicator(bt.Indicator):
    """Filtered HMM market regime (causal: bar t sees bars <= t)."""

    lines = ("regime", *PROBABILITY_LINES)
    params = (("model", None),)
    plotinfo = dict(subplot=True, plotname="Regime")

    def __init__(self):
        if not isinstance(self.p.model, MarketStateClassifier):
            raise ValueError("RegimeIndicator needs model=<fitted MarketStateClassifier>")
        self.p.model._check_fitted()
        self._groups = groups_for(self.p.model.features_)
        self.addminperiod(LOOKBACK)
        self._bars: deque = deque(maxlen=LOOKBACK)
        self._filter = RegimeFilter(self.p.model)

    def once(self, start, end):
        feats = build_features(bars_until(self.data, end), self._groups).iloc[LOOKBACK - 1:]
        probs = self.p.model.filtered_state_probabilities(feats).to_numpy()
        lines = [getattr(self.lines, name).array for name in PROBABILITY_LINES]
        regime = self.lines.regime.array
        for row, i in enumerate(range(LOOKBACK - 1, end)):
            for k, line in enumerate(lines):
                line[i] = float(probs[row, k])
            regime[i] = float(np.argmax(probs[row]))

    def prenext(self):
        self._bars.append(current_bar(self.data))

    def next(self):
        self._bars.append(current_bar(self.data))
        frame = pd.DataFrame([bar for _, bar in self._bars],
                             index=pd.DatetimeIndex([day for day, _ in self._bars]))
        probs = self._filter.update(build_features(frame, self._groups).iloc[[-1]])
        for line, value in zip(PROBABILITY_LINES, probs, strict=True):
            getattr(self.lines, line)[0] = value
        self.lines.regime[0] = float(np.argmax(probs))
