"""The report folder of a backtest: pyfolio tearsheets, plots, trades, metrics, index.html.

Rendered headless with matplotlib's Agg backend (backtrader's own plotting would force
TkAgg, which needs a display). Layout::

    REPORT/summary.txt           the printed summary, byte for byte
    REPORT/metrics.json|csv      every symbol's metrics
    REPORT/trades.csv            every trade of every symbol
    REPORT/index.html            one page with the tables and pictures
    REPORT/<SYMBOL>/metrics.json, trades.csv, returns.csv, performance.csv,
                    returns_vs_market.png, signal_distribution.png,
                    tearsheet_returns.png, tearsheet_positions.png, tearsheet_transactions.png
                    (backtrader_plot.png: backtrader's own figure, with ``--plot``;
                    a credit-spread run: spreads.png, spreads.csv, spreads_by_*.csv)
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import warnings
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analyzers.percent_ticks import readable_percents  # noqa: E402
from analyzers.pyfolio_drawdowns import drawdowns_from  # noqa: E402
from analyzers.render_pool import run_jobs  # noqa: E402
from analyzers.tearsheet_speed import faster_tearsheets, freeze_ticks  # noqa: E402
from analyzers.window import daily_returns  # noqa: E402
from core.atomic import replace_folder  # noqa: E402
from core.csv_format import CSV_FLOAT_FORMAT
from core.domain import DIRECTION_NAMES  # noqa: E402

DIRECTION_COLORS = {1: "#2ca02c", 0: "#c7c7c7", -1: "#d62728"}


def quietly():
    """pyfolio prints IPython placeholders and warns about zipline; keep stdout clean."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def _utc(frame):
    frame = frame.copy()
    index = pd.DatetimeIndex(frame.index)
    frame.index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    frame.index = frame.index.normalize()
    return frame


TEARSHEETS = ("tearsheet_returns.png", "tearsheet_positions.png", "tearsheet_transactions.png")


def pyfolio_inputs(result, benchmark_name: str | None = None):
    """What the tear sheets and performance.csv are given: the window's daily returns and
    the benchmark's (``analyzers.window.daily_returns``: every session's but the first,
    whose close is the starting point; pyfolio counts every row as a day, so the summary's
    figures and performance.csv agree, and a window starting on a year's last session has
    no one-session year) at midnight UTC of their session, the positions on those sessions
    (shares and option legs in dollars, and cash), and the transactions at the instants
    they filled (pyfolio draws their time of day in New York)."""
    returns = _utc(daily_returns(result.returns))
    benchmark = _utc(daily_returns(result.benchmark)).rename(
        benchmark_name or f"{result.symbol} buy & hold")
    positions = _utc(result.positions)
    positions = positions.loc[positions.index.isin(returns.index)]
    return returns, benchmark, positions, result.transactions


def write_tearsheets(result, folder: Path, fast: bool = True, sheets: tuple = TEARSHEETS,
                     stats: bool = True, benchmark_name: str | None = None) -> list[Path]:
    """pyfolio's returns, positions and transactions tear sheets as PNG files (``sheets``:
    which of them) and its performance statistics as performance.csv (``stats``); the
    benchmark is named ``benchmark_name`` (default: the symbol's buy & hold).

    ``fast`` draws them under ``analyzers.tearsheet_speed.faster_tearsheets`` (the same
    figures in less time); ``fast=False`` is pyfolio as shipped, kept for the benchmark and
    the tests that hold the two equal."""
    with quietly():
        import pyfolio as pf

    returns, benchmark, positions, transactions = pyfolio_inputs(result, benchmark_name)
    written = []
    # its drawdown panels from the starting cash, the first session (the summary's max dd)
    start = _utc(result.returns.to_frame()).index[0]
    with quietly(), drawdowns_from(start), \
            faster_tearsheets() if fast else contextlib.nullcontext():
        make = {
            "tearsheet_returns.png": lambda: pf.create_returns_tear_sheet(
                returns, positions=positions, transactions=transactions,
                benchmark_rets=benchmark, return_fig=True),
            "tearsheet_positions.png": lambda: pf.create_position_tear_sheet(
                returns, positions, return_fig=True),
            "tearsheet_transactions.png": lambda: pf.create_txn_tear_sheet(
                returns, positions, transactions, return_fig=True),
        }
        held = positions.drop(columns="cash", errors="ignore")
        never_held = held.empty or not np.abs(held.to_numpy(dtype=float)).any()
        for name in sheets:
            if name == "tearsheet_transactions.png" and len(transactions) == 0:
                fig = _message_figure("No transactions: the strategy never traded in this window.")
            elif name == "tearsheet_positions.png" and never_held:
                fig = _message_figure("No positions: the strategy held nothing in this window.")
            else:
                fig = make[name]()
                if len(result.spreads.columns):
                    _label_option_volume(fig)
                readable_percents(fig)
                if fast:
                    freeze_ticks(fig)
            written.append(_save(fig, folder / name, dpi=70))
        if not stats:
            return written
        stats_table = pf.timeseries.perf_stats(
            returns, factor_returns=benchmark, positions=positions,
            transactions=transactions if len(transactions) else None)
    stats_table.rename("value").to_csv(folder / "performance.csv", index_label="statistic",
                                       float_format=CSV_FLOAT_FORMAT)
    written.append(folder / "performance.csv")
    return written


def _label_option_volume(fig) -> None:
    """pyfolio labels traded volume as shares; in a spread run it counts option shares
    (contracts x 100) too."""
    for ax in fig.axes:
        if ax.get_ylabel() == "Amount of shares traded":
            ax.set_ylabel("shares + option contracts x 100 traded")


def _message_figure(text: str):
    fig, ax = plt.subplots(figsize=(8, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    return fig


def _save(fig, path: Path, dpi: int = 100) -> Path:
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_returns_vs_market(result, path: Path) -> Path:
    """Cumulative return of the strategy against buying and holding the symbol."""
    strategy = (1.0 + result.returns).cumprod() - 1.0
    market = (1.0 + result.benchmark).cumprod() - 1.0
    drawdown = (1.0 + strategy) / (1.0 + strategy).cummax() - 1.0
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.plot(strategy.index, 100 * strategy, label="strategy", color="#1f77b4")
    top.plot(market.index, 100 * market, label=f"{result.symbol} buy & hold", color="#7f7f7f")
    top.axhline(0, color="black", lw=0.5)
    top.set_ylabel("cumulative return (%)")
    top.set_title(f"{result.symbol}: strategy vs market")
    top.legend(loc="upper left")
    bottom.fill_between(drawdown.index, 100 * drawdown, 0, color="#d62728", alpha=0.4)
    bottom.set_ylabel("drawdown (%)")
    return _save(fig, path)


def plot_signal_distribution(result, path: Path, realized: pd.Series) -> Path:
    """Predicted direction over time against the realized direction (where it is known)."""
    lines = result.lines
    column = next((c for c in lines.columns if c.endswith(".direction")), None)
    fig, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True,
                             gridspec_kw={"height_ratios": [2, 1, 1]})
    price = result.bars["close"]
    axes[0].plot(price.index, price, color="black", lw=0.8)
    axes[0].set_ylabel("close")
    fig.suptitle(f"{result.symbol}: predicted signal (shaded) and price")
    if column is None:
        axes[1].text(0.5, 0.5, "no direction line", ha="center")
    else:
        predicted = pd.Series(lines[column].to_numpy(),
                              index=pd.DatetimeIndex(pd.to_datetime(lines["date"])))
        predicted = predicted.reindex(price.index)
        spans = call_spans(predicted)
        low, high = float(price.min()), float(price.max())
        for value, color in DIRECTION_COLORS.items():
            # each call holds from its session to the next one: a one-session call is a
            # session wide and runs meet without gaps
            axes[0].broken_barh(spans.get(value, []), (low, high - low), color=color,
                                alpha=0.15, label=DIRECTION_NAMES[value], zorder=0)
        # above the panel, so it never covers the price
        axes[0].legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, frameon=False)
        for ax, series, title in ((axes[1], predicted, "predicted direction (monthly share)"),
                                  (axes[2], realized.reindex(price.index),
                                   "realized direction (monthly share, next sessions)")):
            _monthly_shares(ax, series, title)
    return _save(fig, path)


def call_spans(predicted: pd.Series) -> dict[float, list[tuple[float, float]]]:
    """``{call: [(start, width), ...]}`` in matplotlib date numbers: each run of one call
    from its first session to the session after its last (the last run: one session
    more), for ``broken_barh``. Sessions without a call are left out."""
    import matplotlib.dates as mdates

    known = predicted.dropna()
    if known.empty:
        return {}
    days = mdates.date2num(pd.DatetimeIndex(known.index).to_pydatetime())
    step = float(np.median(np.diff(days))) if len(days) > 1 else 1.0
    ends = np.append(days[1:], days[-1] + step)
    values = known.to_numpy()
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    stops = np.r_[starts[1:], len(values)] - 1
    spans: dict[float, list[tuple[float, float]]] = {}
    for first, last in zip(starts, stops, strict=True):
        spans.setdefault(float(values[first]), []).append(
            (float(days[first]), float(ends[last] - days[first])))
    return spans


def _monthly_shares(ax, series: pd.Series, title: str) -> None:
    known = series.dropna()
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, 1)
    if known.empty:
        ax.text(0.5, 0.5, "not known yet", ha="center", transform=ax.transAxes)
        return
    counts = known.groupby([known.index.to_period("M"), known]).size().unstack(fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    months = shares.index.to_timestamp()
    bottom = np.zeros(len(shares))
    width = 25 if len(shares) > 1 else 20
    for value in (1, 0, -1):
        if value in shares.columns:
            share = shares[value].to_numpy()
            ax.bar(months, share, bottom=bottom, width=width, align="edge",
                   color=DIRECTION_COLORS[value], label=DIRECTION_NAMES[value])
            bottom += share


def saved_metrics(result) -> dict:
    """A symbol's metrics as metrics.json holds them: with its warnings (the list a reader
    must see beside the numbers)."""
    return {**result.metrics, "warnings": list(getattr(result, "warnings", ()))}


def write_symbol_report(result, folder: Path, realized: pd.Series, fast: bool = True,
                        workers: int | None = 1) -> list[Path]:
    """One symbol's folder. ``workers`` > 1 (None: one a core) draws its pictures in
    parallel (``analyzers.render_pool``): the returns tear sheet, the longest, on its own;
    the files are the same."""
    folder.mkdir(parents=True, exist_ok=True)
    returns_sheet, plots, rest = run_jobs([  # module functions: a job may go pickled
        partial(write_tearsheets, result, folder, fast, sheets=TEARSHEETS[:1], stats=False),
        partial(_write_symbol_plots, result, folder, realized),
        partial(_write_other_sheets_and_tables, result, folder, fast),
    ], workers)
    return plots + returns_sheet + rest


def _write_symbol_plots(result, folder: Path, realized: pd.Series) -> list[Path]:
    written = [plot_returns_vs_market(result, folder / "returns_vs_market.png"),
               plot_signal_distribution(result, folder / "signal_distribution.png", realized)]
    if len(result.spreads.columns):  # a credit-spread run
        from analyzers.spread_plots import plot_spreads

        written.append(plot_spreads(result, folder / "spreads.png"))
    return written


def _write_other_sheets_and_tables(result, folder: Path, fast: bool) -> list[Path]:
    return (write_tearsheets(result, folder, fast, sheets=TEARSHEETS[1:])
            + _write_symbol_tables(result, folder))


def _write_symbol_tables(result, folder: Path) -> list[Path]:
    written = []
    if getattr(result, "plot_png", None):
        (folder / "backtrader_plot.png").write_bytes(result.plot_png)
        written.append(folder / "backtrader_plot.png")
    result.trades.to_csv(folder / "trades.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    pd.DataFrame({"strategy": result.returns, "market": result.benchmark}).to_csv(
        folder / "returns.csv", index_label="date", float_format=CSV_FLOAT_FORMAT)
    (folder / "metrics.json").write_text(json.dumps(saved_metrics(result), indent=2) + "\n")
    written += [folder / "trades.csv", folder / "returns.csv", folder / "metrics.json"]
    if len(result.spreads.columns):
        written += write_spread_tables(result.spreads, folder)
    return written


def write_spread_tables(spreads: pd.DataFrame, folder: Path) -> list[Path]:
    """spreads.csv (every spread with both legs' OCC symbols) and the summary tables."""
    from analyzers.spread_trades import spread_summaries

    spreads.to_csv(folder / "spreads.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    written = [folder / "spreads.csv"]
    for name, table in spread_summaries(spreads).items():
        path = folder / f"spreads_{name}.csv"
        table.to_csv(path, float_format=CSV_FLOAT_FORMAT)
        written.append(path)
    return written


def write_report(folder: Path, results: list, summary: str, header: dict,
                 realized_for, fast: bool = True, workers: int | None = None,
                 extra=None) -> list[Path]:
    """Write the whole report folder; ``realized_for(result)`` gives the realized direction;
    ``extra(temporary_folder)`` adds a command's own files before the swap (ml-trading's
    model tables), so they are part of the report whole or not at all.

    ``workers`` processes draw the symbols' pictures (None: one a core; 1: here, one after
    another): several symbols are drawn side by side, one symbol's pictures side by side.
    ``fast=False`` draws the tear sheets with pyfolio as shipped (the benchmark's old path).

    The report is built in a temporary folder beside ``folder`` and swapped in whole, so an
    interrupted run leaves the previous report as it was, never old and new files mixed."""
    folder = Path(folder)
    written: list[Path] = []

    def write(tmp: Path) -> None:
        written.extend(folder / path.relative_to(tmp)
                       for path in _write_report_files(tmp, results, summary, header,
                                                       realized_for, fast, workers))
        if extra is not None:
            extra(tmp)

    replace_folder(folder, write)
    return written


def _write_report_files(folder: Path, results: list, summary: str, header: dict,
                        realized_for, fast: bool = True,
                        workers: int | None = None) -> list[Path]:
    written = []
    if len(results) == 1:
        written += write_symbol_report(results[0], folder / results[0].symbol,
                                       realized_for(results[0]), fast, workers)
    else:
        realized = [realized_for(result) for result in results]
        for paths in run_jobs([partial(write_symbol_report, result, folder / result.symbol,
                                       known, fast) for result, known in zip(results, realized,
                                                                              strict=True)],
                              workers):
            written += paths
    (folder / "summary.txt").write_text(summary)
    metrics = {r.symbol: saved_metrics(r) for r in results}
    (folder / "metrics.json").write_text(json.dumps({"run": header, "symbols": metrics},
                                                    indent=2) + "\n")
    flat = pd.DataFrame({s: {k: "; ".join(v) if isinstance(v, list) else v
                             for k, v in m.items() if not isinstance(v, dict)}
                         for s, m in metrics.items()}).T
    flat.to_csv(folder / "metrics.csv", index_label="symbol", float_format=CSV_FLOAT_FORMAT)
    pd.concat([r.trades for r in results], ignore_index=True).to_csv(folder / "trades.csv",
                                                                     index=False,
                                                                     float_format=CSV_FLOAT_FORMAT)
    (folder / "index.html").write_text(_index_html(results, summary, header))
    written += [folder / n for n in ("summary.txt", "metrics.json", "metrics.csv",
                                     "trades.csv", "index.html")]
    return written


def header_text(value) -> str:
    """A run header's value as the report page shows it: a group of settings as
    ``name=value`` pairs (``target_delta=0.3, width=default, ...``: None is a setting left
    to its default rule), anything else as text."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={header_text(v)}" for k, v in value.items())
    return "default" if value is None else str(value)


def table_html(frame: pd.DataFrame, index: bool = True, percent=()) -> str:
    """A table of a report page with its numbers as the summary writes them: amounts with
    two decimals and thousands separators, the shares in ``percent`` (a win rate) as
    percentages, and a missing value (an open spread's exit, the average win of a group
    that never won) as n/a, never NaN or None."""
    shown = frame.astype(object)
    for column in percent:
        if column in shown:
            shown[column] = [None if _missing(v) else f"{100 * v:.2f}%" for v in frame[column]]
    shown = shown.map(_cell)
    shown.index = ["n/a" if _missing(label) else label for label in shown.index]
    shown.index.name = frame.index.name
    return shown.to_html(index=index)


def _missing(value) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and value != value)


def _cell(value) -> str:
    if _missing(value):
        return "n/a"
    if isinstance(value, float | np.floating):
        return f"{value:,.2f}"
    return str(value)


def _index_html(results, summary: str, header: dict) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Backtest report</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
             "img{max-width:100%}pre{background:#f4f4f4;padding:1em}</style></head><body>",
             "<h1>Backtest report</h1>", "<table>"]
    for key, value in header.items():
        parts.append(f"<tr><th align=left>{html.escape(str(key))}</th>"
                     f"<td>{html.escape(header_text(value))}</td></tr>")
    parts += ["</table>", f"<pre>{html.escape(summary)}</pre>"]
    for result in results:
        name = html.escape(result.symbol)
        parts.append(f"<h2>{name}</h2>")
        pictures = ["returns_vs_market.png", "signal_distribution.png",
                    *(["spreads.png"] if len(result.spreads.columns) else []),
                    "tearsheet_returns.png", "tearsheet_positions.png",
                    "tearsheet_transactions.png"]
        if getattr(result, "plot_png", None):
            pictures.append("backtrader_plot.png")
        for picture in pictures:
            parts.append(f"<h3>{picture[:-4].replace('_', ' ')}</h3>"
                         f"<img src='{name}/{picture}' alt='{picture}'>")
        if len(result.spreads.columns):
            from analyzers.spread_trades import spread_summaries

            parts.append(f"<h3>credit spreads (<a href='{name}/spreads.csv'>spreads.csv</a>)"
                         "</h3>")
            legs = result.spreads[["status", "entry_date", "exit_date", "kind", "short_leg",
                                   "long_leg", "contracts", "entry_credit", "exit_debit", "pnl",
                                   "tag", "exit_reason"]]
            parts.append(table_html(legs, index=False))
            for table_name, table in spread_summaries(result.spreads).items():
                parts.append(f"<h4>{table_name.replace('_', ' ')}</h4>"
                             + table_html(table, percent=("win_rate",)))
        files = ["returns.csv", "metrics.json", "performance.csv"]
        if len(result.trades):  # a spread strategy's trades are its spreads (above)
            files.insert(0, "trades.csv")
        parts.append("<p>" + " · ".join(f"<a href='{name}/{file}'>{file}</a>" for file in files)
                     + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
