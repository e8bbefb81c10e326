"""A sweep's run whose account fell to 0 or below: its Sharpe is n/a, as the backtest's is,
so it is ranked last and not chosen on a Sharpe read from returns on a value of 0 or less."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import run
from feeds.calendar import sessions
from sweeps.overfitting import probability_of_overfitting, sharpe_ratio
from sweeps.store import METRIC_COLUMNS
from sweeps.walk_forward import choose, performance

DAYS = sessions("2021-01-04", "2021-09-30")
SQUEEZE = 110  # in fold 1 of 3 (the traded sessions are DAYS[60:], 42-43 a fold)


@pytest.fixture(scope="module")
def squeezed(tmp_path_factory, source_spec):
    """A zigzag decline (SELL calls: the short set shorts 95 % of the account), a squeeze
    that takes the price 2.6 times in a session, then a climb of 3 % a session: the short's
    account falls below 0 on the squeeze and keeps losing, and each loss on a negative value
    is a positive daily return, a finite Sharpe of about +1.6 on that fold."""
    folder = tmp_path_factory.mktemp("squeeze")
    closes, price = [], 100.0
    for i in range(len(DAYS)):
        if i < SQUEEZE:
            price += -1.0 if i % 2 else 0.6
        else:
            price *= 2.6 if i == SQUEEZE else 1.03
        closes.append(round(price, 2))
    (folder / "SQZ.csv").write_text("date,open,high,low,close,volume\n" + "".join(
        f"{d:%Y-%m-%d},{c},{c},{c},{c},1000\n" for d, c in zip(DAYS, closes, strict=True)))
    report = folder / "sweep"
    code = run.main(["sweep", "--source", "csv", "--csv", str(folder), "--strategy", "equity",
                     "--symbols", "SQZ", "--grid", "allow_short=false,true",
                     "--grid", "min_confidence=0.0", "--start-date", f"{DAYS[60]:%Y-%m-%d}",
                     "--end-date", f"{DAYS[-1]:%Y-%m-%d}", "--walk-forward", "3",
                     "--cluster", "serial", "-q", "--cache-dir", source_spec.cache_dir,
                     "--report", str(report)])
    return code, report


def test_a_run_whose_account_fell_to_zero_is_said_in_the_results(squeezed):
    code, report = squeezed
    assert code == 0
    runs = pd.read_csv(report / "results.csv")
    assert "account_at_or_below_zero_on" in METRIC_COLUMNS  # a column of every table
    fell = runs["account_at_or_below_zero_on"]
    wiped = runs[fell.notna()]
    assert list(zip(wiped["allow_short"], wiped["fold"], wiped["account_at_or_below_zero_on"],
                    strict=True)) == [(True, 1, f"{DAYS[SQUEEZE]:%Y-%m-%d}")]
    assert wiped["final_value"].iloc[0] < 0 and math.isnan(wiped["sharpe"].iloc[0])
    assert "volatility, Sharpe and Sortino n/a" in wiped["warnings"].iloc[0]


def test_its_parameter_set_has_no_sharpe_and_is_ranked_last(squeezed):
    _, report = squeezed
    sets = pd.read_csv(report / "parameter_sets.csv").set_index("allow_short")
    # the short set's fold 1 alone reads a Sharpe above 1 from the returns after the wipe-out
    assert math.isnan(sets.at[True, "sharpe"]) and math.isnan(sets.at[True, "fold_sharpe_mean"])
    assert sets.at[True, "account_at_or_below_zero_on"] == f"{DAYS[SQUEEZE]:%Y-%m-%d}"
    assert sets.at[False, "sharpe"] == 0.0  # never traded: a Sharpe of 0, ahead of n/a
    assert pd.isna(sets.at[False, "account_at_or_below_zero_on"])
    best = pd.read_csv(report / "best_runs.csv")
    assert list(best["allow_short"]) == [False, True]
    stats = json.loads((report / "overfitting.json").read_text())["SQZ"]
    assert stats["best"] == {"allow_short": "False", "min_confidence": "0.0"}
    assert stats["account_at_or_below_zero_trials"] == 1


def test_the_walk_forward_selection_does_not_choose_it_on_a_fold_it_wiped_out(squeezed):
    _, report = squeezed
    walk = pd.read_csv(report / "walk_forward.csv")
    folds = walk[walk["line"] == "fold"].set_index("fold")
    # fold 1 is chosen on fold 0, where the short set made money and stayed above 0
    assert folds.at[1, "sets"] == "allow_short=True, min_confidence=0.0"
    # ... and its account fell below 0 in fold 1: no annual return, no Sharpe
    assert folds.at[1, "total_return"] < -1.0
    assert math.isnan(folds.at[1, "annual_return"]) and math.isnan(folds.at[1, "sharpe"])
    # fold 2 is chosen on folds 0 and 1: the short set's account fell to 0 there
    assert folds.at[2, "sets"] == "allow_short=False, min_confidence=0.0"
    line = walk.set_index("line").loc["walk-forward"]
    assert math.isnan(line["sharpe"]) and math.isnan(line["annual_return"])


def test_the_summary_says_which_set_fell_to_zero_and_what_that_means(squeezed):
    _, report = squeezed
    summary = (report / "summary.txt").read_text()
    assert ("SQZ: the account of 1 of 2 parameter sets fell to 0 or below in a fold "
            f"(allow_short=True, min_confidence=0.0: fold 1 on {DAYS[SQUEEZE]:%Y-%m-%d}): "
            "Sharpe n/a (the daily returns from then on are returns on a value of 0 or "
            "less), ranked last; not chosen by the walk-forward selection on folds that "
            "hold it, and last in every PBO half that holds them\n") in summary
    assert "walk-forward Sharpe n/a (-" in summary
    # the best parameter sets' table: the short set last, its Sharpe n/a
    rows = [line.split() for line in summary.splitlines() if line.startswith("   SQZ")]
    assert [row[:4] for row in rows] == [["SQZ", "False", "0.0", "0.000"],
                                         ["SQZ", "True", "0.0", "n/a"]]


def _fold(values) -> pd.Series:
    return pd.Series(values, index=pd.bdate_range("2024-01-02", periods=len(values)))


def test_a_set_whose_account_fell_to_zero_before_the_fold_is_not_chosen():
    """Set 0's first fold takes its account from 1 to -0.5, then each further loss on that
    negative value is a positive return: its Sharpe is the highest, read from a wiped-out
    account. Set 1 lost a little and stayed above 0: it is chosen."""
    wiped = [_fold([0.01, -1.6, 0.5, 0.5, 0.5, 0.5, 0.5]), _fold([0.0] * 7)]
    modest = [_fold([0.001, -0.002, 0.001, -0.003, 0.001, 0.0, -0.001]), _fold([0.0] * 7)]
    assert sharpe_ratio(wiped[0]) > 0 > sharpe_ratio(modest[0])
    assert choose([wiped, modest], 1) == (
        (1,), pytest.approx(sharpe_ratio(modest[0]) * math.sqrt(252)))
    # every set fell to 0: none has a Sharpe, all share the fold (the tie rule), score n/a
    chosen, score = choose([wiped, wiped], 1)
    assert chosen == (0, 1) and math.isnan(score)


def test_the_performance_of_returns_that_fell_to_zero_has_no_annual_return_or_sharpe():
    figures = performance(_fold([0.01, -1.6, 0.2, 0.2]))
    assert figures["total_return"] == pytest.approx(1.01 * -0.6 * 1.2 * 1.2 - 1.0)
    assert math.isnan(figures["annual_return"]) and math.isnan(figures["sharpe"])
    back_above = performance(_fold([0.1, -1.2 / 1.1, -2.0]))  # 1.1, -0.1, then +0.1
    assert back_above["total_return"] == pytest.approx(-0.9)
    assert math.isfinite(back_above["annual_return"]) and math.isnan(back_above["sharpe"])


def test_pbo_ranks_a_set_last_in_every_half_that_holds_its_wiped_out_fold():
    """Four folds of three days, three sets. Set 2 fell below 0 in fold 0 (-150 %), then
    gained on a negative value (+90 % twice): read as returns, it has the best Sharpe in
    every half, and PBO is 0. Marked as fallen to 0, it is last in every half that holds
    fold 0: never the winner there, and the winner of the other halves ranks last out of
    sample, as does every other winner against its steady folds 1-3: PBO 1."""
    ours = [-0.010, 0.005, -0.002, -0.004, 0.003, -0.001, -0.006, 0.002, -0.001, -0.003,
            0.004, -0.002]
    other = [0.002, -0.008, 0.001, -0.002, -0.005, 0.003, 0.001, -0.004, -0.002, 0.002,
             -0.006, 0.001]
    wiped_out = [-1.5, 0.9, 0.9, 0.02, 0.021, 0.019, 0.02, 0.021, 0.019, 0.02, 0.021, 0.019]
    returns = np.column_stack([ours, other, wiped_out])
    fell = np.zeros_like(returns, dtype=bool)
    fell[0:3, 2] = True
    assert probability_of_overfitting(returns, [3, 3, 3, 3]).pbo == 0.0
    marked = probability_of_overfitting(returns, [3, 3, 3, 3], wiped=fell)
    assert marked.pbo == 1.0
    # the halves without fold 0 (the last three splits): set 2 wins and ranks 1 of 3 out
    # of sample, where fold 0 is
    assert marked.logits[-3:] == pytest.approx([math.log(0.25 / 0.75)] * 3)
