"""The printed results of a backtest: seed 003's ``SYMBOL: Return: x%`` lines, then a
metrics table (shared by ``run.py backtest`` and ``run.py ml-trading --mode backtest``),
then every warning a reader needs to trust the numbers."""

from __future__ import annotations

import sys


def window_header(results, requested_start, requested_end) -> dict:
    """``start``/``end`` of the window actually run (the first traded session after warm-up
    of any symbol .. the last bar of any symbol), and the requested dates when they differ,
    so a header never claims a window the run did not trade."""
    start = min(r.metrics["start"] for r in results)
    end = max(r.metrics["end"] for r in results)
    header = {"start": start, "end": end}
    asked = (f"{requested_start:%Y-%m-%d}", f"{requested_end:%Y-%m-%d}")
    if (start, end) != asked:
        header.update(requested_start=asked[0], requested_end=asked[1])
    return header


def format_summary(results, header: dict, errors: dict[str, str] | None = None) -> str:
    """The printed results: seed 003's ``SYMBOL: Return: x%`` lines (``SYMBOL: error: ...``
    for a symbol that failed), a metrics table, then ``warning: SYMBOL: ...`` lines."""
    window = f"{header['start']}..{header['end']}"
    if "requested_start" in header:
        window += f" (requested {header['requested_start']}..{header['requested_end']})"
    lines = [f"Backtest: {header['strategy']} strategy on {header['signals']} signals, "
             f"{window}, cash {header['cash']:,.0f} per symbol",
             f"Source: {header['source_description']}", "", "Results Summary:"]
    lines += [f"{r.symbol}: Return: {100 * r.metrics['total_return']:.2f}%" for r in results]
    lines += [f"{symbol}: error: {message}" for symbol, message in (errors or {}).items()]
    columns = ("return", "annual", "sharpe", "max dd", "trades", "win rate", "hit rate",
               "buy&hold")
    lines += ["", f"{'symbol':<8}" + "".join(f"{c:>10}" for c in columns)]
    for r in results:
        m = r.metrics
        cells = (_pct(m["total_return"]), _pct(m["annual_return"]), _num(m["sharpe"]),
                 _pct(m["max_drawdown"]), str(m["trades"]), _pct(m["win_rate"]),
                 _pct(m.get("signal_hit_rate")), _pct(m["benchmark_return"]))
        lines.append(f"{r.symbol:<8}" + "".join(f"{c:>10}" for c in cells))
    warnings = [f"warning: {r.symbol}: {w}" for r in results for w in getattr(r, "warnings", ())]
    if warnings:
        lines += ["", *warnings]
    return "\n".join(lines) + "\n"


def print_summary(summary: str, quiet: bool) -> None:
    """The summary on stdout; with ``-q`` only its ``Results Summary:`` and ``SYMBOL:
    Return:`` lines there, and its ``warning:`` lines on stderr: a quiet run still says
    when its numbers cannot be trusted (a silent 0.00 % is never the whole story)."""
    if not quiet:
        print(summary, end="")
        return
    lines = summary.splitlines()
    print("\n".join(line for line in lines if ": Return: " in line or
                    line == "Results Summary:"))
    for line in lines:
        if line.startswith("warning: "):
            print(line, file=sys.stderr)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"
