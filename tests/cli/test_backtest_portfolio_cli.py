"""``run.py backtest --portfolio``: the summary lines and the portfolio report folder."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

import run

SYMBOLS = ("SPY", "QQQ", "IWM")
WINDOW = ["--start-date", "2024-01-02", "--end-date", "2024-06-28"]


@pytest.fixture(scope="module")
def portfolio_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("portfolio") / "report"
    argv = ["backtest", "--portfolio", "--source", "sample", "--symbols", ",".join(SYMBOLS),
            "--strategy", "credit-spread", *WINDOW, "--report", str(out), "-q"]
    return out, argv


def test_portfolio_backtest_prints_contributions_and_writes_the_tear_sheets(portfolio_run,
                                                                            capsys):
    out, argv = portfolio_run
    assert run.main(argv) == 0
    printed = capsys.readouterr().out
    returns = dict(re.findall(r"^(\w+): Return: (-?\d+\.\d\d)%$", printed, re.MULTILINE))
    assert list(returns) == [*SYMBOLS, "PORTFOLIO"]
    metrics = json.loads((out / "metrics.json").read_text())
    total = metrics["portfolio"]["total_return"]
    assert returns["PORTFOLIO"] == f"{100 * total:.2f}"
    for symbol in SYMBOLS:
        contribution = metrics["symbols"][symbol]["contribution"]
        assert returns[symbol] == f"{100 * contribution:.2f}"
    assert sum(m["contribution"] for m in metrics["symbols"].values()) == pytest.approx(total)
    for name in ("tearsheet_returns.png", "tearsheet_positions.png",
                 "tearsheet_transactions.png", "pnl_by_symbol.png", "index.html",
                 "performance.csv", "summary.txt"):
        assert (out / name).stat().st_size > 0, name
    # every option leg of every symbol is in the tear sheets' positions and transactions
    spreads = pd.read_csv(out / "spreads.csv")
    legs = set(spreads["short_leg"]) | set(spreads["long_leg"])
    assert {leg[:3] for leg in legs} == set(SYMBOLS)
    assert legs <= set(pd.read_csv(out / "transactions.csv")["symbol"])
    assert legs == set(pd.read_csv(out / "positions.csv", index_col=0).columns) - {"cash"}
    correlation = pd.read_csv(out / "pnl_correlation.csv", index_col=0)
    assert list(correlation.columns) == list(SYMBOLS)
