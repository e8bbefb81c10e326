"""The LSTM strategy model of seed 000 as a backtrader indicator.

Lines: ``signal`` (0 hold, 1 call credit spread, 2 put credit spread: the most probable
class), ``p_hold``, ``p_call``, ``p_put``; ``direction`` (+1 on put, -1 on call, 0 on hold)
and ``confidence`` (the winning probability) so the equity strategy can read it too; and
the HMM's ``regime`` with one filtered probability line per named state, so strategies can
skip regimes and the spread analyzer can attribute trades to them.

Causal: the model is fitted before the first bar it scores (walk-forward, checked by
``engine.backtest``), and every value at bar t uses bars <= t. In ``once`` mode the whole series
is scored in one compiled batch (cached per model and data); in ``next`` mode one bar at a
time through ``StrategyModel.stream()``; both give the same numbers.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np

from core.domain import REGIME_NAMES
from indicators import model_cache
from indicators.bar_frames import bars_until, current_bar

REGIME_LINES = tuple(f"p_{name}" for name in REGIME_NAMES)
#: what ``model=`` must offer: ``StrategyModel`` and ``models.refit.RefitModel`` do
MODEL_PROTOCOL = ("predict_proba", "stream", "warmup_bars", "trained_until", "_check_fitted")


def cached_scores(model, bars) -> np.ndarray:
    """``model.predict_proba(bars)`` as an array, cached per model and data (sweeps and
    reports score the same bars with the same model more than once)."""
    return model_cache.cached_scores(model, bars, model.predict_proba)


def line_values(values: np.ndarray) -> dict[str, float]:
    """One bar's lines from the model output (3 class + 5 regime probabilities)."""
    probs, regimes = values[:3], values[3:]
    out = dict(zip(("p_hold", "p_call", "p_put", *REGIME_LINES), map(float, values),
                   strict=True))
    out["regime"] = float(np.argmax(regimes)) if np.isfinite(regimes).all() else np.nan
    out["signal"] = out["direction"] = out["confidence"] = np.nan
    if np.isfinite(probs).all():
        winner = int(np.argmax(probs))
        out["signal"] = float(winner)
        out["direction"] = {0: 0.0, 1: -1.0, 2: 1.0}[winner]
        out["confidence"] = float(probs[winner])
    return out


class StrategySignal(bt.Indicator):
    """LSTM hold / call credit spread / put credit spread, with the HMM regime lines."""

    lines = ("signal", "p_hold", "p_call", "p_put", "direction", "confidence", "regime",
             *REGIME_LINES)
    params = (("model", None),)
    plotinfo = dict(subplot=True, plotname="StrategySignal")
    #: engine.backtest passes the symbol's fitted model as ``model=``
    needs_model = True

    def __init__(self):
        if not all(hasattr(self.p.model, name) for name in MODEL_PROTOCOL):
            raise ValueError("StrategySignal needs model=<fitted models.StrategyModel or "
                             "models.refit.RefitModel>")
        self.p.model._check_fitted()
        self.addminperiod(self.p.model.warmup_bars + 1)
        self._stream = None

    def once(self, start, end):
        scores = cached_scores(self.p.model, bars_until(self.data, end))
        for i in range(start, end):
            for name, value in line_values(scores[i]).items():
                getattr(self.lines, name).array[i] = value

    def prenext(self):
        self._update(write=False)

    def nextstart(self):
        self.next()

    def next(self):
        self._update(write=True)

    def _update(self, write: bool) -> None:
        if self._stream is None:
            self._stream = self.p.model.stream()
        day, bar = current_bar(self.data)
        values = self._stream.update(day, bar)
        if write:
            for name, value in line_values(values).items():
                getattr(self.lines, name)[0] = value
