"""One base that turns any fitted ``models.contract.SignalModel`` into backtrader lines, like
backtrader's ``MovingAverageBase`` for its averages: the plumbing lives here once, and a
model indicator is a docstring, ``lines``, ``params`` and the model class it wraps.

* ``once`` (preload + runonce) is the model's batch path: one ``predict_frame`` call over
  the preloaded bars, cached per model and data (``indicators.model_cache``);
* ``prenext`` / ``next`` (runonce False, streaming, exactbars) is its streaming path: one
  ``stream().update(date, bar)`` per bar, warm-up bars included (their lines stay NaN).

Both give the same numbers (the model's contract, tested per indicator: bit for bit, or
within 1e-5 where the stream scores through a live path that computes in another order, as
the LSTM and Direction models' numpy forward passes do), and the value at bar t reads bars
<= t only. A subclass whose lines are the model's columns under
the same names needs nothing more; one whose lines are derived from them (a winning class,
say) overrides ``line_values``.
"""

from __future__ import annotations

from array import array

import backtrader as bt
import numpy as np

from indicators import model_cache
from indicators.bar_frames import bars_until, current_bar
from models.contract import SignalModel


class ModelIndicator(bt.Indicator):
    """Base: subclasses set ``lines`` and, to accept only one kind of model, ``model_class``
    (and ``model_name`` for the error that refuses another)."""

    params = (("model", None),)
    #: engine.backtest passes the symbol's fitted model as ``model=``
    needs_model = True
    #: what ``model=`` must be an instance of
    model_class: type = SignalModel
    #: how the refusal names it
    model_name = "fitted models.contract.SignalModel"

    def __init__(self):
        model = self.p.model
        if not isinstance(model, self.model_class):
            raise ValueError(f"{type(self).__name__} needs model=<{self.model_name}>")
        _ = model.trained_until  # the contract: RuntimeError before fit
        self.addminperiod(model.warmup_bars + 1)
        self._stream = None

    def line_values(self, outputs: np.ndarray) -> np.ndarray:
        """Rows of model outputs (``output_columns`` order) as rows of line values
        (``lines`` order). Default: the model's columns named like the lines."""
        columns = list(self.p.model.output_columns)
        return outputs[:, [columns.index(name) for name in self.lines.getlinealiases()]]

    def once(self, start, end):
        model = self.p.model
        # the whole preloaded series, not 0..end: backtrader calls once twice (the first
        # scored bar, then the rest), and one causal batch over all bars serves both from
        # the cache (a bar's score never reads later bars: tested)
        bars = bars_until(self.data, max(end, self.buflen()), model.input_columns)
        outputs = model_cache.cached_scores(model, bars, model.predict_frame)
        values = self.line_values(outputs[start:end])
        for k in range(values.shape[1]):
            self.lines[k].array[start:end] = array("d", values[:, k].tolist())

    def _step(self) -> np.ndarray:
        if self._stream is None:
            self._stream = self.p.model.stream()
        day, bar = current_bar(self.data, self.p.model.input_columns)
        return self._stream.update(day, bar)

    def prenext(self):
        self._step()  # warm-up bars feed the stream; their lines stay NaN

    def nextstart(self):
        self.next()

    def next(self):
        for k, value in enumerate(self.line_values(self._step()[None, :])[0]):
            self.lines[k][0] = float(value)
