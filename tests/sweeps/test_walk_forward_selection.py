"""Walk-forward selection: the set chosen for a fold sees only the folds before it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sweeps.overfitting import sharpe_ratio
from sweeps.walk_forward import choose, performance, select, stitched

FOLD_DAYS = [pd.bdate_range("2024-01-01", periods=3) + pd.offsets.BDay(3 * k)
             for k in range(4)]


def _fold(k: int, values) -> pd.Series:
    return pd.Series(values, index=FOLD_DAYS[k], dtype=float)


def fold_sharpes(fold_returns: list[list[pd.Series]]) -> np.ndarray:
    """The (folds x sets) matrix of annualized per-fold Sharpe ratios (the old rule's)."""
    return np.array([[sharpe_ratio(f) * math.sqrt(252) for f in folds]
                     for folds in fold_returns]).T


def _sets(shapes) -> list[list[pd.Series]]:
    """``shapes[set][fold]``: three daily returns each."""
    return [[_fold(k, v) for k, v in enumerate(folds)] for folds in shapes]


# per-period Sharpe (mean / sd, ddof 1) of each three-day shape, scale-free:
UP2 = [0.01, 0.02, 0.03]   # 2
UP1 = [0.0, 0.01, 0.02]    # 1
DOWN2 = [-0.03, -0.02, -0.01]  # -2
IDLE = [0.0, 0.0, 0.0]     # 0: never traded
HAND = _sets([
    # fold 0  fold 1  fold 2  fold 3
    [IDLE, UP2, DOWN2, UP1],                 # set 0
    [UP2, DOWN2, UP2, [0.02, 0.0, 0.01]],    # set 1
    [UP2, UP1, DOWN2, [0.01, 0.03, -0.01]],  # set 2
])


def test_a_hand_made_sweep_chooses_the_known_sets_and_ties_share_the_fold():
    """Each set scored by the Sharpe (x sqrt(252)) of its returns of folds 0..k-1 joined:
    fold 1 is chosen on fold 0 alone, where sets 1 and 2 tie at 2 (set 0 idle: 0): they
    share fold 1, half each. Fold 2 on folds 0-1 joined: set 0 [0, 0, 0, .01, .02, .03]
    0.79, set 1 (UP2 then DOWN2, mean 0) 0, set 2 [.01, .02, .03, 0, .01, .02] mean .015,
    sd sqrt(550e-6 / 5): 1.43: set 2. Fold 3 on folds 0-2: 0, 0.31, 0.17: set 1."""
    root = math.sqrt(252)
    np.testing.assert_allclose(fold_sharpes(HAND)[:3] / root,
                               [[0, 2, 2], [2, -2, 1], [-2, 2, -2]], atol=1e-12)
    choices = select(HAND)
    assert [(c.fold, c.chosen) for c in choices] == [(1, (1, 2)), (2, (2,)), (3, (1,))]
    assert [c.in_sample_sharpe / root for c in choices] == pytest.approx(
        [2, 0.015 / math.sqrt(550e-6 / 5), 0.305887645], abs=1e-8)
    pd.testing.assert_series_equal(choices[0].returns,
                                   (HAND[1][1] + HAND[2][1]) / 2, check_names=False)
    pd.testing.assert_series_equal(choices[1].returns, HAND[2][2], check_names=False)
    pd.testing.assert_series_equal(choices[2].returns, HAND[1][3], check_names=False)


def test_the_choice_is_the_sharpe_of_the_folds_joined_as_pbo_ranks_in_sample():
    """The criterion of the PBO's in-sample ranking (``column_sharpes`` of the folds'
    returns end to end), not the mean of the folds' Sharpe ratios: set 0 gains a steady
    0.1 % a day in a quiet fold 0 (Sharpe 11) and loses 3 % in a busy fold 1 (Sharpe
    -0.5), set 1 makes UP1 in both (Sharpe 1 each). The mean of the folds' Sharpes, 5.25
    against 1, chose set 0, which lost money over the two folds (joined Sharpe -0.32);
    the joined Sharpe chooses set 1 (1.12)."""
    from sweeps.overfitting import column_sharpes

    quiet, busy = [0.001, 0.0011, 0.0012], [-0.03, -0.01, 0.01]
    sets = _sets([[quiet, busy, UP2], [UP1, UP1, UP2]])
    assert fold_sharpes(sets)[:2].mean(axis=0) / math.sqrt(252) == pytest.approx([5.25, 1])
    choice = select(sets)[1]
    assert choice.fold == 2 and choice.chosen == (1,)
    joined = np.column_stack([np.concatenate([quiet, busy]), UP1 + UP1])
    assert column_sharpes(joined) == pytest.approx([-0.31707593, 1.11803399])
    assert choice.in_sample_sharpe == pytest.approx(1.11803399 * math.sqrt(252))


def test_the_stitched_returns_are_the_chosen_sets_fold_returns_end_to_end():
    walk = stitched(select(HAND))
    expected = pd.concat([(HAND[1][1] + HAND[2][1]) / 2, HAND[2][2], HAND[1][3]])
    pd.testing.assert_series_equal(walk, expected, check_names=False)
    assert walk.index.is_monotonic_increasing and len(walk) == 9
    assert performance(walk)["total_return"] == pytest.approx((1 + expected).prod() - 1)


def test_the_choice_does_not_depend_on_the_order_of_the_sets():
    """Ties share the fold: reversing the grid chooses the same sets (indices reversed)."""
    forward, reverse = select(HAND), select(HAND[::-1])
    for a, b in zip(forward, reverse, strict=True):
        assert sorted(2 - i for i in b.chosen) == sorted(a.chosen)
        pd.testing.assert_series_equal(a.returns, b.returns, check_names=False)


def test_the_choice_for_a_fold_does_not_change_when_that_fold_or_later_ones_change():
    """No lookahead: for each fold k, scramble the returns of folds k.. of every set;
    the choice for fold k and its in-sample score stay as they were."""
    rng = np.random.default_rng(7)
    sets = [[_fold(k, rng.normal(0.001, 0.01, 3)) for k in range(4)] for _ in range(5)]
    before = select(sets)
    for k in range(1, 4):
        changed = [[f if j < k else f * -3.0 + rng.normal(0, 0.02, 3) for j, f in
                    enumerate(folds)] for folds in sets]
        after = select(changed)
        assert after[k - 1].chosen == before[k - 1].chosen
        assert after[k - 1].in_sample_sharpe == before[k - 1].in_sample_sharpe
    blanked = [[f if j < 2 else f * np.nan for j, f in enumerate(folds)] for folds in sets]
    assert choose(sets, 2) == choose(blanked, 2)
    with pytest.raises(ValueError, match="no folds before it"):
        choose(sets, 0)


def test_performance_compounds_the_daily_returns_and_reads_drawdown_from_the_start():
    figures = performance(pd.Series([-0.1, 0.2, -0.5]))
    assert figures["total_return"] == pytest.approx(0.9 * 1.2 * 0.5 - 1)
    assert figures["max_drawdown"] == pytest.approx(0.54 / 1.08 - 1)  # peak 1.08 -> 0.54
    assert performance(pd.Series([-0.1, 0.05]))["max_drawdown"] == pytest.approx(-0.1)


def test_the_report_rows_leave_out_sets_with_a_failed_fold_and_say_when_none_is_left():
    """SPY's first set failed a fold: it takes no part (its row is n/a) and the others
    are chosen as by hand; LATE has no complete set: its summary line says so."""
    from sweeps.walk_forward_report import summary_lines, walk_forward_rows

    table = pd.DataFrame({"symbol": ["SPY"] * 4 + ["LATE"], "width": ["1", "5", "10", "20", "5"],
                          "failed_folds": [1, 0, 0, 0, 2]})
    fold_returns = {0: [None, *HAND[0][1:]], 1: HAND[0], 2: HAND[1], 3: HAND[2], 4: [None] * 4}
    folds = [(days[0], days[-1]) for days in FOLD_DAYS]
    benchmarks = {("SPY", k): 0.1 for k in range(4)}
    rows, curves = walk_forward_rows(table, fold_returns, ["width"], folds, benchmarks)
    by = rows.set_index("line")
    assert list(by.loc["fold", "sets"]) == ["width=10 | width=20", "width=20", "width=10"]
    assert list(by.loc["fold", "tied_sets"]) == [2, 1, 1]
    assert by.at["first set", "sets"] == "width=1" and np.isnan(by.at["first set", "sharpe"])
    assert by.at["buy and hold", "total_return"] == pytest.approx(1.1 ** 3 - 1)
    assert by.at["median set", "sets"] == "median of 3 sets"
    assert set(curves) == {"SPY"} and set(rows["symbol"]) == {"SPY"}
    lines = summary_lines(rows, 4, ["SPY", "LATE"])
    assert lines[1].startswith("SPY, folds 1-3 (2024-01-04..")
    assert lines[2] == "LATE: no parameter set finished every fold"
    assert "nothing to select" in summary_lines(rows.iloc[:0], 1, ["SPY"])[1]
    # two folds trade one: 'fold 1', not 'folds 1-1'
    assert summary_lines(rows, 2, ["SPY"])[1].startswith("SPY, fold 1 (2024-01-04..")
