"""The figures of a backtest recomputed with numpy from its own daily returns.

A window's first session is its starting point: the strategy first decides at that close
(buy & hold is bought there too), so its row in the returns is 0 by construction (the
period before it is warm-up) and not a day of the strategy. Every figure is computed from
the daily returns after it: ``sessions - 1`` of them, annualised with 252 a year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyzers.trades import TRADE_COLUMNS
from engine.backtest import BacktestSettings, performance_metrics, run_symbol

CASH = 100_000.0
NO_TRADES = pd.DataFrame(columns=list(TRADE_COLUMNS))


def _metrics(daily, start="2023-01-03"):
    """The metrics of a window whose first close is followed by ``daily`` returns."""
    daily = np.asarray(daily, dtype=float)
    returns = pd.Series(np.r_[0.0, daily], index=pd.bdate_range(start, periods=len(daily) + 1))
    final = CASH * float(np.prod(1.0 + daily))
    return performance_metrics(returns, returns * 0.0, NO_TRADES, final, CASH)


def _by_hand(daily) -> dict:
    daily = np.asarray(daily, dtype=float)
    sd = daily.std(ddof=1)
    downside = np.sqrt(np.mean(np.minimum(daily, 0.0) ** 2)) * np.sqrt(252)
    value = np.r_[1.0, np.cumprod(1.0 + daily)]  # the starting value is a peak too
    return {"total_return": value[-1] - 1.0,
            "annual_return": value[-1] ** (252 / len(daily)) - 1.0,
            "annual_volatility": sd * np.sqrt(252),
            "sharpe": daily.mean() / sd * np.sqrt(252),
            "sortino": daily.mean() * 252 / downside,
            "max_drawdown": (value / np.maximum.accumulate(value) - 1.0).min()}


def test_two_years_of_daily_returns_are_annualised_over_their_504_days_not_505_sessions():
    """504 daily returns of g after the first close: (1 + g) ** 252 - 1 a year exactly
    (counting the first session as a day gave 2.305 % where 2.309 % is right)."""
    g = 0.0000906
    metrics = _metrics([g] * 504)
    assert metrics["sessions"] == 505
    assert metrics["annual_return"] == pytest.approx((1 + g) ** 252 - 1, rel=1e-12)
    assert f"{metrics['annual_return']:.3%}" == "2.309%"


def test_volatility_sharpe_sortino_and_drawdown_are_those_of_the_daily_returns():
    rng = np.random.default_rng(7)
    daily = rng.normal(0.0004, 0.01, 250)
    daily[0] = -0.02  # a loss on the first day: the drawdown counts from the starting value
    metrics = _metrics(daily)
    for name, value in _by_hand(daily).items():
        assert metrics[name] == pytest.approx(value, rel=1e-9), name


def test_one_daily_return_has_no_volatility_sharpe_or_sortino():
    """Two sessions are one daily return: no spread to divide by. The first session's 0
    made every such Sharpe +-11.22 (and every Sortino -15.87) whatever the return."""
    for r in (-0.0004, 0.003):
        metrics = _metrics([r])
        assert metrics["total_return"] == pytest.approx(r)
        assert metrics["annual_return"] == pytest.approx((1 + r) ** 252 - 1, rel=1e-12)
        assert metrics["annual_volatility"] is None
        assert metrics["sharpe"] is None and metrics["sortino"] is None


def test_a_runs_figures_recompute_from_its_returns_and_agree_with_pyfolio(sample_market,
                                                                          tmp_path):
    """A real run: the summary's figures from its returns by hand, and pyfolio's
    performance.csv (written from what the tear sheets are given) says the same."""
    from analyzers.report import write_tearsheets

    settings = BacktestSettings(start=pd.Timestamp("2023-01-03"), end=pd.Timestamp("2023-12-29"),
                                progress=False, record_lines=False)
    result = run_symbol(sample_market, "SPY", settings)
    m = result.metrics
    assert result.returns.iloc[0] == 0.0 and m["sessions"] == len(result.returns)
    daily = result.returns.to_numpy()[1:]
    assert m["total_return"] == pytest.approx(np.prod(1 + daily) - 1, abs=1e-12)
    for name, value in _by_hand(daily).items():
        assert m[name] == pytest.approx(value, rel=1e-9), name
    write_tearsheets(result, tmp_path, sheets=())
    perf = pd.read_csv(tmp_path / "performance.csv", index_col=0)["value"]
    for row, name in (("Annual return", "annual_return"), ("Cumulative returns", "total_return"),
                      ("Annual volatility", "annual_volatility"), ("Sharpe ratio", "sharpe"),
                      ("Sortino ratio", "sortino"), ("Max drawdown", "max_drawdown")):
        assert perf[row] == pytest.approx(m[name], rel=1e-9), row


def test_pyfolio_sees_the_daily_returns_from_the_second_session_at_utc_midnight(sample_market):
    """A window starting on 2023's last session: pyfolio gets no one-day 2023 (a 0 % year
    in its annual-returns chart and its mean, a 0 % month in its heat map), and the
    positions on the same sessions; every fill comes after the first close."""
    from analyzers.report import pyfolio_inputs

    settings = BacktestSettings(start=pd.Timestamp("2023-12-29"), end=pd.Timestamp("2024-06-28"),
                                strategy="credit-spread", progress=False, record_lines=False)
    result = run_symbol(sample_market, "SPY", settings)
    assert result.metrics["start"] == "2023-12-29" and len(result.transactions)
    returns, benchmark, positions, transactions = pyfolio_inputs(result)
    assert str(returns.index.tz) == "UTC" and (returns.index == returns.index.normalize()).all()
    assert returns.index[0] == pd.Timestamp("2024-01-02", tz="UTC")
    assert returns.index.year.min() == 2024
    assert returns.to_numpy() == pytest.approx(result.returns.to_numpy()[1:])
    assert benchmark.index.equals(returns.index) and positions.index.equals(returns.index)
    assert transactions.index.min() > pd.Timestamp("2023-12-29 21:00", tz="UTC")
