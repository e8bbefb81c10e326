"""The direction score table on a known frame: each call earns the label's trade, the
oracle reads the regime's past returns, the edge shares run from majority (0) to oracle (1)."""

import numpy as np
import pytest

from models.direction_scores import (
    direction_oracle,
    direction_scores,
    logistic_baseline,
    paired_side_difference,
    side_losses,
)

# regime 0 rises (BUY labels), regime 1 falls (SELL labels)
REGIME = np.tile([0, 1], 30)
Y = np.where(REGIME == 0, 2, 0)
RET = np.where(REGIME == 0, 0.02, -0.03)


def test_a_call_earns_the_labels_return_signed_by_its_side():
    n = len(Y)
    table = direction_scores(Y, RET, {
        "always_buy": (np.full(n, 2), None),
        "always_sell": (np.full(n, 0), None),
        "neutral": (np.full(n, 1), None),
        "foresight": (Y, np.eye(3)[Y])})
    assert table.loc["always_buy", "mean_pnl"] == pytest.approx(RET.mean())
    assert table.loc["always_sell", "mean_pnl"] == pytest.approx(-RET.mean())
    assert table.loc["neutral", "mean_pnl"] == 0.0
    assert table.loc["foresight", "mean_pnl"] == pytest.approx(np.abs(RET).mean())
    assert table.loc["always_buy", "buy_hit_rate"] == pytest.approx(0.5)
    assert table.loc["always_buy", "buy_calls"] == n and table.loc["always_buy",
                                                                   "sell_calls"] == 0
    assert table.loc["foresight", "rank_ic"] == pytest.approx(1.0)


def test_the_oracle_learns_each_regimes_side_from_the_past_only():
    past, test = np.arange(40), np.arange(40, 60)
    pred, proba = direction_oracle(REGIME, Y, RET, past, test)
    assert (pred == Y[test]).all()
    assert proba.shape == (20, 3) and np.allclose(proba.sum(axis=1), 1)
    assert (proba.argmax(axis=1) == Y[test]).all()
    # the past says the opposite: the oracle follows the past, not the truth
    flipped, _ = direction_oracle(REGIME, 2 - Y, -RET, past, test)
    assert (flipped == 2 - Y[test]).all()


def test_edge_shares_run_from_the_majority_to_the_oracle():
    n = len(Y)
    oracle = direction_oracle(REGIME, Y, RET, np.arange(n), np.arange(n))
    majority = np.tile([0.45, 0.1, 0.45], (n, 1))
    table = direction_scores(Y, RET, {"majority": (None, majority), "oracle": oracle,
                                      "half": (None, (majority + oracle[1]) / 2)})
    assert table.loc["majority", "edge_log_loss"] == pytest.approx(0.0)
    assert table.loc["oracle", "edge_log_loss"] == pytest.approx(1.0)
    assert 0 < table.loc["half", "edge_log_loss"] < 1


def test_the_logistic_baseline_handles_a_single_class_and_learns_a_clean_one():
    X = np.c_[REGIME, np.zeros(len(Y))].astype(float)
    assert (logistic_baseline(X, np.full(len(Y), 1), X)[:, 1] == 1).all()
    proba = logistic_baseline(X[:40], Y[:40], X[40:])
    assert (proba.argmax(axis=1) == Y[40:]).all() and proba[:, 1].max() < 0.05


def test_the_side_log_loss_scores_only_the_side_of_a_hit_barrier():
    y = np.array([2, 0, 1, 2])
    # neutral mass must not matter: rows 0 and 3 give buy:sell 3:1 whatever p_neutral is
    proba = np.array([[0.1, 0.6, 0.3], [0.5, 0.0, 0.5], [0.0, 1.0, 0.0], [0.2, 0.2, 0.6]])
    losses = side_losses(y, proba)
    assert losses[:2] == pytest.approx([-np.log(0.75), -np.log(0.5)])
    assert np.isnan(losses[2]) and losses[3] == pytest.approx(losses[0])
    table = direction_scores(y, np.array([0.01, -0.01, 0.0, 0.02]), {
        "model": (None, proba), "always_buy": (np.full(4, 2), None)})
    assert table.loc["model", "side_log_loss"] == pytest.approx(np.nanmean(losses))
    assert np.isnan(table.loc["always_buy", "side_log_loss"])  # no probabilities


def test_the_paired_side_difference_sees_a_better_side_call_and_its_noise():
    rng = np.random.default_rng(0)
    y = rng.choice([0, 1, 2], size=400)
    even = np.tile([0.3, 0.4, 0.3], (400, 1))
    knows = np.where((y == 2)[:, None], [0.1, 0.4, 0.5], [0.5, 0.4, 0.1])
    diff, se, bars = paired_side_difference(y, knows, even)
    assert bars == (y != 1).sum() and diff < -5 * se < 0
    diff, se, _ = paired_side_difference(y, even, even)
    assert diff == 0.0 and se == 0.0
