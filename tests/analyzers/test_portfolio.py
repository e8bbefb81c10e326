"""The option legs reach pyfolio: positions per OCC symbol that sum to the broker value,
and leg transactions whose values add up to each spread's credit minus its debit."""

import numpy as np
import pandas as pd
import pytest

from core.domain import MULTIPLIER
from engine.backtest import BacktestSettings, run_symbol


@pytest.fixture(scope="module")
def spread_run(sample_market):
    settings = BacktestSettings(start=pd.Timestamp("2024-01-02"), end=pd.Timestamp("2024-09-30"),
                                strategy="credit-spread", signals="rule", progress=False)
    return run_symbol(sample_market, "SPY", settings)


def test_positions_have_occ_leg_columns_and_cash_last(spread_run):
    positions = spread_run.positions
    assert positions.columns[-1] == "cash"
    legs = [c for c in positions.columns if c != "cash"]
    assert legs and all(c.startswith("SPY") and len(c) == 18 for c in legs)
    short_values = positions[legs].min(axis=None)
    assert short_values < 0 < positions[legs].max(axis=None)  # short legs carry negative value


def test_positions_sum_to_the_value_the_returns_come_from(spread_run):
    positions = spread_run.positions.copy()
    positions.index = positions.index.tz_localize(None)
    value = positions.sum(axis=1)
    value = value[value.index >= spread_run.returns.index[0]]
    growth = (1.0 + spread_run.returns).cumprod()
    ratio = (value / value.iloc[0]).to_numpy()
    expected = (growth / growth.iloc[0]).reindex(value.index).to_numpy()
    assert np.allclose(ratio, expected, rtol=1e-9)


def test_leg_transactions_add_up_to_each_spread(spread_run):
    spreads, txns = spread_run.spreads, spread_run.transactions
    closed = spreads[spreads["exit_date"].notna()]
    assert len(closed) >= 2
    for _, spread in closed.iterrows():
        legs = txns[txns["symbol"].isin([spread["short_leg"], spread["long_leg"]])]
        assert legs.groupby("symbol")["amount"].sum().eq(0).all()  # flat after the close
        cash_flow = legs["value"].sum()
        expected = ((spread["entry_credit"] - spread["exit_debit"]) * MULTIPLIER
                    * spread["contracts"])
        assert cash_flow == pytest.approx(expected, abs=1e-6)
