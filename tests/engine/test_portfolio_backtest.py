"""Portfolio backtests: several symbols in one account (``engine.portfolio``).

Expectations come from the runs themselves (the sample world may change): the symbols'
P&L must add up to the account's on every session, a one-symbol portfolio must be the
per-symbol backtest, and the portfolio risk cap must hold on every entry.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from core.errors import DataError
from engine.backtest import BacktestSettings, run_symbol
from engine.portfolio import PORTFOLIO, run_portfolio
from engine.portfolio_summary import format_portfolio_summary
from strategies import CreditSpreadConfig

SETTINGS = BacktestSettings(start=pd.Timestamp("2023-01-03"), end=pd.Timestamp("2023-09-29"),
                            strategy="credit-spread", progress=False)


@pytest.fixture(scope="module")
def spread_run(sample_market):
    return run_portfolio(sample_market, ["SPY", "QQQ"], SETTINGS)


def account_values(result) -> pd.Series:
    """The account's value per session: its holdings (shares, option legs, cash) summed."""
    values = result.positions.sum(axis=1)
    return pd.Series(values.to_numpy(), index=values.index.tz_localize(None))


def test_symbols_pnl_adds_up_to_the_account_on_every_session(spread_run):
    pnl = spread_run.pnl
    assert list(pnl.columns) == ["SPY", "QQQ"]
    values = account_values(spread_run).reindex(pnl.index)
    assert (pnl.sum(axis=1) + SETTINGS.cash - values).abs().max() < 0.01
    assert spread_run.metrics["final_value"] == pytest.approx(
        SETTINGS.cash + pnl.iloc[-1].sum(), abs=0.01)
    # both symbols traded spreads in the one account, so both carry P&L
    assert set(spread_run.spreads["underlying"]) == {"SPY", "QQQ"}
    assert (pnl.iloc[-1].abs() > 0).all()
    attribution = spread_run.attribution
    assert attribution["contribution"].sum() == pytest.approx(
        spread_run.metrics["total_return"], abs=1e-9)
    by_symbol = spread_run.spreads.groupby("underlying")["pnl"].sum()
    assert attribution["pnl"].to_dict() == pytest.approx(by_symbol.to_dict(), abs=0.01)


def test_positions_and_transactions_hold_every_option_leg(spread_run):
    legs = set(spread_run.spreads["short_leg"]) | set(spread_run.spreads["long_leg"])
    assert legs <= set(spread_run.transactions["symbol"])
    held = set(spread_run.positions.columns) - {"cash"}
    assert held == legs  # every leg was held on some session, and nothing else was
    assert {leg[:3] for leg in legs} == {"SPY", "QQQ"}


def test_correlation_of_daily_pnl_is_symmetric_with_unit_diagonal(spread_run):
    corr = spread_run.correlation
    assert list(corr.index) == list(corr.columns) == ["SPY", "QQQ"]
    assert corr.loc["SPY", "SPY"] == pytest.approx(1.0)
    assert corr.loc["SPY", "QQQ"] == pytest.approx(corr.loc["QQQ", "SPY"])
    # each session's P&L after the first close, the window's starting point (the first
    # session's own 0 is not a day of trading, as in the account's figures)
    pnl = spread_run.pnl
    assert (pnl.iloc[0] == 0.0).all()
    daily = pnl.diff().iloc[1:]
    assert corr.loc["SPY", "QQQ"] == pytest.approx(daily["SPY"].corr(daily["QQQ"]), abs=1e-12)


@pytest.mark.parametrize("strategy", ["credit-spread", "equity"])
def test_one_symbol_portfolio_is_the_per_symbol_backtest(sample_market, strategy):
    settings = replace(SETTINGS, strategy=strategy, record_lines=False)
    alone = run_symbol(sample_market, "IWM", settings)
    portfolio = run_portfolio(sample_market, ["IWM"], settings)
    assert portfolio.metrics["final_value"] == pytest.approx(alone.metrics["final_value"],
                                                             abs=1e-6)
    assert portfolio.metrics["trades"] == alone.metrics["trades"] > 0
    assert portfolio.attribution.loc["IWM", "contribution"] == pytest.approx(
        alone.metrics["total_return"], abs=1e-9)


def test_spreads_of_all_symbols_stay_under_the_portfolio_risk_cap(sample_market):
    """With a cap of three trades' risk, the max losses of the spreads open together never
    pass it (measured against the account value of the session before the fill, when the
    strategy decided); without the cap they do, so the cap is what held them."""
    config = CreditSpreadConfig(risk_per_trade=0.02, max_portfolio_risk=0.06,
                                max_open_spreads=3, entry_spacing=1)
    capped = run_portfolio(sample_market, ["SPY", "QQQ", "IWM"],
                           replace(SETTINGS, config=config, record_lines=False))
    free = run_portfolio(sample_market, ["SPY", "QQQ", "IWM"],
                         replace(SETTINGS, config=replace(config, max_portfolio_risk=1.0),
                                 record_lines=False))

    def worst_share(result) -> float:
        spreads, values = result.spreads, account_values(result)
        worst = 0.0
        for day in sorted(set(spreads["entry_date"])):
            stamp = pd.Timestamp(day)
            still_open = spreads[(spreads["entry_date"] <= day)
                                 & ((spreads["exit_date"].isna())
                                    | (spreads["exit_date"] > day))]
            before = values[values.index < stamp]
            if len(before):
                worst = max(worst, still_open["max_loss"].sum() / before.iloc[-1])
        return worst

    assert worst_share(capped) <= 0.06 + 1e-9
    assert worst_share(free) > 0.06


def test_summary_prints_contributions_and_the_portfolio_line(spread_run, sample_market):
    header = {"strategy": "credit-spread", "signals": "rule", "start": "2023-01-03",
              "end": "2023-09-29", "cash": SETTINGS.cash,
              "source_description": sample_market.describe()}
    text = format_portfolio_summary(spread_run, header)
    lines = text.splitlines()
    returns = {line.split(":")[0]: float(line.split("Return: ")[1].rstrip("%"))
               for line in lines if ": Return: " in line}
    assert list(returns) == ["SPY", "QQQ", PORTFOLIO]
    for symbol in ("SPY", "QQQ"):
        assert returns[symbol] == pytest.approx(
            100 * spread_run.attribution.loc[symbol, "pnl"] / SETTINGS.cash, abs=0.005)
    assert returns[PORTFOLIO] == pytest.approx(100 * spread_run.metrics["total_return"],
                                               abs=0.005)
    assert "Results Summary:" in lines
    assert "Correlation of the symbols' daily P&L:" in lines


def test_max_portfolio_risk_is_checked_where_the_config_is_made():
    with pytest.raises(ValueError, match="max_portfolio_risk=0 is invalid"):
        CreditSpreadConfig(max_portfolio_risk=0)
    with pytest.raises(ValueError, match="max_portfolio_risk=1.5 is invalid"):
        CreditSpreadConfig(max_portfolio_risk=1.5)


def test_a_symbol_given_twice_is_refused(sample_market):
    with pytest.raises(DataError, match="SPY: given twice"):
        run_portfolio(sample_market, ["SPY", "QQQ", "SPY"], SETTINGS)


def test_a_return_only_from_positions_still_open_is_warned_as_for_one_symbol(sample_market):
    """Two sessions: spreads opened, none closed. The account's return is their unrealized
    P&L, which its trades and win-rate columns do not count: said as a single symbol's run
    says it (docs/backtests.md: a --portfolio run says the same)."""
    settings = replace(SETTINGS, start=pd.Timestamp("2025-06-27"),
                       end=pd.Timestamp("2025-06-30"), record_lines=False)
    result = run_portfolio(sample_market, ["SPY", "QQQ"], settings)
    assert result.metrics["trades"] == 0 and result.metrics["open_trades"] == 2
    assert result.metrics["total_return"] != 0.0
    assert any(w.startswith("no trade closed: the ") for w in
               run_symbol(sample_market, "SPY", settings).warnings)
    warned = [w for w in result.warnings if w.startswith("no trade closed: the ")]
    assert warned == [f"no trade closed: the {result.metrics['total_return']:.2%} return comes "
                      "from 2 spreads still open at the end (entered 2025-06-30), whose "
                      "unrealized P&L the trades and win-rate columns (closed trades) do not "
                      "count"]


def test_open_positions_of_both_sides_are_not_all_called_long():
    """One account can end long one symbol and short another: the warning names the side
    only when every open position has it."""
    from types import SimpleNamespace

    from engine.backtest import open_only_warnings

    def ending(sides):
        trades = pd.DataFrame({"status": ["open"] * len(sides), "side": sides,
                               "entry_date": [pd.Timestamp("2024-12-09").date()] * len(sides)})
        return SimpleNamespace(metrics={"trades": 0, "open_trades": len(sides),
                                        "total_return": 0.0081},
                               spreads=pd.DataFrame(), trades=trades)

    assert "from 2 positions still open" in open_only_warnings(ending(["long", "short"]))[0]
    assert "from 2 short positions still open" in open_only_warnings(ending(["short"] * 2))[0]
