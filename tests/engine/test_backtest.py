"""The backtest spine (``engine.backtest.run_symbol``) without the command line."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import pandas as pd
import pytest

from analyzers.report import saved_metrics
from engine.backtest import (
    BacktestSettings,
    open_only_warnings,
    performance_metrics,
    ruin_warnings,
    run_symbol,
)
from engine.summary import format_summary
from feeds.calendar import sessions
from feeds.csv_source import CsvMarket
from strategies.equity import EquityConfig


def test_warm_up_bars_are_never_traded_when_the_history_starts_late(tmp_path):
    """A start before the file's first bar moves the traded window, not the warm-up."""
    dates = pd.bdate_range("2021-01-04", periods=100)
    (tmp_path / "LATE.csv").write_text("date,open,high,low,close,volume\n" + "\n".join(
        f"{d:%Y-%m-%d},{c},{c + 1},{c - 1},{c},1000" for d, c in
        zip(dates, [round(100 + 0.1 * i, 2) for i in range(100)], strict=True))
        + "\n")
    settings = BacktestSettings(start=pd.Timestamp("2020-01-02"), end=dates[-1],
                                progress=False)
    result = run_symbol(CsvMarket(tmp_path), "LATE", settings)
    assert result.metrics["start"] == f"{dates[60]:%Y-%m-%d}"
    assert result.metrics["sessions"] == 40


def test_buy_and_hold_starts_at_the_first_traded_close_as_the_strategy_does(sample_market):
    """The strategy cannot act before the first traded session's close (its return that day
    is 0); buy & hold is bought then too, not the close before the window."""
    settings = BacktestSettings(start=pd.Timestamp("2024-01-02"), end=pd.Timestamp("2024-06-28"),
                                progress=False, record_lines=False)
    result = run_symbol(sample_market, "SPY", settings)
    close = sample_market.bars("SPY", "2024-01-02", "2024-06-28")["close"]
    assert result.returns.iloc[0] == 0.0 and result.benchmark.iloc[0] == 0.0
    assert result.benchmark.index.equals(result.returns.index)
    assert result.metrics["benchmark_return"] == pytest.approx(
        close.iloc[-1] / close.iloc[0] - 1.0, rel=1e-12)


def test_backtraders_trade_figures_count_share_trades_and_are_left_out_for_spreads(
        sample_market):
    """TradeAnalyzer sees share trades only: an equity run's figures match its closed trades;
    a credit-spread run (no shares) carries none, not zeros beside its spread count."""
    window = {"start": pd.Timestamp("2024-01-02"), "end": pd.Timestamp("2024-12-31"),
              "progress": False, "record_lines": False}
    equity = run_symbol(sample_market, "SPY", BacktestSettings(**window))
    closed = equity.metrics["trades"]
    assert closed > 0
    assert equity.metrics["backtrader"]["trades_total"] >= closed
    assert (equity.metrics["backtrader"]["trades_won"]
            + equity.metrics["backtrader"]["trades_lost"]) == closed

    spreads = run_symbol(sample_market, "SPY",
                         BacktestSettings(strategy="credit-spread", **window))
    assert spreads.metrics["trades"] > 0
    assert not any(key.startswith("trades") for key in spreads.metrics["backtrader"])
    assert spreads.metrics["backtrader"]["max_drawdown_pct"] > 0


def test_spreads_still_open_at_the_end_are_said_beside_the_closed_ones(sample_market):
    """Once a spread has closed, those still open at the end were in the return (valued at
    mid, no cost to close) but in neither the trades nor the win-rate column, with no word
    but the spreads figure's title: the summary says how many, and their P&L."""
    settings = BacktestSettings(strategy="credit-spread", start=pd.Timestamp("2024-01-02"),
                                end=pd.Timestamp("2024-12-31"), progress=False,
                                record_lines=False)
    result = run_symbol(sample_market, "SPY", settings)
    still = result.spreads[result.spreads["status"] == "open"]
    m = result.metrics
    assert m["trades"] > 0 and m["open_trades"] == len(still) > 0
    assert m["spread_unrealized_pnl"] == pytest.approx(still["pnl"].sum())
    first, last = (f"{pd.Timestamp(d):%Y-%m-%d}" for d in (still["entry_date"].min(),
                                                           still["entry_date"].max()))
    entered = first if first == last else f"{first} to {last}"
    said = (f"{len(still)} spread{'s' if len(still) > 1 else ''} still open at the end "
            f"(entered {entered}) valued at mid with no cost to close: unrealized P&L "
            f"{still['pnl'].sum():,.2f}, in the {m['total_return']:.2%} return but not in the "
            f"trades ({m['trades']}) and win-rate columns, which count closed spreads")
    assert said in result.warnings
    header = {"strategy": "credit-spread", "signals": "rule", "start": m["start"],
              "end": m["end"], "cash": 100_000.0, "source_description": "sample"}
    assert f"warning: SPY: {said}\n" in format_summary([result], header)


def test_a_share_position_still_open_at_the_end_is_said_beside_the_closed_trades(sample_market):
    """As for spreads: once a trade has closed, a position still open at the end is in the
    return (marked at the last close, no cost to close) but not in the trades and win-rate
    columns; it was said only when no trade closed. SPY over 2023's first half closes one
    long and ends holding another."""
    settings = BacktestSettings(start=pd.Timestamp("2023-01-03"), end=pd.Timestamp("2023-06-30"),
                                progress=False, record_lines=False)
    result = run_symbol(sample_market, "SPY", settings)
    still = result.trades[result.trades["status"] == "open"]
    m = result.metrics
    assert m["trades"] == 1 and m["open_trades"] == len(still) == 1
    assert m["unrealized_pnl"] == pytest.approx(still["pnl_net"].sum())
    said = (f"1 long position still open at the end (entered "
            f"{pd.Timestamp(still['entry_date'].iloc[0]):%Y-%m-%d}) marked at the last close "
            f"with no cost to close: unrealized P&L {still['pnl_net'].sum():,.2f}, in the "
            f"{m['total_return']:.2%} return but not in the trades (1) and win-rate columns, "
            "which count closed trades")
    assert said in result.warnings
    assert said in saved_metrics(result)["warnings"]  # metrics.json
    header = {"strategy": "equity", "signals": "rule", "start": m["start"], "end": m["end"],
              "cash": 100_000.0, "source_description": "sample"}
    assert f"warning: SPY: {said}\n" in format_summary([result], header)


def test_open_positions_of_a_run_that_closed_some_are_counted_by_side():
    """One account (a portfolio) can end long one symbol and short another: the side is
    named only when every open position has it, the entries as a range."""
    def ending(sides):
        days = [pd.Timestamp("2024-12-02").date(), pd.Timestamp("2024-12-09").date()]
        trades = pd.DataFrame({"status": ["closed", *["open"] * len(sides)],
                               "side": ["long", *sides], "entry_date": [days[0], *days],
                               "pnl_net": [50.0, 120.5, -20.25]})
        return SimpleNamespace(metrics={"trades": 1, "open_trades": len(sides),
                                        "total_return": 0.0081},
                               spreads=pd.DataFrame(), trades=trades)

    mixed, = open_only_warnings(ending(["long", "short"]))
    assert mixed.startswith("2 positions still open at the end (entered 2024-12-02 to "
                            "2024-12-09) marked at the last close with no cost to close: "
                            "unrealized P&L 100.25, in the 0.81% return")
    shorts, = open_only_warnings(ending(["short", "short"]))
    assert shorts.startswith("2 short positions still open at the end")


def test_an_account_that_falls_below_zero_says_why_its_annual_return_is_na(tmp_path):
    """A short of 95 % of the account through a squeeze (the price 2.6 times in a session)
    loses more than the account: (1 + return) is below 0, which has no annual rate. The
    summary's n/a comes with the reason and the session the account reached 0."""
    days = sessions("2021-01-04", "2021-07-30")
    closes, price = [], 100.0
    for i in range(len(days)):
        if i < 120:
            price += -1.0 if i % 2 else 0.6  # a zigzag decline: SELL calls, RSI near 37
        elif i == 120:
            price *= 2.6
        closes.append(round(price, 2))
    (tmp_path / "SQZ.csv").write_text("date,open,high,low,close,volume\n" + "\n".join(
        f"{d:%Y-%m-%d},{c},{c},{c},{c},1000" for d, c in zip(days, closes, strict=True))
        + "\n")
    settings = BacktestSettings(start=days[60], end=days[-1], progress=False,
                                record_lines=False,
                                config=EquityConfig(allow_short=True, min_confidence=0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value in power" is not the reason
        result = run_symbol(CsvMarket(tmp_path), "SQZ", settings)
    m = result.metrics
    assert m["final_value"] < 0 and m["total_return"] < -1.0
    assert m["annual_return"] is None
    # the daily returns after that day are on a value of 0 or less (sign-flipped): no
    # volatility, Sharpe or Sortino ratio reads them
    assert (m["annual_volatility"], m["sharpe"], m["sortino"]) == (None, None, None)
    fell = f"{days[120]:%Y-%m-%d}"
    assert m["account_at_or_below_zero_on"] == fell
    said = (f"annual return n/a: the account's value fell to 0 or below on {fell} and ends "
            f"at {m['final_value']:,.2f} ({m['total_return']:.2%}), a loss of the whole "
            "account or more, which has no annual rate; volatility, Sharpe and Sortino "
            "n/a too: the daily returns from then on are returns on a value of 0 or less")
    assert said in result.warnings
    header = {"strategy": "equity", "signals": "rule", "start": m["start"], "end": m["end"],
              "cash": 100_000.0, "source_description": "csv"}
    assert f"warning: SQZ: {said}\n" in format_summary([result], header)


def test_ratios_are_na_once_the_account_touched_zero_even_if_it_ends_above():
    """A short whose loss took the account to -10 % of its cash, then a fall of the
    stock that brought it back to +10 %: each daily return after the fall is one on a
    negative value (-2.0 here for a gain of 20 % of the cash), so its volatility, Sharpe
    and Sortino would read nonsense; the annual return is the ending value's."""
    days = pd.bdate_range("2024-01-02", periods=4)
    returns = pd.Series([0.0, 0.1, -1.2 / 1.1, -2.0], index=days)  # 1, 1.1, -0.1, 0.1
    trades = pd.DataFrame({"status": pd.Series(dtype=str), "pnl_net": pd.Series(dtype=float)})
    m = performance_metrics(returns, returns * 0.0, trades, 10_000.0 * 0.1, 10_000.0)
    assert (m["annual_volatility"], m["sharpe"], m["sortino"]) == (None, None, None)
    assert m["annual_return"] is not None
    assert m["account_at_or_below_zero_on"] == "2024-01-04"
    said, = ruin_warnings(SimpleNamespace(metrics=m))
    assert said == ("volatility, Sharpe and Sortino n/a: the daily returns from then on are "
                    "returns on a value of 0 or less (the account's value fell to 0 or below "
                    "on 2024-01-04, a loss of the whole account, before it ended above 0)")
