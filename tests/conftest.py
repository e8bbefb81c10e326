"""Shared fixtures: a tiny slice of the sample market, and a private cache per test run."""

from __future__ import annotations

import pytest

from feeds.sample_market import SampleMarket


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """No test writes into the user's own cache folder."""
    monkeypatch.setenv("BTML_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def sample_market() -> SampleMarket:
    return SampleMarket(seed=42)


@pytest.fixture(scope="session")
def tiny_spec():
    """Seed 000's pipeline with a tiny LSTM head and one HMM start, so tests stay fast
    (the regime head, the default, has its own tests)."""
    from models.lstm import LSTMConfig
    from models.regimes import HMMConfig
    from training.pipeline import TrainingSpec

    return TrainingSpec(
        head="lstm", lstm=LSTMConfig(sequence_length=10, lstm_units=(8, 4, 4), dense_units=(8, 4),
                        epochs=2, patience=1, batch_size=64),
        hmm=HMMConfig(n_init=1), hmm_start=None, lstm_start=None)


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory):
    """``tiny_spec`` (and a short HMM fit) as the ``--config`` file of a command."""
    path = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    path.write_text("[model]\nhead = \"lstm\"\n\n[lstm]\nsequence_length = 10\nlstm_units = [8, 4, 4]\n"
                    "dense_units = [8, 4]\nepochs = 2\npatience = 1\nbatch_size = 64\n\n"
                    "[hmm]\nn_init = 1\nn_iter = 20\n")
    return path


@pytest.fixture(scope="session")
def tiny_training(sample_market, tiny_spec):
    """Training data for SPY up to 2021-12-31: HMM from 2016, LSTM labels from 2021-03."""
    import pandas as pd

    from training.pipeline import TrainingSpec, training_data

    spec = TrainingSpec(head="lstm", lstm=tiny_spec.lstm, hmm=tiny_spec.hmm,
                        hmm_start=pd.Timestamp("2016-01-01"),
                        lstm_start=pd.Timestamp("2021-03-01"))
    return spec, training_data(sample_market, "SPY", pd.Timestamp("2021-12-31"), spec)


@pytest.fixture(scope="session")
def tiny_model(tiny_training):
    spec, data = tiny_training
    return spec.make_model().fit(data.bars, data.labels, hmm_bars=data.hmm_bars)


#: issue 6's multi-model system, tiny: few trees, 4 units, one epoch, windows of 5 rows
TINY_DIRECTION = dict(n_estimators=8, max_depth=2, rf_max_depth=3, units=4, epochs=1,
                      sequence_length=5, tcn_dilations=(1, 2), n_folds=2, batch_size=64,
                      min_train_samples=50)


@pytest.fixture(scope="session")
def direction_training_bars(sample_market):
    """SPY bars the tiny direction models train on."""
    return sample_market.bars("SPY", "2020-03-02", "2021-12-31")


@pytest.fixture(scope="session")
def fast_direction_config():
    """Trees and one sequence member: for the tests that fit again (determinism, shuffling)."""
    from models.direction_model import DirectionConfig

    return DirectionConfig(**TINY_DIRECTION, members=("xgboost", "random_forest",
                                                      "gradient_boosting", "gru"))


@pytest.fixture(scope="session")
def tiny_direction_model(direction_training_bars):
    """Every member, tiny, fitted once per test session (model and indicator tests share it)."""
    from models.direction_model import DirectionConfig, DirectionModel

    return DirectionModel(DirectionConfig(**TINY_DIRECTION)).fit(direction_training_bars)
