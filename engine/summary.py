"""The printed results of a backtest: seed 003's ``SYMBOL: Return: x%`` lines, then a
metrics table (shared by ``run.py backtest`` and ``run.py ml-trading --mode backtest``)."""

from __future__ import annotations


def format_summary(results, header: dict) -> str:
    """The printed results: seed 003's ``SYMBOL: Return: x%`` lines, then a metrics table."""
    lines = [f"Backtest: {header['strategy']} strategy on {header['signals']} signals, "
             f"{header['start']}..{header['end']}, cash {header['cash']:,.0f} per symbol",
             f"Source: {header['source_description']}", "", "Results Summary:"]
    lines += [f"{r.symbol}: Return: {100 * r.metrics['total_return']:.2f}%" for r in results]
    columns = ("return", "annual", "sharpe", "max dd", "trades", "win rate", "hit rate",
               "buy&hold")
    lines += ["", f"{'symbol':<8}" + "".join(f"{c:>10}" for c in columns)]
    for r in results:
        m = r.metrics
        cells = (_pct(m["total_return"]), _pct(m["annual_return"]), _num(m["sharpe"]),
                 _pct(m["max_drawdown"]), str(m["trades"]), _pct(m["win_rate"]),
                 _pct(m.get("signal_hit_rate")), _pct(m["benchmark_return"]))
        lines.append(f"{r.symbol:<8}" + "".join(f"{c:>10}" for c in cells))
    return "\n".join(lines) + "\n"


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"
