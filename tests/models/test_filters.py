"""The HFT-style filters: known answers, causality, batch == bar by bar, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from models.kalman import KalmanTrendFilter, kalman_trend
from models.regression_slope import RegressionSlopeFilter, regression_slope
from models.stat_arb import (
    ImpliedMoveDivergenceFilter,
    PairsSpreadFilter,
    implied_realized_divergence,
    pairs_spread,
)


def days(n: int) -> pd.DatetimeIndex:
    return pd.bdate_range("2020-01-01", periods=n)


@pytest.fixture(scope="module")
def spy(sample_market):
    return sample_market.bars("SPY", "2019-01-01", "2020-12-31")


@pytest.fixture(scope="module")
def qqq(sample_market):
    return sample_market.bars("QQQ", "2019-01-01", "2020-12-31")


# the four batch functions on the sample market, each with its filter class and inputs
def batches(spy, qqq):
    return {
        "kalman": (lambda b: kalman_trend(b["close"]),
                   lambda: KalmanTrendFilter(), lambda b: [b["close"]]),
        "kalman-window": (lambda b: kalman_trend(b["close"], window=30),
                          lambda: KalmanTrendFilter(window=30), lambda b: [b["close"]]),
        "regression": (lambda b: regression_slope(b["close"], 20),
                       lambda: RegressionSlopeFilter(20), lambda b: [b["close"]]),
        "divergence": (lambda b: implied_realized_divergence(b, 20, 60),
                       lambda: ImpliedMoveDivergenceFilter(20, 60),
                       lambda b: [b["close"], b["atm_iv"]]),
        "pairs": (lambda b: pairs_spread(b["close"], qqq["close"].loc[b.index], 60),
                  lambda: PairsSpreadFilter(60),
                  lambda b: [b["close"], qqq["close"].loc[b.index]]),
    }


NAMES = ["kalman", "kalman-window", "regression", "divergence", "pairs"]


@pytest.mark.parametrize("name", NAMES)
def test_batch_is_causal_appending_bars_changes_nothing(spy, qqq, name):
    batch = batches(spy, qqq)[name][0]
    full = batch(spy)
    for cut in (150, 301):
        short = batch(spy.iloc[:cut])
        pd.testing.assert_frame_equal(short, full.iloc[:cut], check_exact=True)
    assert full.iloc[100:].notna().all().all()


@pytest.mark.parametrize("name", NAMES)
def test_bar_by_bar_equals_batch_to_the_bit(spy, qqq, name):
    batch, make, inputs = batches(spy, qqq)[name]
    expected = batch(spy).to_numpy()
    stream = make()
    rows = [stream.update(*values) for values in zip(*(s.tolist() for s in inputs(spy)),
                                                     strict=True)]
    np.testing.assert_array_equal(np.array(rows), expected)


# Kalman trend

def test_kalman_slope_converges_to_the_slope_of_a_noise_free_log_price():
    slope = 0.0015
    close = pd.Series(100 * np.exp(slope * np.arange(300)), index=days(300))
    out = kalman_trend(close)
    assert out.iloc[0].isna().all() and out.iloc[1:].notna().all().all()
    assert abs(out["kalman_slope"].iloc[-1] - slope) < 1e-9
    np.testing.assert_allclose(out["kalman_trend"].iloc[-50:], close.iloc[-50:], rtol=1e-9)
    assert out["kalman_noise"].iloc[-1] < 1e-6


def test_kalman_noise_estimate_and_slope_under_known_noise():
    rng = np.random.default_rng(7)
    n, slope, sigma = 3000, 0.001, 0.01
    close = pd.Series(np.exp(4.0 + slope * np.arange(n) + rng.normal(0, sigma, n)))
    out = kalman_trend(close).iloc[200:]
    assert abs(out["kalman_noise"].mean() - sigma) < 0.15 * sigma
    assert abs(out["kalman_slope"].mean() - slope) < 1e-4
    # the trend is smoother than the price: its deviations from the true line are smaller
    true = np.exp(4.0 + slope * np.arange(n))[200:]
    assert np.std(np.log(out["kalman_trend"] / true)) < 0.5 * sigma


def test_kalman_a_constant_price_is_flat_and_finite():
    out = kalman_trend(pd.Series(50.0, index=days(40)))
    assert np.isfinite(out.iloc[1:].to_numpy()).all()
    assert (out["kalman_slope"].iloc[1:] == 0).all()
    np.testing.assert_allclose(out["kalman_trend"].iloc[1:], 50.0, rtol=1e-14)


def test_windowed_kalman_reads_only_its_window(spy):
    close = spy["close"]
    full = kalman_trend(close, window=30)
    assert full.iloc[:29].isna().all().all() and full.iloc[29:].notna().all().all()
    later = kalman_trend(close.iloc[200:], window=30)
    pd.testing.assert_frame_equal(later.iloc[29:], full.iloc[229:], check_exact=True)
    # and it is the plain filter run over those 30 bars
    pd.testing.assert_series_equal(full.iloc[250], kalman_trend(close.iloc[221:251]).iloc[-1],
                                   check_exact=True, check_names=False)


# regression slope

def test_regression_slope_of_a_line_is_its_slope_with_r2_one():
    slope = -0.002
    close = pd.Series(np.exp(3.0 + slope * np.arange(60)), index=days(60))
    out = regression_slope(close, 10)
    assert out.iloc[:9].isna().all().all()
    np.testing.assert_allclose(out["slope"].iloc[9:], slope, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["r2"].iloc[9:], 1.0, rtol=0, atol=1e-12)


def test_regression_slope_matches_least_squares_and_ignores_where_the_series_starts(spy):
    close = spy["close"]
    out = regression_slope(close, 15)
    logs = np.log(close.to_numpy())
    for t in (14, 100, 400):
        y = logs[t - 14:t + 1]
        fit, residuals = np.polyfit(np.arange(15), y, 1, full=True)[:2]
        assert out["slope"].iloc[t] == pytest.approx(fit[0], abs=1e-12)
        r2 = 1 - residuals[0] / np.sum((y - y.mean()) ** 2)
        assert out["r2"].iloc[t] == pytest.approx(r2, abs=1e-10)
    later = regression_slope(close.iloc[100:], 15)
    pd.testing.assert_frame_equal(later.iloc[14:], out.iloc[114:], check_exact=True)


# statistical arbitrage

def test_pairs_hedge_ratio_of_y_equal_two_x_plus_noise_is_two():
    rng = np.random.default_rng(3)
    n = 600
    x = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), index=days(n))
    y = 2.0 * x + 10.0 + rng.normal(0, 0.2, n)
    out = pairs_spread(y, x, 60)
    assert out.iloc[0].isna().all() and out["zscore"].iloc[:60].isna().all()
    assert out["zscore"].iloc[60:].notna().all()
    assert abs(out["hedge_ratio"].iloc[-200:].mean() - 2.0) < 0.03
    assert abs(out["hedge_ratio"].iloc[-1] - 2.0) < 0.02
    assert abs(out["intercept"].iloc[-1] - 10.0) < 2.5
    # the spread is the noise: about 0.2 wide, and its z-score about unit-wide
    assert 0.15 < out["spread"].iloc[100:].std() < 0.3
    assert 0.7 < out["zscore"].iloc[100:].std() < 1.3
    np.testing.assert_allclose(
        out["spread"], y - out["intercept"] - out["hedge_ratio"] * x, rtol=0, atol=1e-9)


def test_pairs_a_built_in_dislocation_gives_a_large_zscore():
    rng = np.random.default_rng(4)
    n = 300
    x = pd.Series(50 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), index=days(n))
    y = 1.5 * x + rng.normal(0, 0.1, n)
    y.iloc[250] += 2.0  # y jumps 20 noise widths away from 1.5 x for one bar
    out = pairs_spread(y, x, 60)
    assert out["zscore"].iloc[250] > 5
    assert out["zscore"].iloc[100:250].abs().max() < 4


def synthetic_option_bars(n: int, daily_vol: float, iv: np.ndarray, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, daily_vol, n)))
    return pd.DataFrame({"close": close, "atm_iv": iv}, index=days(n))


def test_divergence_known_values_and_a_built_in_divergence():
    n, vol = 300, 0.01
    iv = np.full(n, vol * math.sqrt(252))  # options price exactly the realized volatility
    iv[200:] = 0.40  # ... until they price 2.5 times more movement
    bars = synthetic_option_bars(n, vol, iv, seed=5)
    out = implied_realized_divergence(bars, horizon=20, window=60)
    np.testing.assert_allclose(out["implied_move"], iv * math.sqrt(20 / 252), rtol=1e-15)
    returns = np.diff(np.log(bars["close"].to_numpy()))
    assert out["realized_move"].iloc[150] == pytest.approx(
        math.sqrt(np.sum(returns[130:150] ** 2)), rel=1e-12)  # bars 131..150
    assert out["realized_move"].iloc[:20].isna().all() and out["zscore"].iloc[:79].isna().all()
    assert out["zscore"].iloc[79:].notna().all()
    assert out["zscore"].iloc[80:200].abs().max() < 3.5
    assert out["zscore"].iloc[200] > 5
    assert out["divergence"].iloc[200] == pytest.approx(
        out["implied_move"].iloc[200] - out["realized_move"].iloc[200], abs=1e-15)


def test_divergence_a_bar_without_iv_is_nan_and_the_rest_goes_on():
    n = 200
    iv = np.full(n, 0.2)
    iv[150] = np.nan
    bars = synthetic_option_bars(n, 0.012, iv, seed=6)
    out = implied_realized_divergence(bars, horizon=10, window=30)
    assert out["divergence"].isna().to_numpy().nonzero()[0].tolist() == list(range(10)) + [150]
    assert out["zscore"].iloc[150:180].isna().all() and out["zscore"].iloc[180:].notna().all()
    assert out["zscore"].iloc[39:150].notna().all()


# bad input

def bad_prices():
    close = pd.Series(np.linspace(100, 120, 100), index=days(100))
    nan, negative = close.copy(), close.copy()
    nan.iloc[30] = np.nan
    negative.iloc[40] = -1.0
    return close, nan, negative


@pytest.mark.parametrize("fn", [kalman_trend, lambda s: regression_slope(s, 10)],
                         ids=["kalman", "regression"])
def test_nan_or_negative_prices_are_refused_with_the_date(fn):
    _, nan, negative = bad_prices()
    with pytest.raises(DataError, match="2020-02-12"):
        fn(nan)
    with pytest.raises(DataError, match="2020-02-26"):
        fn(negative)


def test_stat_arb_bad_input_is_refused():
    close, nan, _ = bad_prices()
    with pytest.raises(DataError, match=r"pairs_spread \(x\).*2020-02-12"):
        pairs_spread(close, nan, 20)
    with pytest.raises(DataError, match="same index"):
        pairs_spread(close, close.iloc[1:], 20)
    with pytest.raises(DataError, match="atm_iv"):
        implied_realized_divergence(close.to_frame("close"))
    no_iv = pd.DataFrame({"close": close, "atm_iv": np.nan})
    with pytest.raises(DataError, match="no value"):
        implied_realized_divergence(no_iv, 10, 20)
    negative_iv = pd.DataFrame({"close": close, "atm_iv": 0.2})
    negative_iv.iloc[50, 1] = -0.1
    with pytest.raises(DataError, match="negative") as refused:
        implied_realized_divergence(negative_iv, 10, 20)
    # the date alone, as the prices' refusals name it (it read '2020-03-11 00:00:00')
    assert str(refused.value).endswith(f"on {close.index[50]:%Y-%m-%d}")
    with pytest.raises(DataError, match="close.*2020-02-12"):
        implied_realized_divergence(pd.DataFrame({"close": nan, "atm_iv": 0.2}), 10, 20)


def test_series_shorter_than_the_window_is_refused():
    close = pd.Series(np.linspace(100, 101, 15), index=days(15))
    with pytest.raises(DataError, match="at least 20 bars, got 15"):
        regression_slope(close, 20)
    with pytest.raises(DataError, match="at least 61 bars"):
        pairs_spread(close, close, 60)
    with pytest.raises(DataError, match="at least 80 bars"):
        implied_realized_divergence(pd.DataFrame({"close": close, "atm_iv": 0.2}))
    with pytest.raises(DataError, match="at least 2 bars"):
        kalman_trend(close.iloc[:1])


@pytest.mark.parametrize("make", [
    lambda: RegressionSlopeFilter(1), lambda: RegressionSlopeFilter(2.5),
    lambda: PairsSpreadFilter(window=1), lambda: ImpliedMoveDivergenceFilter(window=1),
    lambda: ImpliedMoveDivergenceFilter(horizon=0), lambda: KalmanTrendFilter(noise_span=0),
    lambda: KalmanTrendFilter(slope_ratio=-1), lambda: PairsSpreadFilter(beta_ratio=np.nan),
    lambda: KalmanTrendFilter(window=1),
], ids=["window-1", "window-float", "pairs-window", "z-window", "horizon", "span", "ratio",
        "nan-ratio", "kalman-window"])
def test_bad_parameters_are_a_value_error(make):
    with pytest.raises(ValueError, match="must be"):
        make()


def test_bar_by_bar_filters_refuse_a_nan_price():
    for stream, args in ((KalmanTrendFilter(), (math.nan,)),
                         (RegressionSlopeFilter(5), (0.0,)),
                         (PairsSpreadFilter(5), (10.0, math.inf)),
                         (ImpliedMoveDivergenceFilter(5, 5), (math.nan, 0.2))):
        with pytest.raises(DataError, match="not a positive finite number"):
            stream.update(*args)


def test_windowed_kalman_of_a_few_windows_is_the_vectorised_rows_to_the_bit(spy):
    """A stream's newest row (one window) and any count below ``FEW_WINDOWS`` run the
    scalar filter per window; the rows are the vectorised path's, bit for bit."""
    from models.kalman import FEW_WINDOWS

    close = spy["close"].iloc[:300]
    full = kalman_trend(close, window=80)  # 221 windows: the vectorised path
    for windows in (1, 2, FEW_WINDOWS - 1, FEW_WINDOWS):
        tail = close.iloc[len(close) - 79 - windows:]
        few = kalman_trend(tail, window=80)
        assert few.iloc[:79].isna().all().all()
        pd.testing.assert_frame_equal(few.iloc[79:], full.iloc[-windows:], check_exact=True)


@pytest.mark.parametrize("window", [2, 5, 20])
def test_regression_slope_of_every_window_at_once_is_the_filters_to_the_bit(spy, window):
    """``regression_slope_values`` (all windows at once, ``math.fsum`` per window) gives
    the bar-by-bar filter's rows byte for byte, also where a window is flat (r2 0), nearly
    flat, and for a series shorter than the window."""
    from models.kalman import run_filter
    from models.regression_slope import regression_slope_values

    rng = np.random.default_rng(5)
    flat_then_noise = np.r_[np.full(30, 5.0), 5.0 * np.exp(np.cumsum(rng.normal(0, 1e-9, 40)))]
    for close in (spy["close"].to_numpy()[:600], flat_then_noise, np.array([3.0])):
        ours = regression_slope_values(close, window)
        bar_by_bar = run_filter(RegressionSlopeFilter(window), [close])
        assert ours.tobytes() == bar_by_bar.tobytes()
    assert (regression_slope_values(flat_then_noise, window)[window - 1:30, 1] == 0.0).all()
