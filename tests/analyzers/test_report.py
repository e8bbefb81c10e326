"""The report folder is replaced whole: an interrupted rewrite leaves the old report."""

from __future__ import annotations

import sys
import types

import pandas as pd
import pytest

import analyzers.render_pool as render_pool
import analyzers.report as report
from engine.backtest import BacktestSettings, realized_direction, run_symbol


@pytest.fixture(scope="module")
def results(sample_market):
    settings = BacktestSettings(start=pd.Timestamp("2023-01-03"),
                                end=pd.Timestamp("2023-06-30"), progress=False)
    return [run_symbol(sample_market, symbol, settings) for symbol in ("SPY", "QQQ")]


def _write(folder, results, sample_market, summary="run 1\n", workers=None):
    return report.write_report(folder, results, summary, {"command": "backtest"},
                               lambda r: realized_direction(sample_market.bars(r.symbol)["close"]),
                               workers=workers)


def test_an_interrupted_rewrite_leaves_the_previous_report_whole(results, sample_market,
                                                                tmp_path, monkeypatch):
    folder = tmp_path / "report"
    written = _write(folder, results, sample_market)
    assert all(path.exists() and path.is_relative_to(folder) for path in written)
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    real = report.write_symbol_report

    def fail_on_the_second_symbol(result, target, realized, *args, **kwargs):
        out = real(result, target, realized, *args, **kwargs)
        if result.symbol == "QQQ":
            raise KeyboardInterrupt  # as Ctrl-C while QQQ's plots were being written
        return out

    monkeypatch.setattr(report, "write_symbol_report", fail_on_the_second_symbol)
    with pytest.raises(KeyboardInterrupt):
        _write(folder, results, sample_market, summary="run 2\n")
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no partial folder left


def test_a_rewrite_replaces_every_file_and_drops_stale_ones(results, sample_market, tmp_path):
    folder = tmp_path / "report"
    _write(folder, results, sample_market)
    (folder / "SPY" / "stale.png").write_bytes(b"from an older run")
    _write(folder, results[:1], sample_market, summary="run 2\n")
    assert (folder / "summary.txt").read_text() == "run 2\n"
    assert not (folder / "QQQ").exists() and not (folder / "SPY" / "stale.png").exists()


def test_closed_trades_carry_their_size_and_the_exit_price_that_explains_their_pnl(results):
    """backtrader zeroes a closed trade's size; trades.csv must not (issue 18)."""
    trades = pd.concat([r.trades for r in results])
    closed = trades[trades["status"] == "closed"]
    assert len(closed) > 0
    assert (closed["size"] > 0).all() and closed["exit_price"].notna().all()
    sign = closed["side"].map({"long": 1.0, "short": -1.0})
    pnl = sign * closed["size"] * (closed["exit_price"] - closed["entry_price"])
    assert pnl.to_numpy() == pytest.approx(closed["pnl"].to_numpy())
    bars = {r.symbol: r.bars for r in results}
    for row in closed.itertuples():  # fills are at a bar's open: the price must be one
        opens = bars[row.symbol]["open"]
        assert opens.sub(row.exit_price).abs().min() < 1e-6


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _drawn(folder, group, sample_market, workers):
    _write(folder, group, sample_market, summary="run\n", workers=workers)
    return _files(folder)


@pytest.fixture(scope="module")
def drawn_here(results, sample_market, tmp_path_factory):
    """The reports of both symbols and of one, drawn in this process one after another."""
    folder = tmp_path_factory.mktemp("serial")
    return {n: _drawn(folder / str(n), results[:n], sample_market, 1) for n in (2, 1)}


@pytest.mark.parametrize("workers_from", ["fork", "forkserver"])
def test_pictures_drawn_in_parallel_are_the_files_drawn_one_after_another(
        results, sample_market, drawn_here, tmp_path, monkeypatch, workers_from):
    """Same names, same bytes (PNG included), for several symbols and for one: drawn by
    workers forked from this process, and (TensorFlow loaded, as after an ML backtest's
    training) by workers of the fork server, the jobs pickled."""
    pools = []
    real_pool = render_pool._run_pool
    monkeypatch.setattr(render_pool, "_run_pool", lambda workers, context, calls: (
        pools.append(context.get_start_method()) or real_pool(workers, context, calls)))
    if workers_from == "forkserver":
        assert render_pool.start_render_server("engine.backtest")
        monkeypatch.setitem(sys.modules, "tensorflow",
                            sys.modules.get("tensorflow", types.ModuleType("tensorflow")))
    elif not render_pool.fork_is_safe():
        pytest.skip("TensorFlow is loaded in this test process: it is not forked")
    for n, serial in drawn_here.items():
        assert _drawn(tmp_path / str(n), results[:n], sample_market, 2) == serial
        assert len(serial) >= 6 * n
    assert pools and set(pools) == {workers_from}


def _spread_rows() -> pd.DataFrame:
    """Two closed spreads (a stop-loss that lost, a profit take that won) and one open."""
    import datetime as dt

    from analyzers.spread_trades import SPREAD_COLUMNS

    day = dt.date
    rows = pd.DataFrame({
        "id": [1, 2, 3], "underlying": ["SPY"] * 3,
        "kind": ["put_credit", "put_credit", "call_credit"],
        "status": ["closed", "closed", "open"],
        "entry_date": [day(2024, 3, 4), day(2024, 3, 5), day(2024, 3, 7)],
        "exit_date": [day(2024, 3, 6), day(2024, 3, 8), None],
        "expiry": [day(2024, 4, 12)] * 3,
        "short_leg": ["SPY240412P00500000", "SPY240412P00505000", "SPY240412C00530000"],
        "long_leg": ["SPY240412P00495000", "SPY240412P00500000", "SPY240412C00535000"],
        "short_strike": [500.0, 505.0, 530.0], "long_strike": [495.0, 500.0, 535.0],
        "contracts": [2, 2, 2], "entry_credit": [1.1, 1.2, 1.3],
        "exit_debit": [2.2, 0.45, float("nan")], "pnl": [-225.2, 134.8, -12.5],
        "commission": [5.2, 5.2, 2.6], "max_loss": [780.0, 760.0, 740.0],
        "days_held": [2.0, 3.0, None], "exit_reason": ["close", "close", None],
        "tag": ["stop_loss", "profit_take", ""], "dte_at_entry": [39, 38, 36],
        "short_delta_at_entry": [-0.3, -0.28, 0.31], "regime_at_entry": [float("nan")] * 3,
        "regime_name_at_entry": [None] * 3})
    return rows[list(SPREAD_COLUMNS)]


def test_the_pages_spread_tables_say_n_a_and_rates_in_percent_as_the_summary_does():
    """An open spread has no exit yet and a group without a win has no average win: the
    page says n/a (it said NaN and None); a win rate is a percentage (it read 0.50)."""
    from types import SimpleNamespace

    result = SimpleNamespace(symbol="SPY", spreads=_spread_rows(),
                             trades=pd.DataFrame(), plot_png=None)
    page = report._index_html([result], "summary\n", {"command": "backtest"})
    assert "NaN" not in page and "None" not in page and ">nan<" not in page
    assert "<td>n/a</td>" in page
    assert "<td>50.00%</td>" in page  # by kind: put credit spreads, one of two won
    assert "<td>0.50</td>" not in page

