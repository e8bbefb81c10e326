"""``python run.py backtest --portfolio``: every symbol in one account (``engine.portfolio``),
its summary (each symbol's contribution, then the PORTFOLIO line) and its report folder."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from cli import options
from cli.strategy_config import in_flags
from core.atomic import atomic_write_file
from core.csv_format import CSV_FLOAT_FORMAT
from core.errors import DataError
from engine.backtest import BacktestSettings


def run_portfolio_backtest(args, source, source_name: str, symbols: list[str],
                           settings: BacktestSettings, warnings: list[str] = ()) -> int:
    """The rest of ``run_backtest_command`` once the source, window and settings are known
    (``warnings``: what the command found before the run, said with the account's)."""
    from engine.portfolio import run_portfolio
    from engine.portfolio_summary import format_portfolio_summary
    from engine.summary import print_summary, window_header

    try:
        result = run_portfolio(source, symbols, settings)
    except DataError as exc:  # the engine names config fields; the user typed flags
        raise DataError(in_flags(str(exc))) from None
    result.warnings += list(warnings)
    header = {"command": "backtest --portfolio", "source": source_name,
              "source_description": source.describe(), "strategy": args.strategy,
              "signals": args.signals, "symbols": ",".join(symbols),
              **window_header([result], settings.start, settings.end),
              "cash": args.cash, **options.costs(args), "seed": args.seed,
              **options.strategy_settings(args, settings.config)}
    summary = format_portfolio_summary(result, header)
    print_summary(summary, args.quiet)
    if args.signals == "ml":  # each symbol's calls scored, as a backtest per symbol does
        from cli.backtest import print_window_scores

        scores = result.metrics.setdefault("ml_signal_scores", {})
        summary += print_window_scores(args, source, [
            (s, result.lines, settings.start, settings.end, functools.partial(
                scores.__setitem__, s)) for s in symbols])
        if not scores:
            del result.metrics["ml_signal_scores"]
    if args.export_lines:
        atomic_write_file(args.export_lines, lambda tmp: result.lines.to_csv(tmp, index=False,
                                                                             float_format=CSV_FLOAT_FORMAT))
        if not args.quiet:
            print(f"\nLines exported to {args.export_lines}")
    if not args.no_report:
        from analyzers.portfolio_report import write_portfolio_report

        folder = args.report or Path("reports") / (
            f"{source_name}_{args.strategy}_portfolio_{settings.start:%Y%m%d}_"
            f"{settings.end:%Y%m%d}")
        write_portfolio_report(folder, result, summary, header)
        if not args.quiet:
            print(f"\nReport written to {folder}/ (open {folder}/index.html)", file=sys.stdout)
    return 0
