"""Score table metrics on hand-computed examples; the oracle learns only from labels known
before its block; temperature scaling only when it helps."""

import numpy as np
import pandas as pd
import pytest

from models.evaluation import (
    EDGE_MIN_STANDARD_ERRORS,
    action_returns,
    apply_temperature,
    best_action,
    brier_score,
    chosen_pnl,
    class_frequencies,
    edge_captured,
    fit_temperature,
    oracle_margins,
    regime_oracle,
    score_predictor,
    score_table,
)
from models.walk_forward import oracle_predictions

Y = np.array([0, 1, 2, 2])
CHOICE = np.array([0, 2, 2, 1])
PUT = np.array([0.1, -0.2, 0.3, 0.1])
CALL = np.array([-0.1, 0.2, -0.3, 0.4])
PROBA = np.array([[0.5, 0.25, 0.25],
                  [0.2, 0.2, 0.6],
                  [0.1, 0.1, 0.8],
                  [0.2, 0.5, 0.3]])


def test_hard_call_scores_by_hand():
    row = score_predictor(Y, CHOICE, PUT, CALL)
    assert row["n"] == 4
    assert row["accuracy"] == pytest.approx(2 / 4)
    # recall: hold 1/1, call 0/1, put 1/2
    assert row["balanced_accuracy"] == pytest.approx((1 + 0 + 0.5) / 3)
    # F1: hold 1, call 0 (never right), put precision 1/2 recall 1/2 -> 1/2
    assert row["macro_f1"] == pytest.approx((1 + 0 + 0.5) / 3)
    # P&L: hold 0, put -0.2, put 0.3, call 0.4
    assert row["mean_pnl"] == pytest.approx(0.5 / 4)
    assert row["pnl_se"] == pytest.approx(np.std([0, -0.2, 0.3, 0.4], ddof=1) / 2)
    assert np.isnan(row["log_loss"]) and np.isnan(row["brier"])


def test_probabilities_score_by_hand():
    row = score_predictor(Y, PROBA.argmax(axis=1), PUT, CALL, PROBA)
    p_true = [0.5, 0.2, 0.8, 0.3]
    assert row["log_loss"] == pytest.approx(-np.mean(np.log(p_true)))
    brier = [(0.5 ** 2 + 0.25 ** 2 + 0.25 ** 2), (0.2 ** 2 + 0.8 ** 2 + 0.6 ** 2),
             (0.1 ** 2 + 0.1 ** 2 + 0.2 ** 2), (0.2 ** 2 + 0.5 ** 2 + 0.7 ** 2)]
    assert row["brier"] == pytest.approx(np.mean(brier))
    # score p_put - p_call = 0, 0.4, 0.7, -0.2 against put - call = 0.2, -0.4, 0.6, -0.3:
    # ranks 2,3,4,1 vs 3,1,4,2 -> spearman 1 - 6 * (1 + 4 + 0 + 1) / (4 * 15) = 0.4
    assert row["rank_ic"] == pytest.approx(0.4)
    score, edge = np.array([0.0, 0.4, 0.7, -0.2]), np.array([0.2, -0.4, 0.6, -0.3])
    sc, ed = score - score.mean(), edge - edge.mean()
    assert row["ic"] == pytest.approx((sc @ ed) / np.sqrt((sc @ sc) * (ed @ ed)))


def test_brier_bounds_chosen_pnl_and_edge_captured():
    assert brier_score([0, 2], [[1, 0, 0], [0, 0, 1]]) == 0.0
    assert brier_score([0], [[0, 1, 0]]) == 2.0
    np.testing.assert_allclose(chosen_pnl([0, 1, 2, 2], [1, 1, np.nan, 0.5], [2, 3, 4, 5]),
                               [0, 3, 0, 0.5])  # a refused spread (NaN) earns nothing
    assert edge_captured(0.9, majority=1.0, oracle=0.5,
                         higher_is_better=False) == pytest.approx(0.2)  # log loss
    # an oracle no better than the majority class leaves no edge to capture
    assert np.isnan(edge_captured(0.9, majority=1.0, oracle=1.1, higher_is_better=False))
    assert np.isnan(edge_captured(0.03, majority=0.0, oracle=-0.01))
    assert edge_captured(0.03, majority=0.0, oracle=0.1) == pytest.approx(0.3)  # P&L
    assert np.isnan(edge_captured(0.5, 1.0, 1.0))


def test_score_table_rows_and_edges():
    # the four bars ten times: enough bars for the oracle's margin to stand out of the noise
    y, put, call, proba = (np.tile(a, (10,) + (1,) * (a.ndim - 1)) for a in (Y, PUT, CALL, PROBA))
    majority = np.tile(class_frequencies([0, 2, 2]), (40, 1))
    table = score_table(y, put, call, {"model": (proba.argmax(1), proba),
                                       "majority": (np.full(40, 2), majority),
                                       "oracle": (y, np.eye(3)[y])})
    assert list(table.index) == ["model", "majority", "oracle"]
    assert table.loc["majority", "edge_pnl"] == 0.0 and table.loc["oracle", "edge_pnl"] == 1.0
    # one call per training block: no correlation for the majority class
    assert table.loc["majority", ["ic", "rank_ic"]].isna().all()
    assert table.loc[["model", "oracle"], "rank_ic"].notna().all()
    assert table.loc["oracle", "edge_log_loss"] == pytest.approx(1.0)
    expected = ((table.loc["model", "log_loss"] - table.loc["majority", "log_loss"])
                / (table.loc["oracle", "log_loss"] - table.loc["majority", "log_loss"]))
    assert table.loc["model", "edge_log_loss"] == pytest.approx(expected)


def test_edge_shares_only_where_the_oracle_margin_stands_out_of_the_noise():
    """On the same four bars once, the oracle's P&L margin over the majority class (+0.075 a
    call) is within two paired standard errors (0.10 each): its edge share is not shown,
    while its log-loss margin (a sure oracle against the base rates) is measured."""
    majority = np.tile(class_frequencies([0, 2, 2]), (4, 1))
    predictors = {"model": (PROBA.argmax(1), PROBA), "majority": (np.full(4, 2), majority),
                  "oracle": (Y, np.eye(3)[Y])}
    margins = oracle_margins(Y, PUT, CALL, predictors["oracle"], predictors["majority"])
    margin, se = margins["mean_pnl"]
    assert margin == pytest.approx(0.075) and margin < EDGE_MIN_STANDARD_ERRORS * se
    table = score_table(Y, PUT, CALL, predictors)
    assert table["edge_pnl"].isna().all()
    assert table.loc["oracle", "edge_log_loss"] == pytest.approx(1.0)
    # an oracle with no probabilities has no log-loss margin, and no share is made up
    no_proba = {**predictors, "oracle": (Y, None)}
    assert score_table(Y, PUT, CALL, no_proba)["edge_log_loss"].isna().all()


def test_class_frequencies_and_best_action():
    np.testing.assert_allclose(class_frequencies([0, 0, 2], smoothing=1.0), [3 / 6, 1 / 6, 2 / 6])
    assert best_action(np.array([0.1, 0.2]), np.array([0.3, np.nan])) == 1
    assert best_action(np.array([-0.1]), np.array([-0.2])) == 0
    assert best_action(np.array([0.2, np.nan]), np.array([0.1])) == 2


def test_regime_oracle_learns_per_regime():
    past = pd.DataFrame({"true_regime": [0, 0, 1, 1], "label": [2, 2, 1, 0],
                         "put_return": [0.2, 0.1, -0.3, -0.1],
                         "call_return": [-0.2, -0.1, 0.3, -0.2]})
    choice, proba = regime_oracle(past, [1, 0, 3])
    assert list(choice[:2]) == [1, 2]
    np.testing.assert_allclose(proba[0], [2 / 5, 2 / 5, 1 / 5])
    np.testing.assert_allclose(proba[1], [1 / 5, 1 / 5, 3 / 5])
    np.testing.assert_allclose(proba[2], class_frequencies([2, 2, 1, 0]))  # unseen: all


def test_the_oracle_uses_only_labels_ended_before_the_block():
    days = pd.bdate_range("2022-01-03", periods=60)
    rng = np.random.default_rng(0)
    regime = pd.Series(rng.integers(0, 2, len(days)), index=days)
    labels = pd.DataFrame({"label": rng.integers(0, 3, len(days)).astype(float),
                           "put_return": rng.normal(0, 0.1, len(days)),
                           "call_return": rng.normal(0, 0.1, len(days)),
                           "label_end": days[np.minimum(np.arange(len(days)) + 8, 59)]},
                          index=days)
    start = days[40]
    block = days[40:]
    choice, proba = oracle_predictions(regime, labels, start, block)

    # labels still open at the block's start (bars 32..39) or inside it change nothing
    changed = labels.copy()
    changed.iloc[32:, changed.columns.get_loc("label")] = 2.0
    changed.iloc[32:, changed.columns.get_loc("put_return")] = 5.0
    again = oracle_predictions(regime, changed, start, block)
    np.testing.assert_array_equal(again[0], choice)
    np.testing.assert_allclose(again[1], proba)

    # a label that ended before the block does change it
    changed = labels.copy()
    changed.iloc[:32, changed.columns.get_loc("put_return")] = 5.0
    changed.iloc[:32, changed.columns.get_loc("label")] = 2.0
    moved = oracle_predictions(regime, changed, start, block)
    assert (moved[0] == 2).all() and not np.allclose(moved[1], proba)


def test_temperature_softens_overconfident_probabilities_and_keeps_good_ones():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    # right 60 % of the time but always 98 % sure: T > 1 lowers the log loss
    guess = np.where(rng.random(400) < 0.6, y, (y + 1) % 3)
    sure = np.full((400, 3), 0.01)
    sure[np.arange(400), guess] = 0.98
    temperature = fit_temperature(sure, y)
    assert temperature > 1.5
    calibrated = apply_temperature(sure, temperature)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), sure.argmax(axis=1))
    assert calibrated.max(axis=1).mean() == pytest.approx(0.6, abs=0.05)
    honest = np.full((400, 3), 1 / 3)  # uniform: no temperature changes it
    assert fit_temperature(honest, y) == 1.0


def test_paired_log_loss_difference_and_its_standard_error():
    from models.evaluation import paired_log_loss_difference

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    prior = np.full((400, 3), 1 / 3)
    assert paired_log_loss_difference(y, prior, prior) == (0.0, 0.0)
    sure = np.eye(3)[y] * 0.9 + 0.1 / 3  # 0.9333 on the truth
    diff, se = paired_log_loss_difference(y, sure, prior)
    assert diff == pytest.approx(-np.log(0.9 + 0.1 / 3) - np.log(3))  # same every bar
    assert se == pytest.approx(0.0, abs=1e-12)
    noisy = rng.dirichlet(np.ones(3), 400)
    diff, se = paired_log_loss_difference(y, noisy, prior)
    per_bar = -np.log(noisy[np.arange(400), y]) - np.log(3)
    assert diff == pytest.approx(per_bar.mean())
    assert se == pytest.approx(per_bar.std(ddof=1) / 20)


def test_action_returns_are_each_actions_mean_return_per_label():
    labels = np.array([0, 1, 1, 2, 2, 2])
    put = np.array([0.1, -0.5, np.nan, 0.3, 0.1, 0.2])
    call = np.array([-0.2, 0.4, 0.2, -0.6, np.nan, -0.3])
    m = action_returns(labels, put, call)
    assert (m[0] == 0).all()  # hold earns nothing whatever the label
    # a refused spread (NaN) earns 0, as in the P&L column
    assert m[2] == pytest.approx([0.1, -0.25, 0.2])
    assert m[1] == pytest.approx([-0.2, 0.3, -0.3])
    # a class that never occurred gives 0 (and the expected return weighs it by p anyway)
    assert (action_returns(np.array([1, 1]), put[1:3], call[1:3])[:, 0] == 0).all()
