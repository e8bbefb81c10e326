"""The report folder of a portfolio backtest (``run.py backtest --portfolio``).

pyfolio's tear sheets of the one account, with every symbol's shares and every option leg
as positions and transactions, the per-symbol attribution and the correlation of the
symbols' daily P&L. Layout::

    REPORT/summary.txt            the printed summary, byte for byte
    REPORT/metrics.json           the run, the account's metrics, each symbol's attribution
    REPORT/attribution.csv        per symbol: P&L, contribution, trades, win rate, ...
    REPORT/pnl.csv                each symbol's cumulative P&L per session
    REPORT/pnl_correlation.csv    correlation of the symbols' daily P&L
    REPORT/positions.csv          the account's holdings per session (pyfolio format)
    REPORT/transactions.csv       every share fill and option-leg fill (pyfolio format)
    REPORT/trades.csv, spreads.csv, spreads_by_*.csv, spreads.png (credit spreads)
    REPORT/returns.csv, performance.csv, pnl_by_symbol.png,
    REPORT/tearsheet_returns.png, tearsheet_positions.png, tearsheet_transactions.png
    REPORT/index.html             one page with the tables and pictures
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from analyzers.report import (
    _save,
    header_text,
    plt,
    table_html,
    write_spread_tables,
    write_tearsheets,
)
from core.atomic import replace_folder
from core.csv_format import CSV_FLOAT_FORMAT

PICTURES = ("pnl_by_symbol.png", "tearsheet_returns.png", "tearsheet_positions.png",
            "tearsheet_transactions.png")


def write_portfolio_report(folder: Path, result, summary: str, header: dict) -> list[Path]:
    """Write the whole report folder for ``result`` (an ``engine.portfolio``
    ``PortfolioResult``), swapped in whole as ``analyzers.report.write_report`` does."""
    folder = Path(folder)
    written: list[Path] = []

    def write(tmp: Path) -> None:
        written.extend(folder / p.relative_to(tmp)
                       for p in _write_files(tmp, result, summary, header))

    replace_folder(folder, write)
    return written


def _write_files(folder: Path, result, summary: str, header: dict) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = [plot_pnl_by_symbol(result, folder / "pnl_by_symbol.png")]
    written += write_tearsheets(result, folder, benchmark_name="equal weight (daily rebalanced)")
    if len(result.spreads.columns):  # a credit-spread run
        from analyzers.spread_plots import plot_spreads

        written.append(plot_spreads(result, folder / "spreads.png"))
    tables = {  # name: (table, its first column's name: a reader's pandas finds it)
        "attribution.csv": (result.attribution, "symbol"),
        "pnl.csv": (result.pnl, "date"),
        "pnl_correlation.csv": (result.correlation, "symbol"),
        "positions.csv": (_by_session(result.positions), "date"),
        "transactions.csv": (_exchange_time(result.transactions), "date"),
        "returns.csv": (pd.DataFrame({"portfolio": result.returns,
                                      "equal_weight": result.benchmark}), "date"),
    }
    for name, (table, index_label) in tables.items():
        table.to_csv(folder / name, index_label=index_label, float_format=CSV_FLOAT_FORMAT)
        written.append(folder / name)
    result.trades.to_csv(folder / "trades.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    written.append(folder / "trades.csv")
    if len(result.spreads.columns):
        written += write_spread_tables(result.spreads, folder)
    (folder / "summary.txt").write_text(summary)
    attribution = json.loads(result.attribution.to_json(orient="index"))
    (folder / "metrics.json").write_text(json.dumps(
        {"run": header, "portfolio": {**result.metrics,
                                      "warnings": list(result.warnings)},
         "symbols": attribution}, indent=2) + "\n")
    (folder / "index.html").write_text(_index_html(result, summary, header))
    return written + [folder / n for n in ("summary.txt", "metrics.json", "index.html")]


def plot_pnl_by_symbol(result, path: Path) -> Path:
    """Each symbol's cumulative P&L and the account's, in dollars."""
    fig, ax = plt.subplots(figsize=(11, 5))
    for symbol in result.pnl.columns:
        ax.plot(result.pnl.index, result.pnl[symbol], label=symbol, lw=1.0)
    ax.plot(result.pnl.index, result.pnl.sum(axis=1), label=result.symbol, color="black",
            lw=1.8)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("cumulative P&L ($)")
    ax.set_title("P&L by symbol in one account")
    ax.legend(loc="upper left", ncol=min(len(result.pnl.columns) + 1, 6))
    return _save(fig, path)


#: attribution columns that are shares, shown as percentages as the summary prints them
PERCENT_COLUMNS = ("contribution", "win_rate", "signal_hit_rate", "benchmark_return")


def _attribution_shown(attribution: pd.DataFrame) -> pd.DataFrame:
    """The attribution table as the summary writes it: shares as percentages (a 1.52 %
    contribution was "0.02"), missing ones as n/a."""
    shown = attribution.copy()
    for column in PERCENT_COLUMNS:
        if column in shown:
            shown[column] = [f"{100 * v:.2f}%" if pd.notna(v) else "n/a"
                             for v in shown[column]]
    return shown


def _index_html(result, summary: str, header: dict) -> str:
    money = lambda v: f"{v:,.2f}"  # noqa: E731
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             "<title>Portfolio backtest report</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
             "img{max-width:100%}pre{background:#f4f4f4;padding:1em}</style></head><body>",
             "<h1>Portfolio backtest report</h1>", "<table>"]
    parts += [f"<tr><th align=left>{html.escape(str(k))}</th>"
              f"<td>{html.escape(header_text(v))}</td></tr>" for k, v in header.items()]
    parts += ["</table>", f"<pre>{html.escape(summary)}</pre>",
              "<h2>attribution (<a href='attribution.csv'>attribution.csv</a>)</h2>",
              _attribution_shown(result.attribution).to_html(float_format=money),
              "<h2>correlation of daily P&amp;L</h2>",
              result.correlation.to_html(float_format=lambda v: f"{v:.2f}", na_rep="n/a")]
    pictures = [*PICTURES[:1], *(["spreads.png"] if len(result.spreads.columns) else []),
                *PICTURES[1:]]
    for picture in pictures:
        parts.append(f"<h2>{picture[:-4].replace('_', ' ')}</h2>"
                     f"<img src='{picture}' alt='{picture}'>")
    if len(result.spreads.columns):
        parts.append("<h2>credit spreads (<a href='spreads.csv'>spreads.csv</a>)</h2>")
        legs = result.spreads[["status", "underlying", "entry_date", "exit_date", "kind",
                               "short_leg", "long_leg", "contracts", "entry_credit",
                               "exit_debit", "pnl", "tag", "exit_reason"]]
        parts.append(table_html(legs, index=False))
        from analyzers.spread_trades import spread_summaries

        for name, table in spread_summaries(result.spreads).items():
            parts.append(f"<h3>{name.replace('_', ' ')} (<a href='spreads_{name}.csv'>"
                         f"spreads_{name}.csv</a>)</h3>"
                         + table_html(table, percent=("win_rate",)))
    files = ["positions.csv", "transactions.csv", "returns.csv", "pnl.csv",
             "pnl_correlation.csv", "metrics.json", "performance.csv"]
    if len(result.trades):  # a spread strategy's trades are its spreads (above)
        files.insert(2, "trades.csv")
    parts.append("<p>" + " · ".join(f"<a href='{name}'>{name}</a>" for name in files)
                 + "</p></body></html>")
    return "\n".join(parts) + "\n"


def _by_session(frame: pd.DataFrame) -> pd.DataFrame:
    """A daily frame on pyfolio's midnight-UTC index, written by session date (its
    midnight UTC would read as the evening before in New York)."""
    frame = frame.copy()
    frame.index = pd.DatetimeIndex(frame.index).tz_localize(None).date
    frame.index.name = "date"
    return frame


def _exchange_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Transactions stored at their instants (UTC), written in New York time."""
    from feeds.calendar import EXCHANGE_TZ

    frame = frame.copy()
    if len(frame):
        frame.index = pd.DatetimeIndex(frame.index).tz_convert(EXCHANGE_TZ)
    frame.index.name = "date"
    return frame
