"""Triple-barrier labels on hand-made price paths, and the purge + embargo of samples."""

import numpy as np
import pandas as pd
import pytest

from models.folds import known_before, purge_and_embargo
from models.triple_barrier import (
    BUY,
    NEUTRAL,
    SELL,
    trailing_volatility,
    triple_barrier_labels,
)


def path(log_returns) -> pd.Series:
    index = pd.bdate_range("2024-01-01", periods=len(log_returns) + 1)
    return pd.Series(100.0 * np.exp(np.concatenate([[0.0], np.cumsum(log_returns)])),
                     index=index)


def labels(close, horizon=4):
    # barrier = 1 x 1% x sqrt(4) = 2% either way
    return triple_barrier_labels(close, horizon=horizon, volatility=np.full(len(close), 0.01))


def test_upper_barrier_hit_first_is_buy_known_at_the_touch():
    close = path([0.005, 0.01, 0.01, -0.05, 0.0, 0.0, 0.0, 0.0])
    out = labels(close)
    assert out["label"].iloc[0] == BUY and out["touch"].iloc[0] == 1
    assert out["label_end"].iloc[0] == close.index[3]  # +0.5%, +1.5%, +2.5%: third close
    assert out["end_row"].iloc[0] == 3
    assert out["ret"].iloc[0] == pytest.approx(0.025)


def test_lower_barrier_hit_first_is_sell():
    close = path([-0.01, 0.005, -0.02, 0.05, 0.0, 0.0, 0.0])
    out = labels(close)
    assert out["label"].iloc[0] == SELL and out["touch"].iloc[0] == -1
    assert out["label_end"].iloc[0] == close.index[3]  # -1%, -0.5%, -2.5%


def test_no_barrier_within_the_horizon_is_neutral_at_the_time_barrier():
    close = path([0.01, -0.01, 0.015, -0.005, 0.05, 0.0])
    out = labels(close)
    assert out["label"].iloc[0] == NEUTRAL and out["touch"].iloc[0] == 0
    assert out["label_end"].iloc[0] == close.index[4]  # t + horizon; the jump after is ignored


def test_labels_the_data_cannot_settle_yet_are_unknown():
    flat = labels(path([0.001] * 12))  # 13 closes: rows 0..8 reach their time barrier
    assert flat["label"].iloc[:9].eq(NEUTRAL).all()
    assert flat["label"].iloc[9:].isna().all() and flat["end_row"].iloc[9:].eq(-1).all()
    assert flat["label_end"].iloc[9:].isna().all()
    jump = labels(path([0.001] * 11 + [0.05]))  # the last close settles rows 9..11 early
    assert jump["label"].iloc[9:12].eq(BUY).all() and jump["end_row"].iloc[9:12].eq(12).all()
    assert np.isnan(jump["label"].iloc[-1])
    # a label never changes when bars are appended: it reads nothing past label_end
    longer = labels(path([0.001] * 11 + [0.05] + [-0.1] * 5))
    known = jump["label"].notna()
    pd.testing.assert_series_equal(longer["label"].iloc[: len(jump)][known],
                                   jump["label"][known])


def test_barriers_scale_with_trailing_volatility_only():
    rng = np.random.default_rng(3)
    close = path(rng.normal(0.0, 0.01, 120))
    out = triple_barrier_labels(close, horizon=10, profit_take=2.0, stop_loss=1.0,
                                volatility_window=20)
    sigma = trailing_volatility(close, 20)
    assert np.isnan(sigma[:20]).all() and out["label"].iloc[:20].isna().all()
    np.testing.assert_allclose(out["upper"], 2.0 * sigma * np.sqrt(10))
    np.testing.assert_allclose(out["lower"], -1.0 * sigma * np.sqrt(10))
    changed = close.copy()
    changed.iloc[60:] *= 1.3  # the future moves; sigma up to bar 59 stays
    np.testing.assert_array_equal(trailing_volatility(changed, 20)[:60], sigma[:60])


def test_purge_and_embargo_removes_exactly_the_overlapping_samples():
    rows = np.arange(20)
    end_rows = rows + 3  # every label reads 3 bars ahead
    end_rows[17:] = -1  # the last ones are not known
    keep = purge_and_embargo(rows, end_rows, test_lo=10, test_hi=12, embargo=2)
    # before the block: label must end before row 10 - 2 = 8 -> rows 0..4 (ends 3..7)
    # after the block: start after row 12 + 2 = 14 -> rows 15, 16 (17.. unknown)
    assert np.flatnonzero(keep).tolist() == [0, 1, 2, 3, 4, 15, 16]
    no_embargo = purge_and_embargo(rows, end_rows, 10, 12, 0)
    assert np.flatnonzero(no_embargo).tolist() == [0, 1, 2, 3, 4, 5, 6, 13, 14, 15, 16]
    # only the samples before the block, on the same rule
    before = known_before(rows, end_rows, test_lo=10, embargo=2)
    assert np.flatnonzero(before).tolist() == [0, 1, 2, 3, 4]
