"""The portfolio report folder (``analyzers.portfolio_report``) of a share strategy."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analyzers.portfolio_report import write_portfolio_report
from engine.backtest import BacktestSettings
from engine.portfolio import run_portfolio


def test_equity_portfolio_report_has_tear_sheets_attribution_and_no_spread_tables(
        sample_market, tmp_path):
    settings = BacktestSettings(start=pd.Timestamp("2023-01-03"), end=pd.Timestamp("2023-06-30"),
                                progress=False)
    result = run_portfolio(sample_market, ["SPY", "QQQ"], settings)
    written = write_portfolio_report(tmp_path / "report", result, "summary\n", {"run": "t"})
    folder = tmp_path / "report"
    assert all(path.is_file() for path in written)
    for name in ("tearsheet_returns.png", "tearsheet_positions.png",
                 "tearsheet_transactions.png", "pnl_by_symbol.png", "attribution.csv",
                 "pnl.csv", "pnl_correlation.csv", "positions.csv", "transactions.csv"):
        assert (folder / name).stat().st_size > 0, name
    assert not (folder / "spreads.csv").exists() and not (folder / "spreads.png").exists()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["symbols"]) == {"SPY", "QQQ"}
    assert metrics["portfolio"]["final_value"] == result.metrics["final_value"]
    positions = pd.read_csv(folder / "positions.csv", index_col=0)
    held = set(positions.columns) - {"cash"}
    traded = set(pd.read_csv(folder / "transactions.csv")["symbol"])
    assert held == traded == {"SPY", "QQQ"}
    pnl = pd.read_csv(folder / "pnl.csv", index_col=0)
    assert pnl.iloc[-1].sum() + settings.cash == pytest.approx(result.metrics["final_value"],
                                                               abs=0.01)
    # every table's first column is named, as the single-symbol report's returns.csv
    # (date, strategy, market): it read ',portfolio,equal_weight', ',pnl,...', ',value'
    first = {name: pd.read_csv(folder / name, nrows=0).columns[0]
             for name in ("returns.csv", "attribution.csv", "pnl.csv", "pnl_correlation.csv",
                          "positions.csv", "transactions.csv", "performance.csv")}
    assert first == {"returns.csv": "date", "attribution.csv": "symbol", "pnl.csv": "date",
                     "pnl_correlation.csv": "symbol", "positions.csv": "date",
                     "transactions.csv": "date", "performance.csv": "statistic"}
    assert list(pd.read_csv(folder / "returns.csv").columns) == ["date", "portfolio",
                                                                 "equal_weight"]
    # index.html writes the attribution's shares as the summary does: percentages
    page = (folder / "index.html").read_text()
    for symbol in ("SPY", "QQQ"):
        share = result.attribution.loc[symbol, "contribution"]
        assert f"<td>{100 * share:.2f}%</td>" in page


def test_a_credit_spread_portfolio_report_draws_its_capital_at_risk(sample_market, tmp_path):
    settings = BacktestSettings(start=pd.Timestamp("2023-01-03"), end=pd.Timestamp("2023-06-30"),
                                strategy="credit-spread", progress=False)
    result = run_portfolio(sample_market, ["SPY", "QQQ"], settings)
    assert set(result.spreads["underlying"]) == {"SPY", "QQQ"}
    write_portfolio_report(tmp_path / "report", result, "summary\n", {"run": "t"})
    folder = tmp_path / "report"
    assert (folder / "spreads.png").stat().st_size > 10_000
    assert "<img src='spreads.png'" in (folder / "index.html").read_text()
