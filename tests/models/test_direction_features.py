"""Direction features: causal, bit-identical on a tail, right on hand-made candles, and the
groups follow the columns a source has."""

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from models.direction_features import (
    GROUPS,
    available_groups,
    candlestick_features,
    direction_features,
    feature_names,
    input_columns,
)
from models.features import LOOKBACK, check_finite


@pytest.fixture(scope="module")
def bars(sample_market):
    return sample_market.bars("SPY", "2020-01-01", "2020-12-31")


def test_appending_bars_changes_no_earlier_value(bars):
    full = direction_features(bars)
    pd.testing.assert_frame_equal(direction_features(bars.iloc[:150]), full.iloc[:150])


@pytest.mark.parametrize("n", [1, 4, 10, 19])
def test_fewer_bars_than_the_longest_lag_are_the_longer_frames_first_rows(bars, n):
    """A frame shorter than a lag gives the longer frame's first rows (a numpy broadcast
    ValueError before)."""
    pd.testing.assert_frame_equal(direction_features(bars.iloc[:n]),
                                  direction_features(bars).iloc[:n])


def test_a_tail_of_lookback_bars_gives_the_same_row(bars):
    full = direction_features(bars)
    for end in (LOOKBACK, 170, len(bars)):
        tail = direction_features(bars.iloc[end - LOOKBACK:end])
        np.testing.assert_array_equal(tail.iloc[-1].to_numpy(), full.iloc[end - 1].to_numpy())
        # a stream computes only that newest row (from_row): the same numbers, bit for bit
        newest = direction_features(bars.iloc[end - LOOKBACK:end], from_row=LOOKBACK - 1)
        np.testing.assert_array_equal(newest.iloc[-1].to_numpy(),
                                      full.iloc[end - 1].to_numpy())


def test_rows_from_from_row_on_are_the_full_frames(bars):
    full = direction_features(bars)
    for start in (0, 100, len(bars) - 1):
        part = direction_features(bars, from_row=start)
        pd.testing.assert_frame_equal(part.iloc[start:], full.iloc[start:], check_exact=True)
    assert part["kalman_slope"].iloc[: len(bars) - 70].isna().all()  # skipped, not computed


def test_warm_up_is_nan_then_every_feature_is_finite(bars):
    full = direction_features(bars)
    assert full.iloc[: LOOKBACK - 1].isna().all(axis=None)
    check_finite(full.iloc[LOOKBACK - 1:])
    assert tuple(full.columns) == feature_names(available_groups(bars))


def test_a_volume_of_zeros_on_every_bar_is_no_volume(bars):
    """FX files and old index exports write volume 0: the volume features would divide by
    its zero mean, so the group is left out (both feature sets); a few zero days are data."""
    from models.features import available_groups as seed_groups

    plain = bars[["open", "high", "low", "close", "volume"]]
    silent = plain.assign(volume=0.0)
    assert available_groups(silent) == ("price", "filters")
    assert "volume" not in seed_groups(silent)
    check_finite(direction_features(silent).iloc[LOOKBACK - 1:])
    with pytest.raises(DataError, match="'volume' needs the bar columns volume"):
        available_groups(silent, ("price", "volume"))
    some = plain.copy()
    some.iloc[100:105, some.columns.get_loc("volume")] = 0.0
    assert available_groups(some) == ("price", "volume", "filters")


def test_groups_follow_the_columns(bars):
    assert available_groups(bars) == ("price", "volume", "flow", "volume_oi", "premium",
                                      "dark_pool", "filters", "iv", "iv_skew")
    plain = bars[["open", "high", "low", "close", "volume"]]
    assert available_groups(plain) == ("price", "volume", "filters")
    no_dark_pool = bars.drop(columns="dark_pool_ratio")
    assert "dark_pool" not in available_groups(no_dark_pool)
    assert not set(GROUPS["dark_pool"]) & set(direction_features(no_dark_pool).columns)
    with pytest.raises(DataError, match="block_trade_ratio"):
        available_groups(bars, ("price", "block"))
    with_block = bars.assign(block_trade_ratio=0.2)
    assert "block" in available_groups(with_block, ("price", "block"))
    assert "block" not in available_groups(with_block)  # opt-in only
    assert input_columns(("price", "dark_pool")) == ("open", "high", "low", "close",
                                                     "dark_pool_ratio", "volume")


def test_indicator_values_match_an_independent_computation(bars):
    f = direction_features(bars)
    c, lo, hi = bars["close"], bars["low"], bars["high"]
    k = 100 * (c - lo.rolling(14).min()) / (hi.rolling(14).max() - lo.rolling(14).min())
    mid, sd = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
    percent_b = (c - (mid - 2 * sd)) / (4 * sd)
    put_share = bars["put_premium"] / (bars["put_premium"] + bars["call_premium"])
    rows = slice(LOOKBACK - 1, None)
    np.testing.assert_allclose(f["stoch_k"][rows], k[rows], rtol=1e-9)
    np.testing.assert_allclose(f["bb_percent_b"][rows], percent_b[rows], rtol=1e-9)
    np.testing.assert_allclose(f["put_premium_share"][rows], put_share[rows], rtol=1e-12)
    vol_oi = (bars["call_volume"] + bars["put_volume"]) / bars["open_interest"]
    np.testing.assert_allclose(f["volume_oi_ratio"][rows], vol_oi[rows], rtol=1e-12)


def test_candlestick_flags_on_hand_made_bars():
    #            open   high   low    close
    candles = [(10.0, 10.2, 9.0, 9.2),    # 0 big down bar
               (9.1, 10.5, 9.0, 10.4),    # 1 up bar engulfing bar 0: bullish engulfing
               (9.9, 10.05, 9.0, 10.04),   # 2 long lower shadow: hammer
               (10.0, 11.0, 9.98, 9.99),   # 3 long upper shadow, tiny body: star and doji
               (10.0, 10.1, 9.5, 9.6),     # 4 plain down bar
               (9.5, 10.3, 9.4, 9.55)]     # 5 neither engulfs: body 9.5..9.55 inside 9.6..10
    o, h, lo, c = (np.array(x) for x in zip(*candles, strict=True))
    f = candlestick_features(o, h, lo, c)
    assert f["bullish_engulfing"].tolist() == [0, 1, 0, 0, 0, 0]
    assert f["bearish_engulfing"].tolist() == [0, 0, 0, 0, 0, 0]
    assert f["hammer"].tolist() == [0, 0, 1, 0, 0, 0]
    assert f["shooting_star"].tolist() == [0, 0, 0, 1, 0, 0]
    assert f["doji"].tolist() == [0, 0, 0, 1, 0, 1]
    bear = candlestick_features([9.0, 10.6], [10.1, 10.7], [8.9, 8.8], [10.0, 8.9])
    assert bear["bearish_engulfing"].tolist() == [0, 1]
    assert f["candle_body"][0] == pytest.approx(-0.8 / 1.2)
    assert f["upper_shadow"][0] + f["lower_shadow"][0] + abs(f["candle_body"][0]) == \
        pytest.approx(1.0)


def test_bad_closes_are_data_errors(bars):
    holed = bars.copy()
    holed.iloc[30, holed.columns.get_loc("close")] = np.nan
    with pytest.raises(DataError, match="close is NaN"):
        direction_features(holed)
    with pytest.raises(DataError, match="lack the columns"):
        direction_features(bars.drop(columns="put_premium"), ("price", "premium"))


def test_implied_volatility_features_when_the_source_has_them(bars):
    f = direction_features(bars)
    c = bars["close"]
    realized = np.log(c).diff().rolling(20).std() * np.sqrt(252)
    iv = bars["atm_iv"]
    rows = slice(LOOKBACK - 1, None)
    np.testing.assert_allclose(f["iv_minus_rv"][rows], (iv - realized)[rows], rtol=1e-9)
    np.testing.assert_allclose(f["iv_change_5"][rows], np.log(iv / iv.shift(5))[rows],
                               rtol=1e-9)
    z = (iv - iv.rolling(60).mean()) / iv.rolling(60).std()
    np.testing.assert_allclose(f["iv_z60"][rows], z[rows], rtol=1e-9)
    np.testing.assert_allclose(f["iv_skew"][rows], (bars["put_iv"] - bars["call_iv"])[rows])


def test_without_implied_volatility_the_features_are_skipped_not_filled(bars):
    no_iv = bars.drop(columns=["atm_iv", "call_iv", "put_iv"])
    assert not {"iv", "iv_skew"} & set(available_groups(no_iv))
    assert not set(GROUPS["iv"] + GROUPS["iv_skew"]) & set(direction_features(no_iv).columns)
    empty_iv = bars.assign(atm_iv=np.nan)  # a column of NaN is no data either
    assert "iv" not in available_groups(empty_iv)
    with pytest.raises(DataError, match="atm_iv"):
        available_groups(no_iv, ("price", "iv"))


def test_a_zero_volume_day_is_left_out_of_price_impact_not_fatal(bars):
    """Real vendor data has zero-volume days (bundled NASDAQ: 2015-05-12, 2018-01-09): the
    20-bar price impact averages the other bars of its window instead of turning 20 rows
    into NaN (which refused the whole direction model)."""
    gap = bars.index[200]
    holed = bars.copy()
    holed.loc[gap, "volume"] = 0.0
    clean, with_gap = direction_features(bars), direction_features(holed)
    check_finite(with_gap.iloc[LOOKBACK - 1:], "direction features")
    at = bars.index.get_loc(gap)
    impact = with_gap["price_impact"]
    pd.testing.assert_series_equal(impact.iloc[:at], clean["price_impact"].iloc[:at])
    pd.testing.assert_series_equal(impact.iloc[at + 20:], clean["price_impact"].iloc[at + 20:])
    assert (impact.iloc[at:at + 20] != clean["price_impact"].iloc[at:at + 20]).all()
