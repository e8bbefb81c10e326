"""``--option-slippage``: mid fills give up that much a share on every opening and closing
fill, nothing else of the run changes; a slippage that cannot apply is refused up front."""

from __future__ import annotations

import pandas as pd
import pytest

from core.errors import DataError
from engine.backtest import BacktestSettings, run_symbol

WINDOW = dict(start=pd.Timestamp("2024-01-02"), end=pd.Timestamp("2024-03-28"))


def test_mid_fills_give_up_the_slippage_on_every_fill(sample_market):
    def spreads(slippage: float) -> pd.DataFrame:
        settings = BacktestSettings(**WINDOW, strategy="credit-spread", option_fill="mid",
                                    option_slippage=slippage, progress=False)
        return run_symbol(sample_market, "SPY", settings).spreads

    mid, slipped = spreads(0.0), spreads(0.05)
    first, again = mid.iloc[0], slipped.iloc[0]
    assert (first["short_leg"], first["entry_date"], first["exit_date"]) == (
        again["short_leg"], again["entry_date"], again["exit_date"])
    assert again["entry_credit"] == pytest.approx(first["entry_credit"] - 0.05, abs=1e-12)
    assert first["exit_reason"] != "expiry"  # a bought-back spread pays it again
    assert again["exit_debit"] == pytest.approx(first["exit_debit"] + 0.05, abs=1e-12)


@pytest.mark.parametrize(("fill", "slippage", "message"), [
    ("natural", 0.05, "--option-slippage applies only with --option-fill mid"),
    ("mid", -0.01, "--option-slippage must be 0 or more"),
    ("mid", float("nan"), "--option-slippage must be 0 or more"),
])
def test_a_slippage_that_cannot_apply_is_refused_by_the_settings(fill, slippage, message):
    with pytest.raises(DataError, match=message):
        BacktestSettings(**WINDOW, strategy="credit-spread", option_fill=fill,
                         option_slippage=slippage)
