"""``sweep --portfolio``: each parameter set and fold is one account of all the symbols."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from core.errors import DataError
from engine.backtest import BacktestSettings
from engine.portfolio import run_portfolio
from sweeps.grid import make_config
from sweeps.plan import open_source, plan_sweep
from sweeps.runner import run_sweep


def test_portfolio_sweep_runs_one_account_per_parameter_set_and_fold(make_spec, tmp_path):
    spec = replace(make_spec(grid=["max_portfolio_risk=0.04,0.3"]), portfolio=True)
    outcome = run_sweep(spec, tmp_path / "sweep")
    table = outcome.table
    assert len(table) == 2 * 2 and table["error"].isna().all()
    assert set(table["symbol"]) == {"PORTFOLIO"}
    # each row is exactly the portfolio backtest of its parameters and fold
    for _, row in table.iterrows():
        config = make_config("credit-spread", {"max_portfolio_risk": row["max_portfolio_risk"]})
        settings = BacktestSettings(start=pd.Timestamp(row["fold_start"]),
                                    end=pd.Timestamp(row["fold_end"]),
                                    strategy="credit-spread", config=config, progress=False,
                                    record_lines=False)
        direct = run_portfolio(open_source(spec.source), ["SPY", "QQQ"], settings)
        assert row["total_return"] == pytest.approx(direct.metrics["total_return"], abs=1e-12)
    # the portfolio runs are keyed apart from per-symbol runs of the same settings
    per_symbol = plan_sweep(replace(spec, portfolio=False), tmp_path / "other")
    assert not {r.key for r in per_symbol.runs} & set(table["key"])


def test_portfolio_sweep_refuses_ml_signals(make_spec, tmp_path):
    spec = replace(make_spec(), portfolio=True, signals="ml", training=object())
    with pytest.raises(DataError, match="--portfolio sweeps trade rule signals only"):
        plan_sweep(spec, tmp_path)
