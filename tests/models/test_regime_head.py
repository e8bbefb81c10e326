"""The regime head (the strategy model's default): learns what its inputs carry, scores
causally with batch == stream bit for bit, round-trips through the store without a network
file, and reads models stored before heads existed."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from models.regime_head import RegimeHead
from models.store import load_strategy_model, read_metadata, save_models
from models.strategy_model import NETWORK_FILE, PROBA_COLUMNS, StrategyModel


@pytest.fixture(scope="module")
def regime_training(tiny_training):
    spec, data = tiny_training
    return replace(spec, head="regime"), data


@pytest.fixture(scope="module")
def regime_model(regime_training):
    spec, data = regime_training
    return spec.make_model().fit(data.bars, data.labels, hmm_bars=data.hmm_bars)


@pytest.fixture(scope="module")
def scored_bars(sample_market):
    return sample_market.bars("SPY", "2021-06-01", "2022-06-30")


def planted(n: int, seed: int, plant: bool) -> tuple[np.ndarray, np.ndarray]:
    """Windows of 3 noise columns and 5 regime-like columns; with ``plant`` the label is
    written into the first regime column (scaled rows, as the model hands them over)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 1, 8))
    if plant:
        X[:, 0, 3] = y - 1.0 + 0.1 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("plant, low, high", [(True, 0.9, 1.0), (False, 0.2, 0.47)])
def test_the_head_learns_a_label_planted_in_its_inputs_and_nothing_without(plant, low, high):
    head = RegimeHead(range(3, 8)).fit(*planted(600, 0, plant))
    X, y = planted(400, 1, plant)
    accuracy = float((head.predict(X) == y).mean())
    assert low <= accuracy <= high
    # it reads the regime columns only: noise in the others changes nothing
    moved = X.copy()
    moved[:, :, :3] += 5.0
    np.testing.assert_array_equal(head.predict_proba(moved), head.predict_proba(X))


def test_a_class_never_seen_in_training_gets_probability_zero():
    X, y = planted(300, 0, True)
    keep = y != 1
    head = RegimeHead(range(3, 8)).fit(X[keep], y[keep])
    proba = head.predict_proba(X)
    assert (proba[:, 1] == 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_the_default_model_is_the_regime_head_on_every_labelled_bar(regime_model,
                                                                    regime_training):
    assert StrategyModel().name == "regime" and regime_model.name == "regime"
    assert regime_model.sequence_length == 1
    report = regime_model.report_
    assert report.n_validation == 0 and report.history == {}  # nothing held out, no epochs
    assert regime_model.temperature == 1.0
    with pytest.raises(AttributeError, match="not an LSTM"):
        _ = regime_model.lstm_


def test_scores_are_causal_and_the_stream_equals_the_batch_bit_for_bit(regime_model,
                                                                        scored_bars):
    batch = regime_model.predict_proba(scored_bars)
    pd.testing.assert_frame_equal(regime_model.predict_proba(scored_bars.iloc[:150]),
                                  batch.iloc[:150])
    stream = regime_model.stream()
    live = np.array([stream.update(day, row) for day, row in scored_bars.iterrows()])
    np.testing.assert_array_equal(live, batch.to_numpy())
    ready = batch.iloc[regime_model.warmup_bars:][list(PROBA_COLUMNS)]
    assert ready.notna().all(axis=None) and batch.iloc[: regime_model.warmup_bars].isna().all(
        axis=None)
    np.testing.assert_allclose(ready.sum(axis=1), 1.0)


def test_the_head_is_a_function_of_the_regime_probabilities_alone(regime_model, scored_bars):
    """Two bars with the same regime probabilities get the same call, whatever the other
    features say: shuffling every non-regime input changes no probability."""
    inputs = regime_model.model_inputs(scored_bars)
    scaled = regime_model.scaler_.transform(inputs.to_numpy(dtype=float))
    rows = scaled[regime_model.warmup_bars:][:, None, :]
    shuffled = rows.copy()
    n_features = len(inputs.columns) - 5
    shuffled[:, 0, :n_features] = rows[::-1, 0, :n_features]
    np.testing.assert_array_equal(regime_model.head_.predict_proba(shuffled),
                                  regime_model.head_.predict_proba(rows))


def test_a_stored_regime_model_has_no_network_file_and_loads_the_same(regime_model,
                                                                      regime_training,
                                                                      scored_bars, tmp_path):
    _, data = regime_training
    folder = save_models(regime_model, tmp_path, "test", "spy", training_bars=data.bars)
    assert not (folder / NETWORK_FILE).exists()
    assert read_metadata(folder)["head"] == "regime"
    loaded = load_strategy_model(folder)
    pd.testing.assert_frame_equal(loaded.predict_proba(scored_bars),
                                  regime_model.predict_proba(scored_bars))


def test_a_model_pickled_before_heads_existed_still_scores(tiny_model, scored_bars):
    """Stored LSTM models of format 2 keep their network as ``lstm_`` and have no head."""
    state = dict(tiny_model.__dict__)
    state["lstm_"] = state.pop("head_")
    del state["head"], state["head_config"]
    old = StrategyModel.__new__(StrategyModel)
    old.__setstate__(state)
    assert old.name == "lstm" and old.lstm_ is tiny_model.head_
    pd.testing.assert_frame_equal(old.predict_proba(scored_bars),
                                  tiny_model.predict_proba(scored_bars))


@pytest.mark.parametrize("body, message", [
    ("[hmm]\nseed = 1\n", "c.toml: hmm: unknown keys seed; known: "),  # seed is [lstm]'s
    ("[lstm]\nepoch = 3\n", "c.toml: lstm: unknown keys epoch; known: "),
    ('[lstm]\nepochs = "x"\n', "c.toml: lstm: epochs='x' must be a whole number"),
    ('[labels]\nwidth = "x"\n', "c.toml: labels: width='x' must be a number or none"),
    ('[model]\nC = "x"\n', "c.toml: model: C='x' must be a number"),
])
def test_a_config_error_names_its_table(tmp_path, body, message):
    """A key a table lacks, or a value of the wrong type, names the table as the values'
    own checks do (``model: C=0 must be above 0``): ``seed`` is an [lstm] key, so
    "unknown keys seed" alone sends a reader of an [hmm] table looking in the wrong place."""
    from training.pipeline import make_spec

    config = tmp_path / "c.toml"
    config.write_text(body)
    with pytest.raises(DataError) as refused:
        make_spec(config, head="lstm")
    assert str(refused.value).startswith(f"{config.parent}/{message}")


def test_a_config_that_is_not_a_text_file_is_refused_naming_it(tmp_path):
    """A binary file or a folder given as --config was a UnicodeDecodeError or an
    IsADirectoryError traceback; now one error naming the file."""
    from training.pipeline import make_spec

    binary = tmp_path / "model.toml"
    binary.write_bytes(b"[model]\nC = 0.5\n\xf0\x28\x8c\x28\n")
    with pytest.raises(DataError, match=f"^{binary}: cannot read it as text "
                                        r"\('utf-8' codec can't decode"):
        make_spec(binary)
    with pytest.raises(DataError, match=f"^config file {tmp_path} is a folder, not a file$"):
        make_spec(tmp_path)


def test_lstm_settings_with_the_regime_head_are_refused_up_front(tmp_path):
    from training.pipeline import make_spec

    assert make_spec().head == "regime"
    with pytest.raises(DataError, match="--epochs.*--head lstm"):
        make_spec(epochs=3)
    config = tmp_path / "lstm.toml"
    config.write_text("[lstm]\nepochs = 3\n")
    with pytest.raises(DataError, match=r"\[lstm\].*--head lstm"):
        make_spec(config)
    assert make_spec(config, head="lstm").lstm.epochs == 3
    config.write_text("[model]\nhead = \"lstm\"\n\n[lstm]\nepochs = 4\n")
    assert make_spec(config).head == "lstm" and make_spec(config, epochs=2).lstm.epochs == 2
    config.write_text("[model]\nhead = \"gru\"\n")
    with pytest.raises(DataError, match="head must be one of regime, lstm"):
        make_spec(config)
    config.write_text("[model]\nC = 0.5\nwidth = 3\n")
    with pytest.raises(DataError, match="unknown keys width"):
        make_spec(config)
    config.write_text("[model]\nC = 0\n")
    with pytest.raises(DataError, match="lstm.toml: model: C=0 must be above 0"):
        make_spec(config)
    # the call: expected return by default, the most probable class on request
    assert make_spec().decision == "expected_pnl"
    config.write_text("[model]\ndecision = \"probability\"\n")
    assert make_spec(config).make_model().decision == "probability"
    config.write_text("[model]\ndecision = \"argmax\"\n")
    with pytest.raises(DataError, match="decision must be one of expected_pnl, probability"):
        make_spec(config)


def test_labels_of_one_class_are_a_clear_refusal():
    import numpy as np
    import pytest

    from core.errors import DataError
    from models.regime_head import RegimeHead

    head = RegimeHead(range(4))
    windows = np.random.default_rng(0).random((30, 5, 4))
    with pytest.raises(DataError, match="the training labels are all hold"):
        head.fit(windows, np.zeros(30))
