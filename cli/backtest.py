"""``python run.py backtest``: a strategy per symbol on historical bars, a results summary
and a report folder (pyfolio tear sheets, plots, trades, metrics)."""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

from cli import options
from cli.strategy_config import (
    check_account,
    check_regimes_have_a_line,
    config_from_args,
    in_flags,
)
from core.atomic import atomic_write_file
from core.csv_format import CSV_FLOAT_FORMAT
from core.errors import DataError

#: the bundled real index data, so a run with no arguments trades real markets offline
DEFAULT_SYMBOLS = "SP500,NASDAQ"
#: the symbols without ``--symbols`` on a source that has no SP500 and NASDAQ
SOURCE_DEFAULT_SYMBOLS = {"sample": "SPY,QQQ", "polygon": "SPY,QQQ"}


def register(commands) -> None:
    p = commands.add_parser(
        "backtest", help="run a historical backtest and write a report",
        description="Backtest a strategy per symbol, print a results summary and write a "
                    "report folder (pyfolio tearsheets, plots, trades, metrics).",
        epilog="Exit codes: 0 every symbol ran; 1 some symbols failed (each printed as "
               "'error: SYMBOL: ...'), the others ran and are in the summary and the report; "
               "2 a bad request (an option, a file, a window) or no symbol could run; "
               "130 interrupted.",
        formatter_class=options.HelpFormatter,
    )
    add_backtest_options(p)
    p.set_defaults(handler=run_backtest_command)


def add_backtest_options(p: argparse.ArgumentParser) -> None:
    data = p.add_argument_group("data")
    options.add_symbols_option(
        data, DEFAULT_SYMBOLS, "comma-separated symbols; bundled has SP500,NASDAQ, the sample "
                               "market SPY,QQQ,IWM,AAPL,MSFT,GOOGL,AMZN,TSLA (default: "
                               "SP500,NASDAQ; SPY,QQQ with --source sample or polygon; every "
                               "file's symbol with --source csv)")
    options.add_source_options(
        data, help="where bars come from: bundled = real S&P 500 / NASDAQ daily bars "
                   "shipped with the arch package (1999-2018); sample = the seeded simulated "
                   "market (2008-2025); sample-noedge = the simulated market without edge "
                   "(its hidden states drive nothing: a model should find nothing there); "
                   "csv = your files (--csv); polygon = Polygon.io; "
                   "auto = bundled when it has every symbol, else sample")
    options.add_window_options(
        data, start="first traded session (default: 3 years before the end date)",
        end="last session (default: the last bar every symbol has; a symbol whose data "
            "runs further is warned)")
    trading = p.add_argument_group("trading")
    options.add_strategy_option(
        trading, "equity", "equity: shares from the direction/confidence lines; "
                           "credit-spread: put/call credit spreads from the signal line, on "
                           "the options broker (legs priced from the option chain)")
    options.add_signals_option(
        trading, ("rule", "ml"), "rule: the trend + RSI baseline indicator; ml: seed 000's "
                                 "StrategySignal, HMM regimes and a strategy head (--head: "
                                 "regime regression by default, or lstm), stored with "
                                 "--model, else trained on the history before --start-date "
                                 "within the run")
    account = options.options_added(trading, options.add_account_options)
    trading.add_argument("--portfolio", action="store_true",
                         help="all symbols in one account, as a paper run on IB trades them: "
                              "one broker, --cash for the whole account, spreads sized by "
                              "the account and sharing its margin; prints each symbol's "
                              "contribution and a PORTFOLIO line (default: each symbol "
                              "alone with the full --cash)")
    equity = options.options_added(trading, options.add_equity_options)
    options.only_with(p, "strategy", "equity",
                      [a for a in account if a.dest == "commission"] + equity)
    ml = p.add_argument_group("ml signals (--signals ml)")
    ml.add_argument("--model", help="'latest', a store timestamp folder name or a path; its "
                                    "training window must end before --start-date (default: "
                                    "train in the run)")
    options.add_models_dir_option(ml)
    options.add_store_label_option(ml)
    options.add_model_config_options(ml)
    options.add_refit_options(ml)
    spreads = p.add_argument_group("credit spreads (--strategy credit-spread)")
    options.add_credit_spread_options(spreads)
    options.add_spread_cap_option(spreads)
    options.add_option_fill_option(spreads)
    options.add_contract_commission_option(spreads)
    options.only_with(p, "signals", "ml", ml._group_actions)
    options.only_with(p, "strategy", "credit-spread", spreads._group_actions)
    output = p.add_argument_group("output")
    options.add_report_option(
        output, "report folder (default: reports/<source>_<strategy>_<start>_<end>, dates as YYYYMMDD)")
    output.add_argument("--no-report", action="store_true", help="print the summary only")
    output.add_argument("--plot", action="store_true",
                        help="also save backtrader's own cerebro.plot() figure of each symbol "
                             "as <report>/<SYMBOL>/backtrader_plot.png (drawn headless)")
    output.add_argument("--export-lines", type=options.path_arg, metavar="FILE",
                        help="write every indicator line of every bar to this CSV")
    options.add_verbosity_options(output)


def run_backtest_command(args) -> int:
    """Every symbol through the backtest; a failure of one symbol (unknown symbol, a
    malformed CSV, too short a history, a model that does not fit) is printed as
    ``error: SYMBOL: ...`` and the others still run (exit code 1); a bad request stops
    the run before any symbol (exit code 2)."""
    from tqdm import tqdm

    from analyzers.render_pool import start_render_server
    from engine.backtest import (
        BacktestSettings,
        check_option_slippage,
        check_spreads_can_trade,
        realized_direction,
        run_symbol,
    )
    from engine.summary import format_summary, print_summary, window_header
    from strategies.registry import strategy_spec

    config = config_from_args(strategy_spec(args.strategy), args)  # refused before any work
    check_regimes_have_a_line(getattr(config, "skip_regimes", ()), args.signals,
                              "--skip-regimes")
    check_account(config, args.cash)
    if args.strategy == "credit-spread":  # as BacktestSettings refuses it, before any work
        check_option_slippage(args.option_fill, args.option_slippage)
    options.check_output_path(args.export_lines, "--export-lines", folder=False)
    if not args.no_report:
        options.check_report_folder(args.report)
    elif args.plot:
        raise DataError("--plot saves its figure into the report folder; drop --no-report")
    elif args.report:
        raise DataError("--no-report writes no report: drop --report or --no-report")
    if args.portfolio and args.plot:
        raise DataError("--plot draws backtrader's figure of each symbol's own run; a "
                        "--portfolio run has one account and no such figure: drop --plot")
    if args.signals == "ml":
        _check_ml_request(args)
        if not args.no_report and (args.model or options.training_spec(args).head == "lstm"):
            # keras will be loaded: the report draws in workers of a fork server, which
            # imports what they need while the networks train
            start_render_server("engine.backtest")
    source, source_name, reason = options.source_from_args(args, args.symbols)
    source.limit_expiries(args.dte_min, args.dte_max)
    args.symbols = options.csv_files_by_default(args, DEFAULT_SYMBOLS, source.symbols)
    if source_name in SOURCE_DEFAULT_SYMBOLS and not options.symbols_given(args,
                                                                            DEFAULT_SYMBOLS):
        args.symbols = options.symbols_arg(SOURCE_DEFAULT_SYMBOLS[source_name])
    errors: dict[str, str] = {}
    symbols = _readable_symbols(source, args.symbols, args.end_date, errors)
    start, end = options.window_from_args(args, source, symbols)
    cut_short = options.common_end_warnings(args, source, symbols, end)
    settings = BacktestSettings(
        start=start, end=end, strategy=args.strategy, signals=args.signals, cash=args.cash,
        commission=args.commission, config=config, option_fill=args.option_fill,
        commission_per_contract=args.commission_per_contract,
        option_slippage=args.option_slippage,
        record_lines=True, progress=not args.quiet, plot=args.plot,
    )
    if not args.quiet:
        print(f"source: {source_name}" + (f" ({reason})" if reason else ""), file=sys.stderr)
    if args.portfolio:  # one account: every symbol must be readable, or nothing runs
        from cli.backtest_portfolio import run_portfolio_backtest

        if errors:
            raise DataError(_all_failed(errors))
        for symbol in symbols if args.signals == "ml" else ():  # before models train
            try:
                check_spreads_can_trade(source, symbol, settings)
            except DataError as exc:  # the engine names config fields; the user typed flags
                raise DataError(in_flags(str(exc))) from None
        models = (ml_models(args, source, symbols, start, end, {})
                  if args.signals == "ml" else {})
        return run_portfolio_backtest(args, source, source_name, symbols,
                                      replace(settings, signal_models=models),
                                      [f"{s}: {w}" for s, w in cut_short.items()])
    results = []
    for symbol in tqdm(symbols, desc="symbols", unit="symbol", leave=False,
                       disable=args.quiet or len(symbols) == 1):
        notes: dict[str, list[str]] = {}
        try:
            if args.signals == "ml":
                check_spreads_can_trade(source, symbol, settings)  # before it trains
            models = (ml_models(args, source, [symbol], start, end, notes)
                      if args.signals == "ml" else {})
            result = run_symbol(source, symbol, replace(settings, signal_models=models))
        except DataError as exc:
            errors[symbol] = _own_message(symbol, exc)
            continue
        result.warnings += notes.get(symbol, []) + (
            [cut_short[symbol]] if symbol in cut_short else [])
        results.append(result)
    if not results:
        raise DataError(_all_failed(errors))
    for symbol, message in errors.items():
        print(f"error: {symbol}: {message}", file=sys.stderr)
    header = {"command": "backtest", "source": source_name,
              "source_description": source.describe(), "strategy": args.strategy,
              "signals": args.signals, "symbols": ",".join(r.symbol for r in results),
              **window_header(results, start, end), "cash": args.cash,
              **options.costs(args), "seed": args.seed,
              **options.strategy_settings(args, config),
              **({"errors": errors} if errors else {})}
    summary = format_summary(results, header, errors)
    print_summary(summary, args.quiet)
    if args.signals == "ml":
        summary += print_window_scores(args, source, [
            (r.symbol, r.lines, *(pd.Timestamp(r.metrics[k]) for k in ("start", "end")),
             functools.partial(r.metrics.__setitem__, "ml_signal_scores")) for r in results])
    if args.export_lines:
        lines = pd.concat([r.lines for r in results], ignore_index=True)
        atomic_write_file(args.export_lines, lambda tmp: lines.to_csv(tmp, index=False,
                                                                      float_format=CSV_FLOAT_FORMAT))
        if not args.quiet:
            print(f"\nLines exported to {args.export_lines}")
    if not args.no_report:
        from analyzers.report import write_report  # matplotlib: only for a report

        folder = args.report or Path("reports") / (
            f"{source_name}_{args.strategy}_{start:%Y%m%d}_{end:%Y%m%d}")
        with tqdm(total=len(results), desc="report", unit="symbol", leave=False,
                  disable=args.quiet) as bar:
            def realized_for(result):
                bar.update(1)
                return realized_direction(source.bars(result.symbol)["close"])
            write_report(folder, results, summary, header, realized_for)
        if not args.quiet:
            print(f"\nReport written to {folder}/ (open {folder}/index.html)")
    return 1 if errors else 0


def print_window_scores(args, source, runs) -> str:
    """The ML signal's calls on the traded sessions scored beside the majority class, the
    rule signal, the oracle and foresight (``engine.ml_scores``): printed after the summary
    (not with -q) and kept in the metrics (``ml_signal_scores`` in metrics.json); returns
    the text, which the report's summary.txt and index.html carry too. ``runs``:
    ``(symbol, recorded lines, first and last traded session, keep)`` per symbol, ``keep``
    storing its table (a symbol's metrics, or a portfolio's per symbol)."""
    from engine.ml_scores import format_window_scores, window_scores
    from feeds.cache import ParquetCache

    labels = options.training_spec(args).labels
    cache = ParquetCache(args.cache_dir)
    tables = {}
    for symbol, lines, start, end, keep in runs:
        table = window_scores(source, symbol, source.bars(symbol, None, end), lines, start,
                              end, labels, cache)
        if table is not None:
            tables[symbol] = table
            keep({name: {k: None if pd.isna(v) else float(v) for k, v in row.items()}
                  for name, row in table.iterrows()})
    if not tables:
        return ""
    text = format_window_scores(tables)
    if not args.quiet:
        print(text)
    return text + "\n"


def _readable_symbols(source, symbols: list[str], end, errors: dict[str, str]) -> list[str]:
    """The symbols whose bars (up to ``end``, None: the last) the source can read; the
    others' reasons go into ``errors`` (read here once, as the backtest will read them, so
    the default end date is taken over the good symbols only and no extra request is
    sent)."""
    good, given = [], {}
    for symbol in symbols:
        try:
            checked = source.check_symbol(symbol)
        except DataError as exc:
            errors[symbol] = _own_message(symbol, exc)
            continue
        if checked in given:  # two names of one symbol (SP500 and its alias SPX)
            raise DataError(f"{given[checked]} and {symbol} both name {checked}; give it once")
        given[checked] = symbol
        try:
            source.bars(checked, None, end)
        except DataError as exc:
            errors[symbol] = _own_message(symbol, exc)
            continue
        good.append(checked)
    if not good:
        raise DataError(_all_failed(errors))
    return good


def _all_failed(errors: dict[str, str]) -> str:
    return "; ".join(f"{symbol}: {message}" for symbol, message in errors.items())


def _own_message(symbol: str, exc: DataError) -> str:
    return in_flags(str(exc).removeprefix(f"{symbol}: "))


def _check_ml_request(args) -> None:
    """The --signals ml flags that contradict each other: refused before any symbol."""
    if args.refit_every and args.model:
        raise DataError("--refit-every trains its models in the run; it cannot use --model")
    for flag, value in (("--head", args.head), ("--epochs", args.epochs)):
        if args.model and value is not None:  # else silently ignored: the stored model's own
            raise DataError(f"{flag} sets how the run trains its model; --model {args.model} "
                            f"scores with a stored one, trained as its metadata.json says: "
                            f"drop {flag} or --model")
    if args.model and args.config:
        from models.config import load_config_file

        unused = sorted(set(load_config_file(args.config)) - {"labels"})
        if unused:  # else silently ignored, as --head and --epochs were
            tables = ", ".join(f"[{t}]" for t in unused)
            raise DataError(f"{args.config}: {tables} set how the run trains its model; "
                            f"--model {args.model} scores with a stored one (only [labels], "
                            "which scores its calls, applies): drop those tables or --model")
    if args.train_years is not None and not (args.refit_every and args.window == "rolling"):
        raise DataError("--train-years needs --refit-every N --window rolling")
    if args.window != "expanding" and not args.refit_every:
        raise DataError(f"--window {args.window} is the window of the refits; it needs "
                        f"--refit-every N")
    if not args.model:
        options.training_spec(args)  # a head, config file or --epochs that cannot work


def ml_models(args, source, symbols: list[str], start: pd.Timestamp,
              end: pd.Timestamp, notes: dict[str, list[str]] | None = None) -> dict:
    """A StrategyModel per symbol: from the store (refused if its training window reaches
    ``start``), else trained on the history before ``start``; with ``--refit-every N`` a
    ``models.refit.RefitModel`` whose model of each N sessions trained on the data before
    them. Labels are cached (``training.label_cache``). A stored model of another symbol
    is refused; one of another source, or of older labels, adds a warning to
    ``notes[symbol]``."""
    from feeds.cache import ParquetCache
    from feeds.sources import GENERATED_SOURCES
    from models.store import (
        check_trained_for,
        check_training_window,
        label_note,
        load_strategy_model,
        resolve_model_dir,
        source_note,
    )
    from training.label_cache import LABEL_CHANGE, LABEL_VERSION
    from training.pipeline import train_strategy_model
    from training.refit import train_refit_model

    _check_ml_request(args)
    notes = {} if notes is None else notes
    cache = ParquetCache(args.cache_dir)
    models = {}
    for symbol in symbols:
        if args.refit_every:
            spec = options.training_spec(args)
            if not args.quiet:
                print(f"training the ML signal for {symbol}: a model every "
                      f"{args.refit_every} sessions ({args.window} window) ...",
                      file=sys.stderr)
            model = train_refit_model(source, symbol, start, end, spec, args.refit_every,
                                      args.window, args.train_years,
                                      progress=not args.quiet, cache=cache)
        elif args.model:
            folder = resolve_model_dir(args.model, args.models_dir, args.store_label, symbol)
            model = load_strategy_model(folder)
            check_trained_for(model.metadata_, symbol, str(folder))
            check_training_window(model.metadata_, start, str(folder))
            note = source_note(model.metadata_, source.name, str(folder),
                               getattr(source, "seed", None)
                               if source.name in GENERATED_SOURCES else None)
            if note:
                notes.setdefault(symbol, []).append(note)
            note = label_note(model.metadata_, LABEL_VERSION, LABEL_CHANGE, str(folder),
                              symbol)
            if note:
                notes.setdefault(symbol, []).append(note)
        else:
            spec = options.training_spec(args)
            history = source.bars(symbol, None, start)
            before = history.index[history.index < start]
            if len(before) == 0:
                raise DataError(f"{symbol}: no history before {start:%Y-%m-%d} to train on")
            if not args.quiet:
                print(f"training the ML signal for {symbol} on data up to "
                      f"{before[-1]:%Y-%m-%d} ...", file=sys.stderr)
            model = train_strategy_model(source, symbol, before[-1], spec,
                                         progress=not args.quiet, cache=cache)
        models[symbol] = model
    return models
