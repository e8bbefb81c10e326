"""``python run.py backtest``: a strategy per symbol on historical bars, a results summary
and a report folder (pyfolio tear sheets, plots, trades, metrics)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from cli.arg_types import date_arg, symbols_arg
from core.errors import DataError

DEFAULT_SYMBOLS = "SP500,NASDAQ"
DEFAULT_YEARS = 3



def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text}")
    return value


def register(commands) -> None:
    p = commands.add_parser(
        "backtest", help="run a historical backtest and write a report",
        description="Backtest a strategy per symbol, print a results summary and write a "
                    "report folder (pyfolio tearsheets, plots, trades, metrics).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_backtest_options(p)
    p.set_defaults(handler=run_backtest_command)


def add_backtest_options(p: argparse.ArgumentParser) -> None:
    data = p.add_argument_group("data")
    data.add_argument("--symbols", type=symbols_arg, default=symbols_arg(DEFAULT_SYMBOLS),
                      help="comma-separated symbols; bundled has SP500,NASDAQ, the sample "
                           "market SPY,QQQ,IWM,AAPL,MSFT,GOOGL,AMZN,TSLA")
    data.add_argument("--source", default="auto",
                      choices=("auto", "bundled", "sample", "csv", "polygon"),
                      help="where bars come from: bundled = real S&P 500 / NASDAQ daily bars "
                           "shipped with the arch package (1999-2018); sample = the seeded "
                           "simulated market (2008-2025); csv = your files (--csv); auto = "
                           "bundled when it has every symbol, else sample")
    data.add_argument("--csv", metavar="PATH",
                      help="with --source csv: a CSV file or a folder of SYMBOL.csv files")
    data.add_argument("--start-date", type=date_arg,
                      help="first traded session (default: 3 years before the end date)")
    data.add_argument("--end-date", type=date_arg,
                      help="last session (default: the last bar the source has)")
    data.add_argument("--seed", type=int, default=42,
                      help="seed of the sample market and of anything random")
    data.add_argument("--cache-dir", type=Path,
                      help="cache folder (default: $BTML_CACHE_DIR or ~/.cache/btml)")
    data.add_argument("--free", action="store_true",
                      help="Polygon free tier: pace every request of the run under 5 per minute")
    trading = p.add_argument_group("trading")
    trading.add_argument("--strategy", default="equity", choices=("equity", "credit-spread"),
                         help="equity: shares from the direction/confidence lines; "
                              "credit-spread: put/call credit spreads from the signal line, "
                              "on the options broker (legs priced from the option chain)")
    trading.add_argument("--signals", default="rule", choices=("rule", "ml"),
                         help="rule: the trend + RSI baseline indicator; ml: the HMM + LSTM "
                              "StrategySignal (stored with --model, else trained on the "
                              "history before --start-date within the run)")
    ml = p.add_argument_group("ml signals (--signals ml)")
    ml.add_argument("--model", help="'latest', a store timestamp folder name or a path; its "
                                    "training window must end before --start-date (default: "
                                    "train in the run)")
    ml.add_argument("--models-dir", type=Path, default=Path("Trained_Models"),
                    help="root of the model store")
    ml.add_argument("--mode", default="lstm_poc", help="mode label of the store folder")
    ml.add_argument("--epochs", type=int, help="LSTM epochs at most when training in the run")
    ml.add_argument("--config", type=Path,
                    help="TOML or YAML file overriding [lstm], [hmm], [labels] settings")
    ml.add_argument("--refit-every", type=_positive_int, metavar="N",
                    help="train in the run a model per N sessions of the backtest, each on "
                         "the data before its first session only (default: one model "
                         "trained before --start-date)")
    ml.add_argument("--window", choices=("expanding", "rolling"), default="expanding",
                    help="with --refit-every: the LSTM trains on all history from the first "
                         "model's start (expanding) or on the last --train-years (rolling)")
    ml.add_argument("--train-years", type=float,
                    help="with --window rolling: years of sessions (252 a year) each model "
                         "trains on (default 4, as the first model)")
    trading.add_argument("--cash", type=float, default=100_000.0, help="starting cash per symbol")
    trading.add_argument("--commission", type=float, default=0.0005,
                         help="commission as a fraction of traded value")
    trading.add_argument("--min-confidence", type=_fraction, default=0.25,
                         help="enter only on signals at least this confident")
    trading.add_argument("--allow-short", action="store_true", help="short on SELL signals")
    spreads = p.add_argument_group("credit spreads (--strategy credit-spread)")
    spreads.add_argument("--target-delta", type=_fraction, default=0.30,
                         help="short leg's |delta|")
    spreads.add_argument("--width", type=float,
                         help="strike width in dollars (default: one strike step, >= $5)")
    spreads.add_argument("--dte-min", type=int, default=30, help="shortest days to expiry")
    spreads.add_argument("--dte-max", type=int, default=45, help="longest days to expiry")
    spreads.add_argument("--profit-take", type=_fraction, default=0.5,
                         help="close when this share of the credit is earned")
    spreads.add_argument("--stop-multiple", type=float, default=2.0,
                         help="close when the cost to close reaches this multiple of the credit")
    spreads.add_argument("--risk-per-trade", type=_fraction, default=0.02,
                         help="max loss of a new spread as a fraction of the account")
    spreads.add_argument("--option-fill", choices=("natural", "mid"), default="natural",
                         help="natural: sell at the bid, buy at the ask; mid: mid prices")
    output = p.add_argument_group("output")
    output.add_argument("--report", type=Path, metavar="DIR",
                        help="report folder (default: reports/<source>_<strategy>_<start>_<end>)")
    output.add_argument("--no-report", action="store_true", help="print the summary only")
    output.add_argument("--export-lines", type=Path, metavar="FILE",
                        help="write every indicator line of every bar to this CSV")
    verbosity = output.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true",
                           help="print only the results summary")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log details")


def run_backtest_command(args) -> int:
    from tqdm import tqdm

    from analyzers.report import write_report
    from engine.backtest import BacktestSettings, realized_direction, run_symbol
    from engine.summary import format_summary
    from feeds.cache import ParquetCache
    from feeds.sources import make_source, resolve_auto
    from strategies import CreditSpreadConfig, EquityConfig

    source_name, reason = args.source, ""
    if source_name == "auto":
        source_name, reason = resolve_auto(args.symbols)
    source = make_source(source_name, seed=args.seed, cache=ParquetCache(args.cache_dir),
                         csv_path=args.csv, free=args.free)
    source.limit_expiries(args.dte_min, args.dte_max)
    symbols = [source.check_symbol(s) for s in args.symbols]
    end = args.end_date or min(source.bars(s).index[-1] for s in symbols)
    start = args.start_date or end - pd.DateOffset(years=DEFAULT_YEARS)
    if start >= end:
        raise DataError(f"--start-date {start:%Y-%m-%d} is not before --end-date {end:%Y-%m-%d}")
    signal_models = {}
    if args.signals == "ml":
        signal_models = ml_models(args, source, symbols, start)
    settings = BacktestSettings(
        start=start, end=end, strategy=args.strategy, signals=args.signals, cash=args.cash,
        commission=args.commission,
        equity=EquityConfig(min_confidence=args.min_confidence, allow_short=args.allow_short),
        credit_spread=CreditSpreadConfig(
            target_delta=args.target_delta, width=args.width, dte_min=args.dte_min,
            dte_max=args.dte_max, profit_take=args.profit_take,
            stop_multiple=args.stop_multiple, risk_per_trade=args.risk_per_trade),
        option_fill=args.option_fill,
        record_lines=True, progress=not args.quiet, signal_models=signal_models,
    )
    if not args.quiet:
        print(f"source: {source_name}" + (f" ({reason})" if reason else ""), file=sys.stderr)
    results = [run_symbol(source, symbol, settings)
               for symbol in tqdm(symbols, desc="symbols", unit="symbol", leave=False,
                                  disable=args.quiet or len(symbols) == 1)]
    header = {"command": "backtest", "source": source_name,
              "source_description": source.describe(), "strategy": args.strategy,
              "signals": args.signals, "symbols": ",".join(symbols),
              "start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}", "cash": args.cash,
              "commission": args.commission, "seed": args.seed}
    summary = format_summary(results, header)
    if args.quiet:
        print("\n".join(line for line in summary.splitlines() if ": Return: " in line or
                        line == "Results Summary:"))
    else:
        print(summary, end="")
    if args.export_lines:
        args.export_lines.parent.mkdir(parents=True, exist_ok=True)
        pd.concat([r.lines for r in results], ignore_index=True).to_csv(args.export_lines,
                                                                        index=False)
        if not args.quiet:
            print(f"\nLines exported to {args.export_lines}")
    if not args.no_report:
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
    return 0


def ml_models(args, source, symbols: list[str], start: pd.Timestamp) -> dict:
    """A StrategyModel per symbol: from the store (refused if its training window reaches
    ``start``), else trained on the history before ``start``; with ``--refit-every N`` a
    ``models.refit.RefitModel`` whose model of each N sessions trained on the data before
    them. Labels are cached (``training.label_cache``)."""
    from feeds.cache import ParquetCache
    from models.store import check_training_window, load_strategy_model, resolve_model_dir
    from training.pipeline import make_spec, train_strategy_model
    from training.refit import train_refit_model

    if args.refit_every and args.model:
        raise DataError("--refit-every trains its models in the run; it cannot use --model")
    if args.train_years is not None and not (args.refit_every and args.window == "rolling"):
        raise DataError("--train-years needs --refit-every N --window rolling")
    if args.train_years is not None and args.train_years <= 0:
        raise DataError(f"--train-years must be positive, got {args.train_years}")
    cache = ParquetCache(args.cache_dir)
    # the backtest's last session, as run_backtest_command computes it
    end = args.end_date or min(source.bars(s).index[-1] for s in symbols)
    models = {}
    for symbol in symbols:
        if args.refit_every:
            spec = make_spec(args.config, args.epochs)
            if not args.quiet:
                print(f"training the ML signal for {symbol}: a model every "
                      f"{args.refit_every} sessions ({args.window} window) ...",
                      file=sys.stderr)
            model = train_refit_model(source, symbol, start, end, spec, args.refit_every,
                                      args.window, args.train_years,
                                      progress=not args.quiet, cache=cache)
        elif args.model:
            folder = resolve_model_dir(args.model, args.models_dir, args.mode, symbol)
            model = load_strategy_model(folder)
            check_training_window(model.metadata_, start, str(folder))
        else:
            spec = make_spec(args.config, args.epochs)
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
