"""The printed results of a portfolio backtest: each symbol's ``SYMBOL: Return: x%`` line
as its contribution to the one account (its P&L / the starting cash), then
``PORTFOLIO: Return: x%``, a table per symbol and for the account, and the correlation of
the symbols' daily P&L.

The contributions add up to the portfolio's return, so a reader of the per-symbol mode's
lines (each symbol alone with the full cash) sees at once which mode printed them.
"""

from __future__ import annotations

from engine.portfolio import PORTFOLIO, PortfolioResult
from engine.summary import _num, _pct


def format_portfolio_summary(result: PortfolioResult, header: dict) -> str:
    """The summary text of ``result`` (``header`` as for ``engine.summary.format_summary``)."""
    m = result.metrics
    lines = [f"Backtest: {header['strategy']} strategy on {header['signals']} signals, "
             f"{_window(header)}, one account of cash {header['cash']:,.0f} "
             f"for {', '.join(result.symbols)}",
             f"Source: {header['source_description']}",
             "Each symbol's Return is its contribution: its P&L / the account's starting cash.",
             "", "Results Summary:"]
    lines += [f"{symbol}: Return: {100 * row['contribution']:.2f}%"
              for symbol, row in result.attribution.iterrows()]
    lines.append(f"{PORTFOLIO}: Return: {100 * m['total_return']:.2f}%")
    columns = ("contrib", "P&L", "trades", "win rate", "hit rate", "buy&hold")
    lines += ["", f"{'symbol':<10}" + "".join(f"{c:>12}" for c in columns)]
    for symbol, row in result.attribution.iterrows():
        cells = (_pct(row["contribution"]), f"{row['pnl']:,.0f}", str(int(row["trades"])),
                 _pct(_none(row["win_rate"])), _pct(_none(row["signal_hit_rate"])),
                 _pct(row["benchmark_return"]))
        lines.append(f"{symbol:<10}" + "".join(f"{c:>12}" for c in cells))
    account = ("return", "annual", "sharpe", "max dd", "trades", "win rate", "eq. weight")
    cells = (_pct(m["total_return"]), _pct(m["annual_return"]), _num(m["sharpe"]),
             _pct(m["max_drawdown"]), str(m["trades"]), _pct(m["win_rate"]),
             _pct(m["benchmark_return"]))
    lines += ["", f"{'account':<10}" + "".join(f"{c:>12}" for c in account),
              f"{PORTFOLIO:<10}" + "".join(f"{c:>12}" for c in cells)]
    if len(result.symbols) > 1:
        lines += ["", "Correlation of the symbols' daily P&L:",
                  result.correlation.to_string(float_format=lambda v: f"{v:.2f}",
                                               na_rep="n/a")]
    warnings = [f"warning: {PORTFOLIO}: {w}" for w in result.warnings]
    if warnings:
        lines += ["", *warnings]
    return "\n".join(lines) + "\n"


def _none(value):
    """None for the NaN a DataFrame row makes of a missing rate."""
    return None if value is None or value != value else value


def _window(header: dict) -> str:
    """The window run, and the one asked for when they differ (``window_header``)."""
    window = f"{header['start']}..{header['end']}"
    if "requested_start" in header:
        window += f" (requested {header['requested_start']}..{header['requested_end']})"
    return window
