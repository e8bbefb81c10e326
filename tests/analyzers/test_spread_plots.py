"""The credit-spread picture (``spreads.png``): its series counted by hand, and the report
of a credit-spread run draws it (an equity run's does not)."""

from __future__ import annotations

import datetime as dt

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analyzers.spread_plots import (  # noqa: E402
    account_value,
    align_zero,
    capital_at_risk,
    capital_at_risk_by_underlying,
    exit_label,
    open_spreads_by_kind,
)

SESSIONS = pd.DatetimeIndex(pd.bdate_range("2024-03-04", periods=6))  # Mon 4 .. Mon 11


def _spreads() -> pd.DataFrame:
    day = dt.date
    return pd.DataFrame({
        "underlying": ["SPY", "QQQ", "SPY"],
        "kind": ["put_credit", "call_credit", "put_credit"],
        "status": ["closed", "closed", "open"],
        "entry_date": [day(2024, 3, 4), day(2024, 3, 5), day(2024, 3, 7)],
        "exit_date": [day(2024, 3, 6), day(2024, 3, 8), None],
        "max_loss": [400.0, 300.0, 1000.0],
        "tag": ["profit_take", "", ""], "exit_reason": ["close", "expiry", None],
        "pnl": [50.0, -20.0, float("nan")]})


def test_capital_at_risk_sums_the_open_spreads_max_loss_at_each_close():
    """Open from the entry session to the session before the exit; open to the end."""
    risk = capital_at_risk(_spreads(), SESSIONS)
    assert risk.tolist() == [400.0, 700.0, 300.0, 1300.0, 1000.0, 1000.0]
    assert capital_at_risk(_spreads().iloc[:0], SESSIONS).eq(0).all()


def test_a_portfolios_capital_at_risk_splits_by_underlying_and_adds_up():
    split = capital_at_risk_by_underlying(_spreads(), SESSIONS)
    assert split["SPY"].tolist() == [400.0, 400.0, 0.0, 1000.0, 1000.0, 1000.0]
    assert split["QQQ"].tolist() == [0.0, 300.0, 300.0, 300.0, 0.0, 0.0]
    assert split.sum(axis=1).tolist() == capital_at_risk(_spreads(), SESSIONS).tolist()


def test_the_running_totals_zero_sits_on_the_bars_zero():
    import matplotlib.pyplot as plt

    fig, left = plt.subplots()
    right = left.twinx()
    left.set_ylim(-1000, 1000)
    right.set_ylim(-12_000, 24_000)
    align_zero(left, right)
    (a, b), (c, d) = left.get_ylim(), right.get_ylim()
    assert -a / (b - a) == pytest.approx(-c / (d - c))
    assert (a, b) == (-1000, 1000) and d == 24_000 and c == pytest.approx(-24_000)
    plt.close(fig)


def test_open_spreads_are_counted_by_kind():
    counts = open_spreads_by_kind(_spreads(), SESSIONS)
    assert counts["put_credit"].tolist() == [1, 1, 0, 1, 1, 1]
    assert counts["call_credit"].tolist() == [0, 1, 1, 1, 0, 0]


def test_the_account_value_ends_at_the_final_value_and_follows_the_returns():
    returns = pd.Series([0.0, 0.1, -0.5], index=SESSIONS[:3])
    value = account_value(returns, 55_000.0)
    assert value.tolist() == pytest.approx([100_000.0, 110_000.0, 55_000.0])


def test_exits_are_named_by_the_strategy_tag_else_the_brokers_reason():
    labels = [exit_label(row) for _, row in _spreads().iterrows()]
    assert labels == ["profit_take", "expiry", "open"]


def test_a_credit_spread_report_draws_the_spread_picture_and_links_it(sample_market, tmp_path):
    from analyzers import report
    from engine.backtest import BacktestSettings, realized_direction, run_symbol

    window = dict(start=pd.Timestamp("2024-01-02"), end=pd.Timestamp("2024-06-28"),
                  progress=False, record_lines=False)
    results = [run_symbol(sample_market, "SPY", BacktestSettings(strategy=strategy, **window))
               for strategy in ("credit-spread", "equity")]
    assert len(results[0].spreads) > 0
    for result, name in zip(results, ("spreads", "shares"), strict=True):
        folder = tmp_path / name
        report.write_report(folder, [result], "summary\n", {"command": "backtest"},
                            lambda r: realized_direction(sample_market.bars(r.symbol)["close"]),
                            workers=1)
        picture = folder / "SPY" / "spreads.png"
        page = (folder / "index.html").read_text()
        if len(result.spreads.columns):
            assert picture.stat().st_size > 10_000
            assert "SPY/spreads.png" in page
        else:
            assert not picture.exists() and "spreads.png" not in page


def test_a_run_that_opened_no_spread_draws_its_picture_without_a_warning(tmp_path):
    """No spread at all (a signal that never calls): the picture is drawn, and matplotlib's
    'No artists with labels' warning (a legend of nothing) no longer reaches the user."""
    import warnings
    from types import SimpleNamespace

    from analyzers.spread_plots import plot_spreads

    result = SimpleNamespace(symbol="SPY", spreads=_spreads().iloc[0:0],
                             returns=pd.Series(0.0, index=SESSIONS),
                             metrics={"final_value": 100_000.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = plot_spreads(result, tmp_path / "spreads.png")
    assert path.stat().st_size > 0
