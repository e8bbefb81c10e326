"""The credit-spread strategy on the options broker: spreads follow the signal, and the
spreads' P&L is exactly the change in broker value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import run


@pytest.fixture(scope="module")
def spread_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("spreads")
    argv = ["backtest", "--source", "sample", "--symbols", "SPY", "--strategy", "credit-spread",
            "--start-date", "2024-01-02", "--end-date", "2024-06-28", "--report",
            str(out / "report"), "--export-lines", str(out / "lines.csv"), "-q"]
    assert run.main(argv) == 0
    spreads = pd.read_csv(out / "report" / "SPY" / "spreads.csv",
                          parse_dates=["entry_date", "exit_date", "expiry"])
    metrics = pd.read_json(out / "report" / "SPY" / "metrics.json", typ="series")
    lines = pd.read_csv(out / "lines.csv", parse_dates=["date"]).set_index("date")
    return out, spreads, metrics, lines


def test_spread_pnl_is_the_change_in_broker_value(spread_run):
    _, spreads, metrics, _ = spread_run
    assert len(spreads) >= 5
    assert spreads["pnl"].sum() == pytest.approx(metrics["final_value"] - 100_000, abs=1e-6)


def test_each_spread_follows_the_signal_of_the_bar_before_its_fill(spread_run):
    _, spreads, _, lines = spread_run
    dates = lines.index
    for spread in spreads.itertuples():
        signal_bar = dates[dates.get_loc(spread.entry_date) - 1]
        signal = lines.loc[signal_bar, "RuleSignal.signal"]
        assert signal == (2 if spread.kind == "put_credit" else 1), spread


def test_legs_are_verticals_with_occ_symbols_in_the_dte_window(spread_run):
    _, spreads, _, _ = spread_run
    for s in spreads.itertuples():
        right = "P" if s.kind == "put_credit" else "C"
        assert s.short_leg == f"SPY{s.expiry:%y%m%d}{right}{int(s.short_strike * 1000):08d}"
        assert s.long_leg.startswith(f"SPY{s.expiry:%y%m%d}{right}")
        # the long leg is further out of the money: below the short put, above the short call
        assert (s.long_strike < s.short_strike) if right == "P" else (
            s.long_strike > s.short_strike)
        # chosen on the bar before the fill, inside 30..45 days then
        assert 29 <= s.dte_at_entry <= 45
        assert s.max_loss == pytest.approx(
            (abs(s.short_strike - s.long_strike) - s.entry_credit) * 100 * s.contracts)
    assert set(spreads["tag"].dropna()) <= {"profit_take", "stop_loss", "time_exit"}
    deltas = spreads["short_delta_at_entry"].abs()
    assert np.all((deltas > 0.1) & (deltas < 0.6))


def test_report_has_spread_tables(spread_run):
    out, _, metrics, _ = spread_run
    for name in ("by_kind", "by_regime", "by_dte", "by_delta", "by_exit"):
        assert (out / "report" / "SPY" / f"spreads_{name}.csv").stat().st_size > 0
    by_exit = pd.read_csv(out / "report" / "SPY" / "spreads_by_exit.csv", index_col=0)
    assert set(by_exit.index) <= {"profit_take", "stop_loss", "time_exit", "expiry"}
    assert by_exit["spreads"].sum() == metrics["trades"]  # every closed spread
    assert metrics["trades"] >= 1
    assert "SPY240" in (out / "report" / "index.html").read_text()


def test_an_account_too_small_for_one_contract_is_told_how_much_would_do():
    """The refusal says what would size one contract; it advised narrowing the width also
    for the default width, one strike step, which no chain lists narrower (the bundled
    S&P 500 near 2,044: strikes every 25, so 'narrow the width' could not be followed)."""
    from strategies import CreditSpreadConfig

    default = CreditSpreadConfig().sizing_refusal(100_000.0, 25.0)
    assert default.endswith("no spread can ever be sized; raise it to at least 0.025 or the "
                            "cash to at least 125,000.00")
    assert "narrow" not in default
    chosen = CreditSpreadConfig(width=25.0).sizing_refusal(100_000.0, 25.0)
    assert chosen.endswith("raise it to at least 0.025 or the cash to at least 125,000.00, "
                           "or sell narrower spreads")
    capped = CreditSpreadConfig(max_portfolio_risk=0.01).sizing_refusal(100_000.0, 25.0)
    assert capped.startswith("max_portfolio_risk=0.01 of 100,000.00 cash is 1,000.00")
    assert capped.endswith("raise risk_per_trade=0.02 and max_portfolio_risk=0.01 to at least "
                           "0.025 or the cash to at least 250,000.00")
    assert CreditSpreadConfig().sizing_refusal(125_000.0, 25.0) is None
    # no share of the account up to 1 sizes it: only more cash does
    assert CreditSpreadConfig().sizing_refusal(1_000.0, 25.0).endswith(
        "can ever be sized; raise the cash to at least 125,000.00")


def test_report_csvs_carry_no_float_noise(spread_run):
    """Credits and debits are differences of cent quotes: the CSV shows 0.46, not the
    0.45999999999999996 binary arithmetic leaves; every figure stays within 1e-9 of the
    exact value metrics.json keeps."""
    out, _, metrics, _ = spread_run
    text = pd.read_csv(out / "report" / "SPY" / "spreads.csv", dtype=str)
    for column in ("entry_credit", "exit_debit"):
        decimals = text[column].dropna().str.partition(".")[2].str.len()
        assert decimals.max() <= 2, text[column].tolist()
    table = pd.read_csv(out / "report" / "metrics.csv", index_col="symbol")
    for name in ("total_return", "sharpe", "final_value", "max_drawdown"):
        assert table.loc["SPY", name] == pytest.approx(metrics[name], rel=1e-9, abs=1e-12)
