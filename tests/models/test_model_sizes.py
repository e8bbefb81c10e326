"""Named network sizes (the compact default, seed 000's stack kept exactly), config files
that switch between them, purged early stopping of the direction members, and store
folders of an older format refused with a clear error."""

import json

import numpy as np
import pytest

from core.errors import DataError
from models.config import override
from models.direction_members import LSTMMember
from models.lstm import LSTM_CONFIG, LSTMConfig, build_network


def test_seed000_is_the_seeds_config_exactly():
    seed = LSTMConfig.seed000()
    assert seed.architecture == "seed000"
    assert LSTM_CONFIG == {"sequence_length": 60, "num_features": 50,
                           "lstm_units": (128, 64, 32),
                           "dropout_rates": (0.4, 0.4, 0.3, 0.3, 0.2), "learning_rate": 0.001,
                           "batch_size": 32, "epochs": 100}
    assert all(getattr(seed, k) == v for k, v in LSTM_CONFIG.items())
    assert seed.dense_units == (64, 32) and seed.weight_decay == 0.0


def test_the_default_network_is_two_orders_smaller_than_the_seeds():
    seed = build_network(60, 37, LSTMConfig.seed000())
    compact = build_network(20, 37, LSTMConfig())
    layers = [type(layer).__name__ for layer in seed.layers]
    assert layers.count("Bidirectional") == 2 and layers.count("LayerNormalization") == 5
    assert seed.count_params() > 300_000
    assert compact.count_params() < 5_000


def test_a_config_file_naming_seed000_gets_the_seeds_sizes():
    assert override(LSTMConfig(), {"architecture": "seed000"}, "f") == LSTMConfig.seed000()
    tuned = override(LSTMConfig(), {"architecture": "seed000", "epochs": 5}, "f")
    assert tuned.lstm_units == (128, 64, 32) and tuned.epochs == 5
    assert override(LSTMConfig(), {"epochs": 5}, "f").architecture == "compact"


@pytest.mark.parametrize("values, message", [
    ({"architecture": "transformer"}, "architecture must be one of"),
    ({"lstm_units": (8, 4), "dropout_rates": (0.1, 0.2, 0.3)}, "dropout_rates"),
    ({"architecture": "seed000", "lstm_units": (8, 4)}, "3 lstm_units"),
])
def test_bad_sizes_are_refused(values, message):
    with pytest.raises(DataError, match=message):
        override(LSTMConfig(), values, "f")


def test_member_early_stopping_purges_labels_that_reach_the_validation_windows():
    rng = np.random.default_rng(0)
    n = 100
    X = rng.standard_normal((n, 3, 2)).astype(np.float32)
    y = rng.integers(0, 3, n)
    rows = np.arange(n)
    member = LSTMMember(units=2, epochs=2, patience=1, validation_fraction=0.2, embargo=2)
    member.fit(X, y, rows, rows + 10)  # each label known 10 bars later
    # validation: rows 80..99; kept: labels known before row 78, i.e. rows 0..67
    assert member.n_purged_ == 80 - 68
    member.fit(X, y)  # labels known at once: only the embargo separates
    assert member.n_purged_ == 2


def _downgrade(folder):
    meta = json.loads((folder / "metadata.json").read_text())
    meta["model_format"] = 1
    (folder / "metadata.json").write_text(json.dumps(meta))


def test_an_older_strategy_store_folder_is_refused_clearly(tiny_model, tmp_path):
    from models.strategy_model import StrategyModel

    tiny_model.save(tmp_path)
    assert StrategyModel.load(tmp_path).feature_names_ == tiny_model.feature_names_
    _downgrade(tmp_path)
    with pytest.raises(DataError, match="store format 1.*retrain"):
        StrategyModel.load(tmp_path)


def test_an_older_direction_store_folder_is_refused_clearly(tiny_direction_model, tmp_path):
    from models.direction_model import DirectionModel

    tiny_direction_model.save(tmp_path)
    _downgrade(tmp_path)
    with pytest.raises(DataError, match="store format 1.*retrain"):
        DirectionModel.load(tmp_path)
