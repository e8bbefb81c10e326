"""A Dask LocalCluster of 2 worker processes on 127.0.0.1 for the module, and small sweeps
on the sample market."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from sweeps.grid import parse_grid
from sweeps.plan import SourceSpec, SweepSpec

WINDOW = (pd.Timestamp("2024-01-02"), pd.Timestamp("2024-06-28"))


@pytest.fixture(scope="module")
def dask_address():
    """Address of a running scheduler with 2 single-threaded worker processes (started
    once per module; tests pass the address, as ``--cluster tcp://...`` does)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                      silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="session")
def source_spec(tmp_path_factory) -> SourceSpec:
    """The sample market, cached in the test run's own folder (the workers are told the
    folder, they never fall back to the user's cache)."""
    return SourceSpec("sample", 42, None, str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def make_spec(source_spec):
    def make(strategy="credit-spread", grid=(), symbols=("SPY", "QQQ"), folds=2,
             window=WINDOW, source=None) -> SweepSpec:
        return SweepSpec(strategy, tuple(symbols), parse_grid(strategy, list(grid)),
                         window[0], window[1], folds, source or source_spec)
    return make
