"""Deflated Sharpe ratio and PBO against values worked out independently."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweeps.overfitting import (
    column_means,
    cscv_groups,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
    probability_of_overfitting,
    sharpe_ratio,
)


def pbo_of_fold_scores(scores):
    """CSCV over a (folds x sets) matrix of one score per fold, a half scored by the mean
    of its folds' scores: the hand-worked examples below are written that way."""
    return probability_of_overfitting(scores, metric=column_means)


RETURNS = np.array([0.012, -0.004, 0.007, 0.021, -0.015, 0.003, 0.009, -0.002, 0.011, -0.030,
                    0.006, 0.004])
TRIALS = [0.05, -0.10, 0.20, 0.12]  # per-period Sharpe ratios of the four trials


def test_deflated_sharpe_matches_the_formula_worked_by_hand():
    # written out step by step with scipy.stats, independently of the module
    sr = RETURNS.mean() / RETURNS.std(ddof=1)
    v = np.var(TRIALS, ddof=1)
    g = 0.5772156649015329  # Euler-Mascheroni
    sr0 = math.sqrt(v) * ((1 - g) * stats.norm.ppf(1 - 1 / 4)
                          + g * stats.norm.ppf(1 - 1 / (4 * math.e)))
    skew = stats.skew(RETURNS)
    kurt = stats.kurtosis(RETURNS, fisher=False)
    z = (sr - sr0) * math.sqrt(len(RETURNS) - 1) / math.sqrt(1 - skew * sr
                                                             + (kurt - 1) / 4 * sr ** 2)
    expected = stats.norm.cdf(z)

    result = deflated_sharpe(RETURNS, TRIALS)
    assert result.sharpe == pytest.approx(sr, rel=1e-12)
    assert result.expected_max_sharpe == pytest.approx(sr0, rel=1e-12)
    assert result.deflated_sharpe == pytest.approx(expected, rel=1e-12)
    assert (result.n_trials, result.n_observations) == (4, 12)
    assert result.skewness == pytest.approx(skew) and result.kurtosis == pytest.approx(kurt)
    # numbers by hand: variance of the trials 0.048675 / 3 = 0.016225 (sd 0.127377),
    # Z(0.75) = 0.674490, Z(1 - 1/(4e)) = Z(0.908030) = 1.328722,
    # so SR0 = 0.127377 * (0.422784 * 0.674490 + 0.577216 * 1.328722) = 0.134017
    assert result.expected_max_sharpe == pytest.approx(0.134017, abs=1e-6)


def test_more_trials_raise_the_bar_and_lower_the_deflated_sharpe():
    few = deflated_sharpe(RETURNS, TRIALS)
    many = deflated_sharpe(RETURNS, TRIALS * 25)  # same spread, 100 trials
    assert many.expected_max_sharpe > few.expected_max_sharpe
    assert many.deflated_sharpe < few.deflated_sharpe


def test_one_trial_is_the_probabilistic_sharpe_against_zero():
    sr = sharpe_ratio(RETURNS)
    one = deflated_sharpe(RETURNS, [sr])
    assert one.expected_max_sharpe == 0.0
    assert one.deflated_sharpe == pytest.approx(probabilistic_sharpe(
        sr, 0.0, 12, stats.skew(RETURNS), stats.kurtosis(RETURNS, fisher=False)))
    # normal returns (skew 0, kurtosis 3), SR 0.1 against 0 over 101 returns: Phi(1 / 1.00125)
    assert probabilistic_sharpe(0.1, 0.0, 101, 0.0, 3.0) == pytest.approx(
        stats.norm.cdf(0.1 * 10 / math.sqrt(1 + 0.5 * 0.01)))


def test_expected_max_sharpe_of_two_trials():
    # N = 2: Z(1 - 1/2) = 0, so SR0 = sqrt(V) * gamma * Z(1 - 1/(2e))
    #                               = sqrt(0.5) * 0.577216 * 0.900453 = 0.367523
    assert expected_max_sharpe([0.0, 1.0]) == pytest.approx(0.367523, abs=1e-6)


def test_pbo_of_a_four_fold_three_set_example_enumerated_by_hand():
    # rows: folds, columns: parameter sets A, B, C
    perf = np.array([[7, 12, 1],
                     [5, 4, 2],
                     [9, 11, 8],
                     [3, 6, 10]], dtype=float)
    # in-sample folds -> IS sums (A, B, C), best -> OOS sums, its OOS rank of 3 -> logit
    # {0,1}: 12 16  3 -> B -> 12 17 18: rank 2 -> w 2/4 -> log(1)  =  0
    # {0,2}: 16 23  9 -> B ->  8 10 12: rank 2 -> w 2/4 ->            0
    # {0,3}: 10 18 11 -> B -> 14 15 10: rank 3 -> w 3/4 -> log(3)
    # {1,2}: 14 15 10 -> B -> 10 18 11: rank 3 ->                     log(3)
    # {1,3}:  8 10 12 -> C -> 16 23  9: rank 1 -> w 1/4 -> log(1/3)
    # {2,3}: 12 17 18 -> C -> 12 16  3: rank 1 ->                     log(1/3)
    result = pbo_of_fold_scores(perf)
    assert result.n_combinations == 6 and result.n_splits == 4
    assert result.logits == pytest.approx((0.0, 0.0, math.log(3), math.log(3),
                                           -math.log(3), -math.log(3)))
    assert result.pbo == pytest.approx(4 / 6)  # logits <= 0


def test_pbo_is_zero_when_the_in_sample_winner_always_wins_out_of_sample():
    perf = np.array([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]])
    result = pbo_of_fold_scores(perf)
    assert result.pbo == 0.0 and result.logits == pytest.approx((math.log(3),) * 2)
    flipped = pbo_of_fold_scores(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
    assert flipped.pbo == 1.0  # the in-sample best is the out-of-sample worst, both ways


@pytest.mark.parametrize(("perf", "message"), [
    (np.ones((3, 2)), "even number of time splits"),
    (np.ones((1, 2)), "even number of time splits"),
    (np.ones((2, 1)), "at least 2 parameter sets"),
    (np.array([[1.0, np.nan], [1.0, 2.0]]), "missing values"),
])
def test_pbo_refuses_what_cscv_cannot_split(perf, message):
    with pytest.raises(ValueError, match=message):
        pbo_of_fold_scores(perf)


# the SPY matrix of a real sweep (equity, min_confidence=0.3,0.5,0.7, 2023-2024, 4 folds):
# the threshold binds only in fold 0, so in folds 1-3 the three sets hold the same positions
TIED = np.array([[0.0376, 0.0078, -0.0193],
                 [-0.0141, -0.0141, -0.0141],
                 [0.0, 0.0, 0.0],
                 [0.0, 0.0, 0.0]])


def test_pbo_does_not_depend_on_the_order_of_the_parameter_sets():
    """Splits whose in-sample folds score every set the same have no winner: taking the
    first column made PBO 0.50 in grid order and 1.00 in reverse order."""
    pbos = {pbo_of_fold_scores(TIED[:, list(order)]).pbo
            for order in ((0, 1, 2), (2, 1, 0), (1, 0, 2), (1, 2, 0))}
    assert len(pbos) == 1


def test_a_tied_in_sample_best_counts_each_tied_set_equally():
    # {0,1} {0,2} {0,3}: set 0 wins in-sample; out of sample all three tie at the median
    #   rank 2 of 3 -> w 2/4 -> logit 0 -> counted (at the median)
    # {1,2} {1,3} {2,3}: all three tie in-sample; out of sample they rank 3, 2, 1 (fold 0
    #   alone, or fold 0 with a fold where they tie) -> logits log 3, 0, -log 3: two of the
    #   three at or below the median -> 2/3 of the split each
    result = pbo_of_fold_scores(TIED)
    assert result.pbo == pytest.approx((3 * 1 + 3 * 2 / 3) / 6)
    assert result.tied_splits == 3 and result.n_combinations == 6
    # one logit per split, or one per tied winner with an equal share of its split
    spread = (math.log(3), 0.0, -math.log(3))
    assert result.logits == pytest.approx((0.0, 0.0, 0.0, *spread * 3))
    assert result.weights == pytest.approx((1.0, 1.0, 1.0, *(1 / 3,) * 9))
    assert result.pbo == pytest.approx(sum(
        w for lam, w in zip(result.logits, result.weights, strict=True) if lam <= 0) / 6)


def test_pbo_refuses_sets_that_score_the_same_in_every_fold():
    """Three sets that never trade: no winner anywhere, so no PBO (it read 1.00)."""
    with pytest.raises(ValueError, match="every parameter set scored the same in every fold"):
        pbo_of_fold_scores(np.zeros((4, 3)))


def test_the_deflated_sharpe_of_constant_returns_is_undefined():
    """A best trial that never traded has no Sharpe to deflate (it read 0.500)."""
    result = deflated_sharpe(np.zeros(100), [0.0, 0.0, 0.0])
    assert math.isnan(result.deflated_sharpe)
    assert math.isnan(deflated_sharpe(np.zeros(100), [0.0, -0.1, -0.2]).deflated_sharpe)


def test_more_than_16_folds_are_split_in_groups_of_consecutive_folds():
    """40 folds alone are C(40, 20), about 1.4e11 combinations: the report never ended.
    In 10 groups of 4 folds they are C(10, 5) = 252, the PBO of the groups' means."""
    rng = np.random.default_rng(3)
    folds = rng.normal(size=(40, 5))
    result = pbo_of_fold_scores(folds)
    assert (result.n_splits, result.folds_per_group, result.n_combinations) == (10, 4, 252)
    groups = folds.reshape(10, 4, 5).mean(axis=1)
    assert result.pbo == pbo_of_fold_scores(groups).pbo
    assert result.logits == pbo_of_fold_scores(groups).logits
    assert [cscv_groups(k) for k in (2, 3, 16, 18, 20, 32, 40, 34, 17)] == [
        2, 3, 16, 6, 10, 16, 10, 2, 0]


def test_a_fold_count_no_even_group_count_divides_has_no_pbo():
    with pytest.raises(ValueError, match="CSCV over 17 folds: C\\(17, 8\\) combinations are "
                                         "too many"):
        pbo_of_fold_scores(np.arange(34.0).reshape(17, 2))


def test_pbo_scores_each_half_by_the_sharpe_of_its_returns_joined_as_in_the_paper():
    """The paper's CSCV scores a half by its rows joined (the Sharpe of the half's returns
    end to end), not by the mean of its folds' Sharpe ratios; the two pick different
    winners here. Two folds of three days, two sets: set A earns steadily in fold 0 and
    loses a little in fold 1, set B is noisy in fold 0 and steady in fold 1."""
    fold0 = np.array([[0.010, 0.030], [0.011, -0.010], [0.012, 0.020]])
    fold1 = np.array([[-0.001, 0.002], [-0.002, 0.002], [-0.001, 0.0021]])
    returns = np.vstack([fold0, fold1])

    def by_hand(rows):  # per-period Sharpe of each column, written out
        return [np.mean(c) / np.std(c, ddof=1) for c in rows.T]

    # two splits: {fold 0} in-sample, then {fold 1}
    # {0}: Sharpe A 11.0, B 0.64 -> A; out of sample (fold 1) A -2.31, B 35.2: A ranks
    #      1 of 2 -> w 1/3 -> logit log(1/2), overfit
    # {1}: B best in-sample; out of sample (fold 0) B ranks 1 of 2 -> overfit
    assert by_hand(fold0)[0] > by_hand(fold0)[1] and by_hand(fold1)[1] > by_hand(fold1)[0]
    result = probability_of_overfitting(returns, fold_sizes=[3, 3])
    assert result.pbo == 1.0 and result.logits == pytest.approx((math.log(0.5),) * 2)
    # four folds of three days: halves of two folds, scored on their six days joined
    returns4 = np.vstack([fold0, fold1, fold1[::-1] * 3, fold0[::-1]])
    result4 = probability_of_overfitting(returns4, fold_sizes=[3] * 4)
    folds = np.split(returns4, 4)
    logits = []
    for in_sample in ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)):
        out_sample = [f for f in range(4) if f not in in_sample]
        inside = by_hand(np.vstack([folds[f] for f in in_sample]))
        outside = by_hand(np.vstack([folds[f] for f in out_sample]))
        best = int(np.argmax(inside))
        rank = 1 + sum(o < outside[best] for o in outside) + 0.5 * (
            sum(o == outside[best] for o in outside) - 1)
        logits.append(math.log((rank / 3) / (1 - rank / 3)))
    assert result4.logits == pytest.approx(logits)
    assert result4.pbo == pytest.approx(sum(lam <= 0 for lam in logits) / 6)
    # the mean of the fold Sharpe ratios, the rule before, gives another answer here
    fold_sharpes = np.array([by_hand(f) for f in folds])
    assert pbo_of_fold_scores(fold_sharpes).logits != pytest.approx(logits)


def test_more_than_16_folds_of_returns_are_joined_in_groups_of_consecutive_folds():
    rng = np.random.default_rng(5)
    sizes = [int(n) for n in rng.integers(3, 7, size=20)]
    returns = rng.normal(scale=0.01, size=(sum(sizes), 4))
    result = probability_of_overfitting(returns, fold_sizes=sizes)
    assert (result.n_splits, result.folds_per_group, result.n_combinations) == (10, 2, 252)
    # the same as ten folds, each the rows of two consecutive folds
    joined = [sizes[i] + sizes[i + 1] for i in range(0, 20, 2)]
    again = probability_of_overfitting(returns, fold_sizes=joined)
    assert again.logits == result.logits and again.pbo == result.pbo


def test_fold_sizes_that_do_not_split_the_rows_are_refused():
    with pytest.raises(ValueError, match="do not split 6 rows"):
        probability_of_overfitting(np.ones((6, 2)), fold_sizes=[3, 2])
