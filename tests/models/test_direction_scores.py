"""The direction score table on a known frame: each call earns the label's trade, the
oracle reads the regime's past returns, the edge shares run from majority (0) to oracle (1)."""

import numpy as np
import pytest

from models.direction_scores import direction_oracle, direction_scores, logistic_baseline

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
