"""Features are causal, finite-window and bit-identical on any prefix or tail."""

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from models import features as features_module
from models.features import (
    LOOKBACK,
    BarWindow,
    available_groups,
    build_features,
    check_finite,
    groups_for,
)


@pytest.fixture(scope="module")
def bars(sample_market):
    return sample_market.bars("SPY", "2019-01-01", "2020-12-31")


def test_appending_bars_changes_no_earlier_value(bars):
    short, full = build_features(bars.iloc[:300]), build_features(bars)
    pd.testing.assert_frame_equal(short, full.iloc[:300])


def test_a_tail_of_lookback_bars_gives_the_same_last_row(bars):
    full = build_features(bars)
    for end in (LOOKBACK + 5, 250, len(bars)):
        tail = build_features(bars.iloc[end - LOOKBACK:end])
        np.testing.assert_array_equal(tail.iloc[-1].to_numpy(), full.iloc[end - 1].to_numpy())


@pytest.mark.parametrize("n", [1, 4, 10, 19])
def test_fewer_bars_than_the_longest_lag_are_all_warm_up(bars, n):
    """A frame shorter than a lag (20 bars for ret_20) is all warm-up, as its first rows
    are in a longer one: the lags raised a numpy broadcast ValueError, which premarket
    --end-date 2008-01-15 (10 sample bars) printed as a traceback."""
    short = build_features(bars.iloc[:n])
    assert len(short) == n and short.isna().all(axis=None)
    pd.testing.assert_frame_equal(short, build_features(bars).iloc[:n])


def test_warm_up_rows_are_nan_and_the_rest_finite(bars):
    f = build_features(bars)
    assert f.iloc[: LOOKBACK - 1].isna().all(axis=None)
    check_finite(f.iloc[LOOKBACK - 1:])


def test_groups_follow_the_columns_a_source_has(bars):
    assert available_groups(bars) == ("price", "volume", "options", "flow", "calendar")
    plain = bars[["open", "high", "low", "close", "volume"]]
    assert available_groups(plain) == ("price", "volume")
    assert groups_for(("ret_10", "put_call_ratio_10")) == ("price", "options")


def test_rsi_and_returns_follow_their_formulas(bars):
    f = build_features(bars)
    t = 200
    close = bars["close"].to_numpy()
    assert f["ret_5"].iloc[t] == pytest.approx(np.log(close[t] / close[t - 5]))
    ret = np.diff(np.log(close))[t - 14:t]
    gains, losses = np.maximum(ret, 0).mean(), np.maximum(-ret, 0).mean()
    assert f["rsi_14"].iloc[t] == pytest.approx(100 * gains / (gains + losses))


def test_bad_inputs_are_named(bars):
    broken = bars.copy()
    broken.iloc[150, broken.columns.get_loc("close")] = np.nan
    with pytest.raises(DataError, match="close is NaN"):
        build_features(broken)
    with pytest.raises(DataError, match="lack the columns"):
        build_features(bars[["open", "high", "low", "close"]], ("price", "volume"))
    f = build_features(bars)
    f.iloc[100, 3] = np.nan
    with pytest.raises(DataError, match=f"{f.columns[3]} is NaN"):
        check_finite(f.iloc[LOOKBACK - 1:])


def test_bar_window_arrays_hold_the_frames_numbers():
    """``BarWindow.arrays`` gives every column as floats, NaN where a bar lacks it (what
    ``frame()`` holds), and ``state``/``restore`` put the window back after a peek."""
    window = BarWindow(("close", "volume", "atm_iv"), size=3)
    days = pd.bdate_range("2024-03-08", periods=4)
    bars = [{"close": 10.0, "volume": 5}, {"close": 11.0, "atm_iv": 0.2},
            {"close": 12.0, "volume": 7, "atm_iv": 0.3}, {"close": 13.0, "volume": 8}]
    assert [window.append(day, bar) for day, bar in zip(days[:3], bars, strict=False)] == [
        False, False, True]
    arrays = window.arrays()
    np.testing.assert_array_equal(arrays["close"], [10.0, 11.0, 12.0])
    np.testing.assert_array_equal(arrays["volume"], [5.0, np.nan, 7.0])
    frame = window.frame()
    for column in frame:
        np.testing.assert_array_equal(arrays[column], frame[column].to_numpy())
    kept = window.state()
    window.append(days[3], bars[3])
    np.testing.assert_array_equal(window.arrays()["atm_iv"], [0.2, 0.3, np.nan])
    window.restore(kept)
    np.testing.assert_array_equal(window.arrays()["close"], [10.0, 11.0, 12.0])
    assert list(window.dates) == list(days[:3])


def test_newest_features_from_numpy_columns_equal_the_frames_last_row(bars):
    """What the streams compute per bar (``newest_features`` on the window's numpy columns)
    is ``build_features`` of the window's frame, last row, bit for bit; a window lacking a
    column is refused as ``build_features`` refuses it."""
    groups = available_groups(bars)
    window = BarWindow(features_module.INPUT_COLUMNS)
    checked = 0
    for i, (day, bar) in enumerate(bars.iterrows()):
        if window.append(day, bar) and (i % 37 == 0 or i == len(bars) - 1):
            frame = build_features(window.frame(), groups).iloc[-1]
            row = features_module.newest_features(window.arrays(), window.dates, groups)
            assert list(row) == list(frame.index)
            np.testing.assert_array_equal(np.array(list(row.values())), frame.to_numpy())
            checked += 1
    assert checked > 3
    plain = BarWindow(("open", "high", "low", "close"))
    for day, bar in bars.iloc[:LOOKBACK].iterrows():
        plain.append(day, bar)
    with pytest.raises(DataError, match="bars lack the columns volume") as from_frame:
        build_features(plain.frame(), ("price", "volume"))
    with pytest.raises(DataError) as from_columns:
        features_module.newest_features(plain.arrays(), plain.dates, ("price", "volume"))
    assert str(from_columns.value) == str(from_frame.value)


def test_check_finite_row_names_the_column_and_date_as_check_finite_does():
    day = pd.Timestamp("2024-11-04")
    frame = pd.DataFrame([[1.0, np.inf, np.nan]], index=[day], columns=["a", "b", "c"])
    with pytest.raises(DataError) as whole:
        check_finite(frame, "model features")
    with pytest.raises(DataError) as row:
        features_module.check_finite_row(frame.to_numpy()[0], frame.columns, day,
                                         "model features")
    assert str(row.value) == str(whole.value) == (
        "model features: b is NaN or infinite on 2024-11-04 (missing input data there?)")
    features_module.check_finite_row([1.0, 2.0], ["a", "b"], day)  # finite: nothing to say
