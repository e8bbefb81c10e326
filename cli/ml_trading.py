"""``python run.py ml-trading`` (and the ``premarket`` / ``trading`` shortcuts): the
parser and the dispatch of seed 003's three modes on the multi-model Direction signal.

* **backtest**: per symbol, a ``DirectionModel`` is trained on the bars *before*
  ``--start-date`` only, then the equity strategy trades its ``direction``/``confidence``
  lines over the window; the report folder is the one ``run.py backtest`` writes.
* **premarket**: the latest stored model whose training ended on or before the last
  complete bar (else one trained now on the history up to that bar, and stored) scores that
  bar; the signals are printed and saved as CSV and JSON with their as-of date.
* **trading**: the same signal replayed minute by minute through one session on the day's
  partial bar; with ``--source ib`` the session's 1-minute bars come from Interactive
  Brokers and the daily history from ``--history-source``.

The work lives in ``engine.ml_trading`` (one module per job); this module only turns the
command line into its ``MLTradingSettings``. A failure on one symbol is printed as
``SYMBOL: error: <reason>`` and the other symbols still run (exit code 1); a bad request or
TWS/Gateway not reachable (``--source ib``) stops the whole run (exit code 2).
"""

from __future__ import annotations

import argparse

from cli import ib_connection, options
from cli.strategy_config import config_from_args
from engine.ml_trading.settings import DAILY_SOURCES, DEFAULT_DAYS, MODES, MLTradingSettings

#: seed 003's symbols
DEFAULT_SYMBOLS = "AAPL,MSFT,GOOGL,AMZN,TSLA"
#: the equity rule's threshold here: the meta-model's confidence is the top of three class
#: probabilities, never below 1/3, so the backtest command's 0.25 would filter nothing
MIN_CONFIDENCE = 0.40
EXAMPLE = ("Example: python run.py ml-trading --symbols AAPL,MSFT --mode backtest "
           "--start-date 2025-09-02 --end-date 2025-12-31")


MODE_HELP = {
    "backtest": "backtest: train on the bars before --start-date only, then trade the equity "
                "strategy from direction/confidence over --start-date..--end-date and write a "
                "report folder.",
    "premarket": "premarket: score the last complete bar up to --end-date with the latest "
                 "stored model trained no later than that bar (else train one on the history "
                 "up to it and store it); save the signals as CSV and JSON with the as-of date.",
    "trading": "trading: replay the session of --end-date (default: the last session the "
               "source has) minute by minute from minute bars (sample, polygon, or ib: "
               "Interactive Brokers 1-min bars of the session of --end-date, default today's "
               "so far, with the daily history from --history-source). Partial-bar "
               "rule: at each minute the day's bar so far (the session's open, high and low "
               "so far, the last price, the volume so far; options flow, IV and the other "
               "columns keep the previous session's values, release-day flags are today's) "
               "stands in for the daily bar; each change of direction is printed.",
}
_KEYS = ("Keys (Polygon, Unusual Whales) come from the environment or .env, never from the "
         "command line.")
_EXIT_HELP = ("Exit code: 0 when every symbol ran, 1 when any symbol failed (printed as "
              "'SYMBOL: error: ...'), 2 on a bad request or when TWS/Gateway (--source ib) "
              "cannot be reached.")


def register(commands) -> None:
    """``ml-trading`` with ``--mode``, and ``premarket`` / ``trading`` as shortcuts."""
    p = commands.add_parser(
        "ml-trading", help="seed 003's modes: premarket, trading, backtest (Direction model)",
        description="Seed 003's multi-model system (XGBoost, RF, GB, LSTM, GRU, TCN and a "
                    "meta-model giving direction and confidence) in one of three modes. "
                    + " ".join(MODE_HELP.values()) + " " + _KEYS,
        epilog=EXAMPLE + ". " + _EXIT_HELP, formatter_class=options.HelpFormatter)
    p.add_argument("-m", "--mode", choices=MODES, default="backtest", help="what to run")
    _add_options(p, backtest=True)
    p.set_defaults(handler=run_ml_trading)
    for mode, text in (("premarket", "signals for the next session from the last complete bar"),
                       ("trading", "signals updated minute by minute through a session")):
        q = commands.add_parser(
            mode, help=f"{text} (ml-trading --mode {mode})",
            description=f"Same as 'ml-trading --mode {mode}'. {MODE_HELP[mode]} {_KEYS}",
            epilog=f"Example: python run.py {mode} --symbols AAPL,MSFT. " + (
                _EXIT_HELP if mode == "trading" else _EXIT_HELP.replace(
                    " or when TWS/Gateway (--source ib) cannot be reached", "")),
            formatter_class=options.HelpFormatter)
        _add_options(q, backtest=False, ib=mode == "trading", mode=mode)
        q.set_defaults(mode=mode, handler=run_ml_trading, start_date=None, no_report=False)


#: --end-date and --report of each shortcut, in its own words
_END_HELP = {
    "premarket": "the as-of date: the signal is for the session after it (default: today; "
                 "when the source's data ends earlier, its last bar, and the run says so)",
    "trading": "the session replayed (default: today; when the source's data ends earlier, "
               "its last bar, and the run says so; with --source ib always the session at "
               "this date, today's: the bars so far)"}
_REPORT_HELP = "folder of the signal files (default: signals/)"


def _add_options(p: argparse.ArgumentParser, backtest: bool, ib: bool = True,
                 mode: str | None = None) -> None:
    """The options of ``ml-trading`` (``backtest``: with the backtest window) and of its
    shortcuts (``mode``: their help in their own words); ``ib``: offer ``--source ib``
    (trading mode only: premarket does not list it)."""
    options.add_symbols_option(p, DEFAULT_SYMBOLS, "comma-separated symbols (default: "
                                                  f"{DEFAULT_SYMBOLS}; with --source csv every "
                                                  "file's symbol)")
    options.add_window_options(
        p, start=(f"backtest: first traded session (default: {DEFAULT_DAYS} days before the "
                  "end date); premarket and trading do not use it") if backtest else None,
        end=_END_HELP[mode] if mode else (
            "backtest: last session; premarket: the as-of date; trading: the session "
            "replayed (default: today; when the source's data ends earlier, its last bar, "
            "and the run says so; with --source ib always the session at this date, "
            "today's: the bars so far)"))
    options.add_source_options(
        p, sources=(*DAILY_SOURCES, "ib") if ib else DAILY_SOURCES,
        help="auto: polygon when POLYGON_API_KEY is set, else per symbol the bundled real "
             "index data (SP500, NASDAQ) or the simulated sample market; sample, bundled, "
             "polygon: that source alone; csv: your files (--csv)" + (
                 "; ib (trading mode only): the session's 1-min bars from Interactive "
                 "Brokers, the daily history from --history-source" if ib else ""))
    if ib:
        group = p.add_argument_group("Interactive Brokers (--source ib; only historical bars "
                                     "are read, no orders)")
        group.add_argument("--history-source", default="auto", choices=DAILY_SOURCES,
                           help="with --source ib: where the daily history (model training, "
                                "the sessions before the replayed one) comes from, as --source "
                                "(default: auto)")
        ib_connection.add_connection_options(group)
        options.only_with(p, "source", "ib", group._group_actions)
    model = p.add_argument_group("model")
    options.add_model_config_options(
        model, config_help="TOML or YAML file whose [direction] table overrides the model "
                           "settings (members, sizes, labels)",
        epochs_help="epochs of the LSTM/GRU/TCN members (default: the model's)", head=False)
    options.add_models_dir_option(
        model, "root of the model store (premarket and trading read and write "
               "<models-dir>/direction/<SYMBOL>/)")
    model.add_argument("--retrain", action="store_true",
                       help="train a new model even when a stored one fits")
    if backtest:  # ml-trading: these mean something in its backtest mode only
        only_backtest = [a for a in p._actions if a.dest == "start_date"]
        trade = p.add_argument_group("backtest")
        options.add_account_options(trade, spreads=False)
        options.add_equity_options(trade, min_confidence=MIN_CONFIDENCE)
        trade.add_argument("--seeds", type=int, default=1,
                           help="direction models trained per symbol, with the model "
                                "config's seed and the next ones: the walk-forward table "
                                "prints mean +- std over them (the first seed's model "
                                "trades; default 1)")
    out = p.add_argument_group("output")
    options.add_report_option(
        out, _REPORT_HELP if mode else (
            "backtest: report folder (default: reports/ml_backtest_<start>_<end>, dates as "
            "YYYYMMDD); premarket/trading: " + _REPORT_HELP))
    if backtest:
        out.add_argument("--no-report", action="store_true", help="backtest: print only")
        options.only_with(p, "mode", "backtest", [*only_backtest, *trade._group_actions,
                                                  out._group_actions[-1]])
    options.add_quiet_option(out)


def settings_from_args(args: argparse.Namespace) -> MLTradingSettings:
    """The run's settings; a bad model config file or strategy rule stops everything here
    (``DataError``), before any symbol runs."""
    from models.direction_model import make_direction_config
    from strategies.registry import strategy_spec

    backtest = {}
    if hasattr(args, "cash"):  # premarket / trading shortcuts have no backtest options
        backtest = {"cash": args.cash, "commission": args.commission, "seeds": args.seeds,
                    "equity": config_from_args(strategy_spec("equity"), args)}
    def file_symbols() -> list[str]:
        from feeds.csv_source import CsvMarket

        return CsvMarket(args.csv).symbols() if args.csv else args.symbols

    symbols = options.csv_files_by_default(args, DEFAULT_SYMBOLS, file_symbols)
    model = make_direction_config(args.config, args.epochs)
    ib = {}
    if hasattr(args, "ib_host"):  # ml-trading and trading (premarket has no --source ib)
        ib = {"history_source": args.history_source,
              "ib": ib_connection.store_settings(args)}  # refused here, before any work
    return MLTradingSettings(
        mode=args.mode, symbols=tuple(symbols), model=model,
        start_date=args.start_date, end_date=args.end_date, source=args.source,
        csv=args.csv, free=args.free, seed=args.seed, cache_dir=args.cache_dir,
        models_dir=args.models_dir, retrain=args.retrain,
        report=args.report, no_report=args.no_report, quiet=args.quiet, **ib, **backtest)


def run_ml_trading(args: argparse.Namespace) -> int:
    """Run the chosen mode for every symbol; print, save, and return the exit code."""
    return execute(args)[0]


def execute(args: argparse.Namespace) -> tuple:
    """``run_ml_trading`` that also hands back every symbol's outcome (model included)."""
    from engine.ml_trading.run import execute as run_mode

    settings = settings_from_args(args)
    if settings.mode != "backtest":  # premarket and trading store the models they train
        options.check_output_path(args.models_dir, "--models-dir", folder=True)
    if not getattr(args, "no_report", False):
        if settings.mode != "backtest":
            options.check_output_path(getattr(args, "report", None), "--report", folder=True)
        else:
            options.check_report_folder(getattr(args, "report", None))  # replaced whole
            from analyzers.render_pool import start_render_server

            # the direction models load keras: the report draws in workers of a fork
            # server, which imports what they need while the models train
            start_render_server("engine.backtest")
    return run_mode(settings)
