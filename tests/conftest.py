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
    """Seed 000's pipeline with a tiny LSTM and one HMM start, so tests stay fast."""
    from models.lstm import LSTMConfig
    from models.regimes import HMMConfig
    from models.training import TrainingSpec

    return TrainingSpec(
        lstm=LSTMConfig(sequence_length=10, lstm_units=(8, 4, 4), dense_units=(8, 4),
                        epochs=2, patience=1, batch_size=64),
        hmm=HMMConfig(n_init=1), hmm_start=None, lstm_start=None)


@pytest.fixture(scope="session")
def tiny_training(sample_market, tiny_spec):
    """Training data for SPY up to 2021-12-31: HMM from 2016, LSTM labels from 2021-03."""
    import pandas as pd

    from models.training import TrainingSpec, training_data

    spec = TrainingSpec(lstm=tiny_spec.lstm, hmm=tiny_spec.hmm,
                        hmm_start=pd.Timestamp("2016-01-01"),
                        lstm_start=pd.Timestamp("2021-03-01"))
    return spec, training_data(sample_market, "SPY", pd.Timestamp("2021-12-31"), spec)


@pytest.fixture(scope="session")
def tiny_model(tiny_training):
    spec, data = tiny_training
    return spec.make_model().fit(data.bars, data.labels, hmm_bars=data.hmm_bars)
