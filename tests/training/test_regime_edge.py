"""The no-edge world gives nothing to learn: over seven yearly refits (2014-2020) no
predictor built on the HMM's regimes, nor the oracle that knows the true state, beats the
majority class beyond noise, on log loss or on P&L per call. The control: on the
benchmark world over the same years the oracle's calls earn clearly more than the majority
class's, so the test can tell an edge when there is one."""

import warnings

import numpy as np
import pytest

from feeds.sample_market import SampleMarket
from models.evaluation import score_table
from training.labels import strategy_labels
from training.regime_edge import regime_walk_forward

YEARS = range(2014, 2021)


def walk_forward_table(world: str):
    chain = SampleMarket(seed=42, cache=None, world=world).option_chain("SPY")
    labels = strategy_labels(chain, None, "2011-01-01", "2020-12-31")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scored, predicted = regime_walk_forward(chain.bars, labels, 42, YEARS, n_init=1)
    assert set(scored.index.year) == set(YEARS) and len(scored) > 1500
    return score_table(scored["label"].astype(int), scored["put_return"],
                       scored["call_return"], predicted)


@pytest.mark.slow
def test_nothing_beats_the_majority_class_in_the_no_edge_world():
    table = walk_forward_table("no-edge")
    majority = table.loc["majority"]
    for name in ("regime_logistic", "hmm_state_table", "oracle"):
        row = table.loc[name]
        assert row["log_loss"] > majority["log_loss"] - 0.005, name
        noise = 2 * np.hypot(row["pnl_se"], majority["pnl_se"])
        assert row["mean_pnl"] < majority["mean_pnl"] + noise, name
    assert np.isnan(table["edge_pnl"]).all()  # the oracle has no edge to share out


@pytest.mark.slow
def test_the_benchmark_world_has_an_edge_the_same_test_would_see():
    table = walk_forward_table("edge")
    oracle, majority = table.loc["oracle"], table.loc["majority"]
    noise = 2 * np.hypot(oracle["pnl_se"], majority["pnl_se"])
    assert oracle["mean_pnl"] > majority["mean_pnl"] + noise
