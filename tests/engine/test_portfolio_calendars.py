"""Symbols with different sessions in one account: aligned without lookahead.

GAP is a CSV symbol that lacks some sessions SPY has (every seventh one, and a run of
three). On a session GAP lacks, the account must hold GAP at its last close (nothing from
a later bar), no GAP order may fill, and every GAP fill must be at the open of one of
GAP's own bars; a run cut short must agree with the full run on every session both have.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from engine.backtest import BacktestSettings
from engine.portfolio import run_portfolio
from feeds.csv_source import CsvMarket

START, END = pd.Timestamp("2021-01-04"), pd.Timestamp("2023-12-29")
SETTINGS = BacktestSettings(start=START, end=END, strategy="equity", progress=False)


@pytest.fixture(scope="module")
def gap_market(sample_market, tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv")
    spy = sample_market.bars("SPY", "2020-01-02", "2023-12-29")
    qqq = sample_market.bars("QQQ", "2020-01-02", "2023-12-29")
    keep = [i % 7 != 3 for i in range(len(qqq))]
    three = qqq.index.get_indexer(pd.to_datetime(["2023-06-12", "2023-06-13", "2023-06-14"]))
    for i in three:
        keep[i] = False
    columns = ["open", "high", "low", "close", "volume"]
    spy[columns].to_csv(folder / "SPY.csv", index_label="date")
    qqq[keep][columns].to_csv(folder / "GAP.csv", index_label="date")
    market = CsvMarket(folder)
    missing = spy.index.difference(market.bars("GAP").index)
    return market, missing[(missing >= START) & (missing <= END)]


def gap_fills(result) -> pd.DataFrame:
    txn = result.transactions
    fills = txn[txn["symbol"] == "GAP"]
    return fills.set_index(fills.index.tz_localize(None).normalize())


def test_missing_sessions_hold_the_last_close_and_fill_nothing(gap_market):
    market, missing = gap_market
    assert len(missing) > 30
    result = run_portfolio(market, ["SPY", "GAP"], SETTINGS)
    gap = market.bars("GAP")
    fills = gap_fills(result)
    assert len(fills) >= 4  # the strategy traded GAP: the checks below mean something
    assert set(fills.index) <= set(gap.index)
    assert fills["price"].to_numpy() == pytest.approx(gap.loc[fills.index, "open"].to_numpy())
    held = result.positions["GAP"]
    held.index = held.index.tz_localize(None)
    sessions = list(held.index)
    for day in missing:
        before = sessions[sessions.index(day) - 1]
        assert held[day] == pytest.approx(held[before]), day  # same shares, same last close
    # the strategy decided once per GAP bar: one line per bar, none on missing sessions
    lines = result.lines[result.lines["symbol"] == "GAP"]
    assert not set(pd.to_datetime(lines["date"])) & set(missing)


@pytest.mark.parametrize("strategy", ["equity", "credit-spread"])
def test_a_run_cut_short_agrees_with_the_full_run(gap_market, strategy):
    market, missing = gap_market
    cut = missing[len(missing) // 2]  # GAP has no bar on the last session of the short run
    full = run_portfolio(market, ["SPY", "GAP"], replace(SETTINGS, strategy=strategy,
                                                         record_lines=False))
    short = run_portfolio(market, ["SPY", "GAP"], replace(SETTINGS, strategy=strategy,
                                                          end=cut, record_lines=False))
    common = short.positions.index
    pd.testing.assert_frame_equal(
        short.positions, full.positions.loc[common, short.positions.columns])
    assert len(short.transactions) > 0
    # transactions are stamped at their instants (a session's open or close), positions
    # at the session's date
    days = full.transactions.index.normalize()
    pd.testing.assert_frame_equal(short.transactions, full.transactions[days <= common[-1]])
    if strategy == "credit-spread":
        gap_days = set(market.bars("GAP").index.date)
        entries = full.spreads[full.spreads["underlying"] == "GAP"]["entry_date"]
        assert len(entries) > 0 and set(entries) <= gap_days
