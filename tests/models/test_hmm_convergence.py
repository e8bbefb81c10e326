"""hmmlearn's "Model is not converging" note, said by the regime classifier in plain words."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from models.features import LOOKBACK, build_features
from models.regimes import HMMConfig, MarketStateClassifier


@pytest.fixture(scope="module")
def qqq_features(sample_market):
    bars = sample_market.bars("QQQ", pd.Timestamp("2022-01-03"), pd.Timestamp("2024-12-31"))
    return build_features(bars).iloc[LOOKBACK - 1:]


@pytest.mark.parametrize("hmmlearn_level", [logging.WARNING, logging.ERROR],
                         ids=["default", "quiet"])
def test_a_kept_fit_that_did_not_converge_is_said_in_plain_words(qqq_features, caplog,
                                                                 hmmlearn_level):
    """Seed 44's EM on QQQ's 2022-2024 features lowers its log-likelihood at its last step:
    hmmlearn's own note (``Model is not converging.  Current: ...``) does not reach the
    log, the classifier's does, naming what did not converge and what to change; with -q
    (hmmlearn's logger at ERROR) too."""
    hmmlearn = logging.getLogger("hmmlearn")
    before = hmmlearn.level
    hmmlearn.setLevel(hmmlearn_level)
    try:
        with caplog.at_level(logging.WARNING):
            model = MarketStateClassifier(HMMConfig(n_init=1, random_state=44)).fit(
                qqq_features)
    finally:
        hmmlearn.setLevel(before)
    assert [r for r in caplog.records if r.name.startswith("hmmlearn")] == []
    said = [r.getMessage() for r in caplog.records if r.name == "models.regimes"]
    monitor = model.hmm_.monitor_
    assert monitor.history[-1] < monitor.history[-2]  # EM stopped on a fall
    assert said == [
        f"the regime classifier's HMM did not converge: at EM iteration {monitor.iter} its "
        f"log-likelihood fell from {monitor.history[-2]:.6f} to {monitor.history[-1]:.6f} "
        "instead of rising, so EM stopped there and its regimes are those of that step; a "
        "longer training history (an earlier --hmm-start), more restarts ([hmm] n_init in a "
        "--config file, now 1) or a larger [hmm] tol (now 0.0001) may give EM a fit that "
        "converges"]
    assert not hasattr(model, "_not_converged")  # nothing of it is pickled with the model


def test_a_fit_that_converged_says_nothing(qqq_features, caplog):
    with caplog.at_level(logging.WARNING):
        MarketStateClassifier(HMMConfig(n_init=1, random_state=45)).fit(qqq_features)
    assert [r.name for r in caplog.records] == []


def test_a_kept_fit_that_ran_out_of_iterations_is_said(qqq_features, caplog):
    """hmmlearn counts EM that reached ``n_iter`` as converged and logs nothing, though its
    log-likelihood was still rising by more than ``tol``: the classifier says so."""
    with caplog.at_level(logging.WARNING):
        model = MarketStateClassifier(HMMConfig(n_init=1, random_state=45, n_iter=3)).fit(
            qqq_features)
    monitor = model.hmm_.monitor_
    assert monitor.iter == 3 and monitor.history[-1] - monitor.history[-2] >= monitor.tol
    said = [r.getMessage() for r in caplog.records if r.name == "models.regimes"]
    assert said == [
        "the regime classifier's HMM did not converge: EM stopped at its limit of 3 "
        f"iterations with its log-likelihood still rising by "
        f"{monitor.history[-1] - monitor.history[-2]:.6g} a step (tol 0.0001), so its "
        "regimes are those of that step; a larger [hmm] n_iter in a --config file (now 3) "
        "lets EM run on"]
