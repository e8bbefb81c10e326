"""Report tables and plots say what they show (issue 18's plot fixes)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analyzers.spread_trades import spread_summaries  # noqa: E402
from core.domain import REGIME_NAMES  # noqa: E402


def test_spreads_by_regime_are_named_not_coded():
    spreads = pd.DataFrame({
        "status": ["closed"] * 4, "kind": ["put_credit"] * 4, "pnl": [10.0, -5.0, 3.0, 1.0],
        "entry_credit": [1.0] * 4, "dte_at_entry": [35] * 4,
        "short_delta_at_entry": [-0.3] * 4, "regime_at_entry": [0.0, 3.0, 3.0, np.nan],
        "tag": ["profit_take", "stop_loss", "profit_take", "expiry"]})
    tables = spread_summaries(spreads)
    table = tables["by_regime"]
    assert sorted(table.index) == sorted([REGIME_NAMES[0], REGIME_NAMES[3], "n/a"])
    assert table.loc[REGIME_NAMES[3], "spreads"] == 2
    by_exit = tables["by_exit"]
    assert by_exit.loc["profit_take", "total_pnl"] == 13.0
    assert by_exit.loc["stop_loss", "win_rate"] == 0.0


def test_the_sweep_heatmap_is_centred_on_zero(tmp_path, monkeypatch):
    """All-negative Sharpes must not show green: the colour scale is symmetric about 0."""
    from matplotlib.axes import Axes

    from sweeps.report import plot_heatmap

    limits = []
    real_imshow = Axes.imshow

    def recording_imshow(self, *args, **kwargs):
        image = real_imshow(self, *args, **kwargs)
        limits.append(image.get_clim())
        return image

    monkeypatch.setattr(Axes, "imshow", recording_imshow)
    table = pd.DataFrame({"symbol": ["SPY"] * 2, "width": [5, 10], "sharpe": [-0.9, -0.2]})
    plot_heatmap(table, "width", None, {"width": [5, 10]}, tmp_path / "h.png")
    (low, high), = limits
    assert low == -high and high >= 0.9
    # two symbols: one scale for both panels (QQQ's 0.40 was as green as SPY's 1.03)
    limits.clear()
    table = pd.DataFrame({"symbol": ["SPY", "SPY", "QQQ", "QQQ"], "width": [5, 10, 5, 10],
                          "sharpe": [1.03, -0.5, 0.40, 0.1]})
    plot_heatmap(table, "width", None, {"width": [5, 10]}, tmp_path / "h2.png")
    assert limits == [(-1.03, 1.03)] * 2


def drawn(monkeypatch, module):
    """The figures ``module._save`` is given, kept open to read their axes."""
    figures = []
    monkeypatch.setattr(module, "_save", lambda fig, path, *a, **k: figures.append(fig) or path)
    return figures


def outside(legend, ax) -> bool:
    """Whether ``legend`` lies wholly above or below ``ax`` (covers none of its data)."""
    fig = ax.figure
    fig.canvas.draw()
    box, panel = legend.get_window_extent(), ax.get_window_extent()
    return box.y0 >= panel.y1 - 1 or box.y1 <= panel.y0 + 1


def test_training_history_of_one_epoch_shows_its_points(monkeypatch, tmp_path):
    from analyzers import model_plots

    figures = drawn(monkeypatch, model_plots)
    model_plots.plot_training_history({"loss": [1.0], "val_loss": [1.1], "accuracy": [0.5],
                                       "val_accuracy": [0.4]}, tmp_path / "h.png")
    for ax in figures[0].axes:
        assert len(ax.lines) == 2
        assert all(line.get_marker() == "o" and len(line.get_xdata()) == 1 for line in ax.lines)


def test_the_train_signal_plot_labels_its_price_and_keeps_the_legend_off_the_panels(
        monkeypatch, tmp_path):
    from analyzers import model_plots

    figures = drawn(monkeypatch, model_plots)
    days = pd.bdate_range("2024-01-02", periods=30)
    predictions = pd.DataFrame({"label": [0, 1, 2] * 10, "lstm": [2, 1, 0] * 10}, index=days)
    model_plots.plot_signal_timeline(predictions, pd.Series(range(100, 130), index=days,
                                                            dtype=float), tmp_path / "s.png")
    price, *bands = figures[0].axes
    assert price.get_ylabel() == "close"
    legend = bands[-1].get_legend()
    assert legend is not None and all(outside(legend, ax) for ax in figures[0].axes)


def test_the_backtest_signal_plot_labels_its_price_and_puts_the_legend_above_it(
        monkeypatch, tmp_path):
    from types import SimpleNamespace

    from analyzers import report

    figures = drawn(monkeypatch, report)
    days = pd.bdate_range("2024-01-02", periods=60)
    lines = pd.DataFrame({"date": days, "RuleSignal.direction": [1, 0, -1] * 20})
    result = SimpleNamespace(symbol="SPY", lines=lines,
                             bars=pd.DataFrame({"close": np.linspace(100, 110, 60)}, index=days))
    report.plot_signal_distribution(result, tmp_path / "d.png",
                                    pd.Series([1, -1] * 30, index=days, dtype=float))
    price = figures[0].axes[0]
    assert price.get_ylabel() == "close"
    assert price.get_legend() is not None and outside(price.get_legend(), price)


def test_a_spread_runs_tear_sheet_counts_option_volume_not_shares(monkeypatch, tmp_path,
                                                                  sample_market):
    from analyzers import report
    from engine.backtest import BacktestSettings, run_symbol

    settings = BacktestSettings(start=pd.Timestamp("2024-01-02"), end=pd.Timestamp("2024-03-28"),
                                strategy="credit-spread", progress=False, record_lines=False)
    result = run_symbol(sample_market, "SPY", settings)
    assert len(result.transactions)
    figures = drawn(monkeypatch, report)
    report.write_tearsheets(result, tmp_path, sheets=("tearsheet_transactions.png",),
                            stats=False)
    labels = [ax.get_ylabel() for ax in figures[0].axes]
    assert "shares + option contracts x 100 traded" in labels
    assert "Amount of shares traded" not in labels


def test_the_transaction_time_panel_shows_each_fill_at_its_time_of_day(monkeypatch, tmp_path,
                                                                      sample_market):
    """Shares fill at the session's open, option legs at its close (13:00 on half-days):
    pyfolio's "Transaction time distribution" (09:30 to 16:00 New York) has its volume
    there, not an empty axis."""
    from analyzers import report
    from engine.backtest import BacktestSettings, run_symbol

    window = dict(start=pd.Timestamp("2024-01-02"), end=pd.Timestamp("2024-12-31"),
                  progress=False, record_lines=False)
    for strategy, minutes in (("equity", [9 * 60 + 30]), ("credit-spread", [16 * 60, 13 * 60])):
        result = run_symbol(sample_market, "SPY", BacktestSettings(strategy=strategy, **window))
        assert len(result.transactions)
        figures = drawn(monkeypatch, report)
        report.write_tearsheets(result, tmp_path, sheets=("tearsheet_transactions.png",),
                                stats=False)
        panel, = [ax for ax in figures[-1].axes
                  if ax.get_title().startswith("Transaction time distribution")]
        bars = [(p.get_x(), p.get_height()) for p in panel.patches if p.get_height() > 0]
        assert bars, strategy
        assert all(min(abs(x - m) for m in minutes) < 5 for x, _ in bars), (strategy, bars)
        most = max(bars, key=lambda bar: bar[1])[0]
        assert abs(most - minutes[0]) < 5, (strategy, bars)


def test_feature_importance_draws_the_features_that_move_calls_and_counts_the_rest(
        monkeypatch, tmp_path):
    """The regime head reads only the HMM's probabilities: the other features' importance is
    exactly 0. They used to fill the top 20 as empty bars while the negative ones were cut."""
    from analyzers import model_plots

    importance = pd.Series([0.0] * 33 + [-0.096, -0.02, 0.01, 0.03],
                           index=[f"f{i}" for i in range(33)] + ["p_a", "p_b", "p_c", "p_d"])
    figures = drawn(monkeypatch, model_plots)
    model_plots.plot_feature_importance(importance, tmp_path / "fi.png")
    ax = figures[0].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["p_c", "p_b", "p_d", "p_a"]
    assert "33 of 37 features change no call when shuffled" in ax.get_title()


def test_train_returns_vs_market_curves_start_at_zero_at_the_first_decision(monkeypatch,
                                                                           tmp_path):
    """The first return is earned from the first decision's close to the next: each curve
    starts at 0 on the decision day, not already +-2 % on the day after."""
    from analyzers import model_plots

    days = pd.bdate_range("2024-01-02", periods=30)
    close = pd.Series(100 * np.cumprod(1 + np.r_[0, np.full(29, 0.02)]), index=days)
    predictions = pd.DataFrame({"regime": [2, 1, 0] * 10, "rule": [2] * 30}, index=days)
    returns = model_plots.signal_returns(predictions, close)
    figures = drawn(monkeypatch, model_plots)
    model_plots.plot_returns_vs_market(returns, tmp_path / "r.png", "SPY")
    curves = [line for line in figures[0].axes[0].get_lines() if line.get_label()[0] != "_"]
    assert len(curves) == 3  # regime, rule, buy & hold
    for line in curves:
        x, y = line.get_xdata(), line.get_ydata()
        assert y[0] == 0.0 and pd.Timestamp(x[0]) == days[0], line.get_label()
    market = curves[-1].get_ydata()
    assert market[-1] == pytest.approx(100 * (close.iloc[-1] / close.iloc[0] - 1))


def test_a_spread_row_names_its_regime_by_the_code_order_skip_regimes_uses():
    from types import SimpleNamespace

    from analyzers.spread_trades import SpreadTrades
    from core.domain import REGIME_NAMES

    day = pd.Timestamp("2024-03-04").date()
    leg = SimpleNamespace(symbol="X", strike=100.0)
    position = SimpleNamespace(
        id=1, underlying="SPY", kind="put_credit", status="open", is_open=True, entry_date=day,
        exit_date=None, expiry=day + pd.Timedelta(days=30), short=leg, long=leg, contracts=1,
        entry_credit=1.0, exit_debit=None, realized_pnl=0.0, unrealized_pnl=0.0,
        commission=1.3, max_loss=400.0, exit_reason=None, tag="")
    analyzer = SimpleNamespace(_regime_at={("SPY", day): 2.0})
    row = SpreadTrades._row(analyzer, position, -0.3)
    assert (row["regime_at_entry"], row["regime_name_at_entry"]) == (2.0, REGIME_NAMES[2])
    analyzer._regime_at = {}
    row = SpreadTrades._row(analyzer, position, -0.3)
    assert np.isnan(row["regime_at_entry"]) and row["regime_name_at_entry"] is None


def test_each_call_is_shaded_from_its_session_to_the_next_without_gaps():
    from analyzers.report import call_spans

    days = pd.bdate_range("2024-06-13", periods=5)  # Thu .. Wed, a weekend inside
    spans = call_spans(pd.Series([1.0, -1.0, -1.0, 0.0, 1.0], index=days))
    edges = sorted(span for runs in spans.values() for span in runs)
    for (start, width), (following, _) in zip(edges, edges[1:], strict=False):
        assert start + width == following  # runs meet: no blank between calls
    assert len(spans[1.0]) == 2 and len(spans[-1.0]) == 1 and len(spans[0.0]) == 1
    one_day = spans[0.0][0][1]
    assert one_day == 1.0  # a one-session call (Tue) is a session wide
