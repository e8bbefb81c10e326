"""Direction: identical lines under every engine setting (batch ``once`` and bar-by-bar
``next``), causal, and equal to the model's own scores."""

import numpy as np
import pandas as pd
import pytest

from indicators.direction import Direction
from models.direction_model import OUTPUT_COLUMNS

ENGINE_SETTINGS = [
    pytest.param(dict(preload=True, runonce=True), id="preload-runonce"),
    pytest.param(dict(preload=True, runonce=False), id="preload-next"),
    pytest.param(dict(preload=False, runonce=False), id="streaming"),
    pytest.param(dict(preload=True, runonce=False, exactbars=1), id="exactbars"),
]


@pytest.fixture(scope="module")
def model(tiny_direction_model):
    return tiny_direction_model


def watch_direction(model):
    def watch(strategy):
        signal = Direction(strategy.data, model=model)
        return {name: getattr(signal, name) for name in OUTPUT_COLUMNS}
    return watch


@pytest.fixture(scope="module")
def bars(sample_market):
    """After the model's training window; 83 warm-up bars, then about 40 scored."""
    return sample_market.bars("SPY", "2022-01-03", "2022-06-30")


@pytest.fixture(scope="module")
def reference(record_lines, model, bars):
    return record_lines(watch_direction(model), bars, preload=True, runonce=True)


@pytest.mark.parametrize("engine", ENGINE_SETTINGS[1:])
def test_every_engine_setting_gives_the_same_lines(record_lines, model, bars, reference,
                                                   engine):
    # the streaming settings score through the model's live path (numpy forward passes):
    # the batch's lines within 1e-5
    pd.testing.assert_frame_equal(record_lines(watch_direction(model), bars, **engine),
                                  reference, check_exact=False, rtol=0, atol=1e-5)


@pytest.mark.parametrize("engine", ENGINE_SETTINGS[:3:2])
def test_appending_bars_changes_nothing_before(record_lines, model, bars, reference, engine):
    short = record_lines(watch_direction(model), bars.iloc[:100], **engine)
    pd.testing.assert_frame_equal(short, reference.loc[short.index], check_exact=False,
                                  rtol=0, atol=1e-5)  # streaming: the live path


def test_lines_are_the_models_numbers(model, bars, reference):
    scores = model.predict_frame(bars)
    scored = scores["direction"].notna().to_numpy()
    assert scored.sum() > 30 and reference["direction"].isna().to_numpy()[~scored].all()
    np.testing.assert_array_equal(reference.to_numpy()[scored], scores.to_numpy()[scored])
    assert set(np.unique(reference["direction"].to_numpy()[scored])) <= {-1.0, 0.0, 1.0}


def test_a_model_is_required(record_lines, bars):
    with pytest.raises(ValueError, match="Direction needs model"):
        record_lines(watch_direction(None), bars)
