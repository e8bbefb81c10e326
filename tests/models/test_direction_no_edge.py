"""The direction system finds no side to take where there is none: in the sample market's
no-edge world (i.i.d. returns, constant volatility), over a long walk-forward (8 blocks,
about 1,660 bars scored out of sample), no member, meta-model or reference calls the side a
barrier is hit on better than the majority class's frequencies beyond noise, and no call
earns more than buying every bar (the drift, known from the training data) beyond noise.
The control: on the benchmark world the same test sees the oracle's edge, in both.

The three-class log loss is not the test's measure: whether a barrier is hit at all follows
the barriers' width (the trailing volatility, known at the bar), so it is partly predictable
in any world, this one included (``models.direction_scores``, ``side_log_loss``).
Trees only, few of them: the test asks whether anything is there to learn, not how well
the default members learn it (``bench/bench_direction_skill.py`` runs those).
"""

from dataclasses import replace

import numpy as np
import pytest

from feeds.sample_market import SampleMarket
from models.direction_model import PROBA_COLUMNS, DirectionConfig, DirectionModel
from models.direction_scores import paired_side_difference

CONFIG = replace(DirectionConfig(), members=("xgboost", "random_forest"), n_estimators=30,
                 max_train_bars=0, n_folds=8, seed=0)
SCORED = ("xgboost", "random_forest", "meta_stack", "meta_bayes", "logistic", "oracle")


def fitted(world: str) -> DirectionModel:
    bars = SampleMarket(seed=42, cache=None, world=world).bars("SPY", None, "2023-06-30")
    model = DirectionModel(CONFIG).fit(bars)
    assert model.fit_info_["n_evaluated"] > 1500
    return model


def side_against_majority(model: DirectionModel, name: str) -> tuple[float, float]:
    """``name``'s side log loss minus the majority class's, and its standard error, on the
    bars the evaluation table scores (the blocks after the first)."""
    oof = model.oof_[model.oof_["fold"] >= 2]
    proba = oof[[f"{name}_{c}" for c in PROBA_COLUMNS]].to_numpy()
    majority = oof[[f"majority_{c}" for c in PROBA_COLUMNS]].to_numpy()
    diff, se, bars = paired_side_difference(oof["label"].to_numpy(), proba, majority)
    assert bars > 700
    return diff, se


def beats_buying_every_bar(table, name: str) -> float:
    """How many standard errors ``name``'s P&L per call lies above always buying's."""
    row, always = table.loc[name], table.loc["always_buy"]
    return (row["mean_pnl"] - always["mean_pnl"]) / np.hypot(row["pnl_se"], always["pnl_se"])


@pytest.fixture(scope="module")
def no_edge():
    return fitted("no-edge")


@pytest.mark.slow
def test_no_model_calls_the_side_better_than_the_majority_class_in_the_no_edge_world(
        no_edge):
    for name in SCORED:
        diff, se = side_against_majority(no_edge, name)
        assert diff > -2 * se, (name, diff, se)
    table = no_edge.evaluation_
    assert table.loc["meta", "side_log_loss"] > table.loc["majority", "side_log_loss"] - 0.01


@pytest.mark.slow
def test_no_model_earns_more_than_buying_every_bar_in_the_no_edge_world(no_edge):
    table = no_edge.evaluation_
    for name in ("xgboost", "random_forest", "meta", "meta_bayes", "logistic", "oracle"):
        assert beats_buying_every_bar(table, name) < 2, name


@pytest.mark.slow
def test_the_benchmark_world_has_a_side_and_a_pnl_edge_the_same_test_would_see():
    model = fitted("edge")
    diff, se = side_against_majority(model, "oracle")
    assert diff < -2 * se
    assert beats_buying_every_bar(model.evaluation_, "oracle") > 2
