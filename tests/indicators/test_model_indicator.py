"""ModelIndicator: any SignalModel becomes lines, with the batch path (``once``) and the
streaming path (``next``) giving the same values under every engine setting."""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd
import pytest

from indicators.model_indicator import ModelIndicator
from models.contract import SignalModel

ENGINE_SETTINGS = [
    pytest.param(dict(preload=True, runonce=True), id="preload-runonce"),
    pytest.param(dict(preload=True, runonce=False), id="preload-next"),
    pytest.param(dict(preload=False, runonce=False), id="streaming"),
    pytest.param(dict(preload=True, runonce=False, exactbars=1), id="exactbars"),
    pytest.param(dict(preload=True, runonce=False, exactbars=-1), id="exactbars-minus-1"),
]


class MeanModel:
    """A tiny SignalModel: the mean close of the last ``window`` bars, and whether the close
    is above it. Counts its batch and streaming calls."""

    output_columns = ("above", "mean")
    input_columns = ("close",)

    def __init__(self, window: int = 5):
        self.window = window
        self.frames = self.updates = 0

    @property
    def warmup_bars(self) -> int:
        return self.window - 1

    @property
    def trained_until(self) -> pd.Timestamp:
        if not hasattr(self, "trained_until_"):
            raise RuntimeError("MeanModel is not fitted")
        return self.trained_until_

    def fit(self, bars: pd.DataFrame) -> MeanModel:
        self.trained_until_ = bars.index[-1]
        return self

    def predict_frame(self, bars: pd.DataFrame) -> pd.DataFrame:
        self.frames += 1
        close = bars["close"].to_numpy(dtype=float).tolist()
        n = self.window
        mean = np.array([np.nan] * (n - 1) + [sum(close[t - n + 1: t + 1]) / n
                                              for t in range(n - 1, len(close))])
        above = np.where(np.isnan(mean), np.nan, (close > mean).astype(float))
        return pd.DataFrame({"above": above, "mean": mean}, index=bars.index)

    def stream(self):
        model, closes = self, deque(maxlen=self.window)

        class Stream:
            def update(self, date, bar) -> np.ndarray:
                model.updates += 1
                closes.append(bar["close"])
                if len(closes) < model.window:
                    return np.full(2, np.nan)
                mean = sum(closes) / model.window
                return np.array([float(bar["close"] > mean), mean])
        return Stream()

    def save(self, directory) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, directory) -> MeanModel:
        raise NotImplementedError


class MeanSignal(ModelIndicator):
    """The MeanModel's columns as lines, in another order than the model's."""

    lines = ("mean", "above")


def watch_mean(model):
    def watch(strategy):
        signal = MeanSignal(strategy.data, model=model)
        return {"mean": signal.mean, "above": signal.above}
    return watch


@pytest.fixture(scope="module")
def bars(sample_market):
    return sample_market.bars("SPY", "2022-01-03", "2022-03-31")


def test_the_fake_keeps_the_contract(bars):
    assert isinstance(MeanModel().fit(bars), SignalModel)
    assert not isinstance(object(), SignalModel)


@pytest.mark.parametrize("engine", ENGINE_SETTINGS)
def test_once_and_next_give_the_models_numbers(record_lines, bars, engine):
    model = MeanModel().fit(bars.iloc[:10])
    got = record_lines(watch_mean(model), bars, **engine)
    expected = model.predict_frame(bars)
    assert len(got) == len(bars) and got["mean"].notna().sum() == len(bars) - 4
    np.testing.assert_array_equal(got["mean"].to_numpy(), expected["mean"].to_numpy())
    np.testing.assert_array_equal(got["above"].to_numpy(), expected["above"].to_numpy())
    batch = engine.get("runonce", True)
    # the batch path scores the preloaded bars; the streaming path one update per bar
    assert (model.updates == 0) if batch else (model.updates == len(bars))


def test_an_unfitted_or_foreign_model_is_refused(record_lines, bars):
    with pytest.raises(RuntimeError, match="not fitted"):
        record_lines(watch_mean(MeanModel()), bars)
    with pytest.raises(ValueError, match="MeanSignal needs model"):
        record_lines(watch_mean(object()), bars)
