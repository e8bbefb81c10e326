"""``python run.py sweep``: a parameter grid x symbols x walk-forward folds, serially or on
Dask, into a resumable results table and a report with overfitting statistics."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from cli import options
from cli.arg_types import positive_int_arg
from cli.strategy_config import account_refusal, check_regimes_have_a_line
from core.errors import DataError


def _cluster(text: str) -> str:
    if text in ("local", "serial") or text.startswith(("tcp://", "tls://")):
        return text
    raise argparse.ArgumentTypeError(f"expected local, serial or tcp://HOST:PORT, got {text!r}")


#: seconds to reach a --cluster scheduler (Dask's own default waits 30 s per try)
CONNECT_TIMEOUT_S = 3
#: the symbol a sweep runs without --symbols (with --source csv: every file's symbol)
DEFAULT_SYMBOL = "SPY"


def check_scheduler(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse a ``--cluster`` address where no scheduler answers within ``timeout``
    seconds, before any run is planned (Dask would otherwise retry for half a minute and
    end in a traceback)."""
    import dask
    from distributed import Client

    try:
        with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout}s"}):
            Client(address, timeout=timeout).close()
    except (OSError, TimeoutError) as exc:
        raise DataError(f"--cluster {address}: no Dask scheduler answers there within "
                        f"{timeout:g} s ({exc}); start one with `dask scheduler` or use "
                        f"--cluster local") from None
    except Exception as exc:  # noqa: BLE001 - another server answered: Dask misreads it
        raise DataError(f"--cluster {address}: what answers there is not a Dask scheduler "
                        f"({type(exc).__name__}: {str(exc)[:120]}); check the address and "
                        "port, or use --cluster local") from None


def _heatmap(text: str) -> tuple[str, ...]:
    names = tuple(n.strip().replace("-", "_") for n in text.split(",") if n.strip())
    if not 1 <= len(names) <= 2:
        raise argparse.ArgumentTypeError("give one or two grid parameters, e.g. target_delta,width")
    return names


def register(commands) -> None:
    p = commands.add_parser(
        "sweep", help="parameter sweep / walk-forward runs on Dask, with overfitting statistics",
        description="Backtest every combination of --grid values on every symbol and every "
                    "walk-forward fold as Dask tasks (a LocalCluster of worker processes, or "
                    "a running scheduler), write one results row per run as it finishes "
                    "(rerunning the same sweep skips finished runs), then a report: the best "
                    "parameter sets, a Sharpe heatmap, the deflated Sharpe ratio of the best "
                    "and the probability of backtest overfitting (CSCV over the folds), and "
                    "walk-forward selection: each fold traded on the set best on the folds "
                    "before it, the honest out-of-sample result.",
        epilog="Example: python run.py sweep --strategy credit-spread --symbols SPY,QQQ "
               "--grid target_delta=0.2,0.3 --grid width=5,10 --start-date 2021-01-04 "
               "--end-date 2024-12-31 --walk-forward 4 --workers 2",
        formatter_class=options.HelpFormatter)
    # credit spreads: their rules are what a sweep is mostly for (delta, width, expiry)
    options.add_strategy_option(p, "credit-spread", "the strategy whose config the grid sweeps")
    p.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                   help="a config field and its values, repeatable; credit-spread: "
                        "target_delta, width (none = one strike step), dte_min, dte_max, "
                        "profit_take, stop_multiple, close_days_before_expiry, "
                        "max_open_spreads, entry_spacing, risk_per_trade, max_portfolio_risk, skip_regimes "
                        "(e.g. 3+4); equity: min_confidence, target_percent, allow_short, "
                        "scale_by_confidence. Without --grid: the defaults only")
    # one symbol keeps the default sweep small
    options.add_symbols_option(p, DEFAULT_SYMBOL, "comma-separated symbols (default: SPY; "
                                                  "with --source csv every file's symbol)")
    # a named source, no auto: the results store keys every run by its source, so a rerun
    # resumes the same runs; no --free: the workers read a cache `data fetch` filled
    options.add_source_options(
        p, sources=tuple(n for n in options.SOURCES if n != "auto"), default="sample",
        free=False, help="as for backtest; workers read bars from the shared cache (fill it "
                         "first with `run.py data fetch` for polygon)")
    options.add_window_options(
        p, start="first session (default: 3 years before the end date)",
        end="last session (default: the last bar every symbol has)")
    p.add_argument("--walk-forward", type=positive_int_arg, default=1, metavar="K",
                   help="split the window into K consecutive test folds; each run scores one "
                        "(parameter set, fold); walk-forward selection needs K >= 2, PBO an "
                        "even K >= 2 (above 16: "
                        "a multiple of an even number up to 16, by which the folds are "
                        "grouped)")
    options.add_signals_option(
        p, ("rule", "ml"), "rule baseline, or the HMM + strategy-head signal trained per symbol and "
                           "fold on the bars before the fold")
    options.only_with(p, "signals", "ml", options.options_added(
        p, options.add_model_config_options, config_help="--signals ml: "
        + options.LSTM_CONFIG_HELP, epochs_help="--signals ml --head lstm: epochs at most"))
    account = options.options_added(p, options.add_account_options)
    options.only_with(p, "strategy", "equity", [a for a in account if a.dest == "commission"])
    p.add_argument("--portfolio", action="store_true",
                   help="each parameter set and fold runs all symbols in one account "
                        "(as backtest --portfolio; rows have symbol PORTFOLIO) instead of "
                        "a run per symbol")
    options.only_with(p, "strategy", "credit-spread",
                      options.options_added(p, options.add_option_fill_option)
                      + options.options_added(p, options.add_contract_commission_option))
    p.add_argument("--cluster", type=_cluster, default="local",
                   help="local: a LocalCluster of --workers processes on 127.0.0.1; "
                        "tcp://HOST:PORT: a running dask scheduler (workers need this "
                        "project installed; start them with --nthreads 1); serial: no Dask")
    options.only_with(p, "cluster", "local", [p.add_argument(
        "--workers", type=positive_int_arg, default=2,
        help="worker processes of the local cluster, one thread each")])
    options.add_report_option(
        p, "results store and report folder (default: "
           "reports/sweep_<source>_<strategy>_<start>_<end>, dates as YYYYMMDD); rerunning "
           "into the same folder skips finished runs; a folder of other files is refused")
    p.add_argument("--heatmap", type=_heatmap, metavar="X,Y",
                   help="the two grid parameters of the Sharpe heatmap (default: the first two)")
    p.add_argument("--top", type=positive_int_arg, default=10, help="rows of the best-runs table")
    options.add_quiet_option(p)
    p.set_defaults(handler=run_sweep_command)


def check_parameter_sets(strategy: str, grid, quiet: bool, cash: float) -> None:
    """Refuse a grid none of whose parameter sets the strategy's config accepts (a rule
    between fields, e.g. ``dte_min`` above ``dte_max``) or the account's ``cash`` can size
    (a width whose one contract's full width is above the risk budget, as ``backtest``
    refuses it), before any run; some refused sets are said up front and run as rows
    carrying the reason."""
    from strategies.registry import STRATEGIES

    sets = grid.parameter_sets()
    refused = []
    for params in sets:
        try:
            sizing = account_refusal(STRATEGIES[strategy].config_cls(**params), cash)
            if sizing:
                raise ValueError(sizing)
        except ValueError as exc:
            refused.append(f"{', '.join(f'{k}={v}' for k, v in params.items())}: {exc}")
    if refused and len(refused) == len(sets):
        raise DataError(f"--grid: the {strategy} strategy refuses every parameter set, the "
                        f"first: {refused[0]}")
    if refused:
        print(f"warning: {len(refused)} of {len(sets)} parameter sets are refused by the "
              f"{strategy} strategy's rules (their rows carry the reason), the first: "
              f"{refused[0]}", file=sys.stderr)


def build_spec(args):
    """The SweepSpec of the parsed command line (grid checked, window resolved)."""
    from engine.backtest import check_option_slippage
    from feeds.cache import default_cache_dir
    from sweeps.grid import parse_grid
    from sweeps.plan import SourceSpec, SweepSpec, open_source

    grid = parse_grid(args.strategy, args.grid)
    check_parameter_sets(args.strategy, grid, args.quiet, args.cash)
    check_option_slippage(args.option_fill, args.option_slippage)  # as plan_sweep, up front
    check_regimes_have_a_line("skip_regimes" in grid.names, args.signals, "--grid skip_regimes")
    if args.heatmap:
        if len(set(args.heatmap)) != len(args.heatmap):
            raise DataError(f"--heatmap {','.join(args.heatmap)}: name two different --grid "
                            "parameters")
        unknown = [n for n in args.heatmap if n not in grid.names]
        if unknown:
            raise DataError(f"--heatmap {','.join(args.heatmap)}: {', '.join(unknown)} is not "
                            f"a --grid parameter (grid: {', '.join(grid.names) or 'none'})")
    cache_dir = (args.cache_dir or default_cache_dir()).expanduser().resolve()
    source = SourceSpec(args.source, args.seed,
                        str(args.csv.resolve()) if args.csv else None, str(cache_dir))
    market = open_source(source)
    args.symbols = options.csv_files_by_default(args, DEFAULT_SYMBOL, market.symbols)
    symbols = tuple(market.check_symbol(s) for s in args.symbols)
    start, end = window_within_data(*options.window_from_args(args, market, symbols), market,
                                    symbols)
    check_widths(args.strategy, grid, market, symbols, start)
    training = None
    if args.signals == "ml":
        training = options.training_spec(args)
    return SweepSpec(args.strategy, symbols, grid, start, end, args.walk_forward, source,
                     args.signals, args.cash, args.commission, args.option_fill, training,
                     portfolio=args.portfolio,
                     commission_per_contract=args.commission_per_contract,
                     option_slippage=args.option_slippage)


def check_widths(strategy: str, grid, market, symbols, start: pd.Timestamp) -> None:
    """Widths the option chain cannot list (not a multiple of the strike step at the
    window's first price, as ``backtest --width`` is refused): every run of such a width
    would reject each order and score an idle 0.00 %. All refused stops the sweep; some
    are said up front (their runs fail saying why)."""
    from engine.backtest import check_width

    widths = [w for name, values in grid.axes if name == "width" for w in values if w]
    if strategy != "credit-spread" or not widths:
        return
    refused = []
    for symbol in symbols:
        closes = market.bars(symbol)["close"]
        spot = float(closes[closes.index >= start].iloc[0]) if (closes.index >= start).any() \
            else float(closes.iloc[-1])
        for width in widths:
            try:
                check_width(symbol, width, spot)
            except DataError as exc:
                refused.append(str(exc))
    if refused and len(refused) == len(symbols) * len(widths):
        raise DataError(f"--grid width: no width fits any symbol's option chain, the first: "
                        f"{refused[0]}")
    if refused:
        print(f"warning: {len(refused)} of {len(symbols) * len(widths)} (symbol, width) pairs "
              f"cannot trade (their runs fail), the first: {refused[0]}", file=sys.stderr)


def window_within_data(start: pd.Timestamp, end: pd.Timestamp, market, symbols
                       ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The window cut to the bars the symbols have (the folds split those sessions only),
    each cut said on stderr: a header naming dates the data does not reach hid it."""
    spans = [market.bars(s).index for s in symbols]
    first, last = min(i[0] for i in spans), max(i[-1] for i in spans)
    if end > last >= start:
        print(f"warning: the data of {', '.join(symbols)} ends {last:%Y-%m-%d}: the sweep's "
              f"window ends there, not {end:%Y-%m-%d}", file=sys.stderr)
        end = last
    if start < first <= end:
        print(f"warning: the data of {', '.join(symbols)} starts {first:%Y-%m-%d}: the sweep's "
              f"window starts there, not {start:%Y-%m-%d}", file=sys.stderr)
        start = first
    return start, end


def run_sweep_command(args) -> int:
    from sweeps.report import write_report
    from sweeps.runner import run_sweep

    check_sweep_folder(args.report)
    if args.cluster.startswith(("tcp://", "tls://")):
        check_scheduler(args.cluster)  # before the source is opened: fail in seconds
    spec = build_spec(args)
    folder = args.report or Path("reports") / (
        f"sweep_{spec.source.name}_{spec.strategy}_{spec.start:%Y%m%d}_{spec.end:%Y%m%d}")
    check_sweep_folder(folder)
    options.check_output_path(folder / "runs", "--report", folder=True)  # the results store
    cluster = None if args.cluster == "serial" else args.cluster
    outcome = run_sweep(spec, folder, cluster=cluster, workers=args.workers,
                        progress=not args.quiet)
    header = {"strategy": spec.strategy, "signals": spec.signals,
              "start": f"{spec.start:%Y-%m-%d}", "end": f"{spec.end:%Y-%m-%d}",
              "folds": spec.folds, "source": spec.source.name, "grid": spec.grid.axes}
    summary = write_report(folder, outcome, header, heatmap=args.heatmap, top=args.top)
    print(summary, end="")
    print(f"\nResults: {folder}/results.parquet, {folder}/results.csv; report in {folder}/",
          file=sys.stdout)
    report_warnings(outcome.table)
    return report_failures(outcome.table)


def check_sweep_folder(folder: Path | None) -> None:
    """Refuse a ``--report`` folder holding files of the user's: the sweep writes
    results.csv, summary.txt and its other files into it (a rerun into an earlier sweep's
    folder, which has the ``runs/`` of its results store, resumes there). Then the checks
    of ``check_output_path``."""
    if folder is None:
        return
    # a runs/ that is not a folder is named by the results store's own check
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "runs").exists():
        raise DataError(f"--report {folder} holds files that are not a sweep's (no runs/ "
                        "folder of its results store), and the sweep writes results.csv, "
                        "summary.txt and its other files there: name a new or empty folder "
                        "(or an earlier sweep's)")
    options.check_output_path(folder, "--report", folder=True)


def report_warnings(table) -> None:
    """Say on stderr how many runs their backtest warned of something, with the first (each
    run's warnings are in the ``warnings`` column, as a backtest's summary prints them)."""
    if "warnings" not in table:
        return
    warned = table[table["warnings"].notna() & (table["warnings"].astype(str) != "")]
    if len(warned):
        first = warned.iloc[0]
        print(f"warning: {len(warned)} of {len(table)} runs have warnings (the warnings "
              f"column of results.csv), the first: {first['symbol']} fold {first['fold']}: "
              f"{str(first['warnings']).split(' | ')[0]}", file=sys.stderr)


def report_failures(table) -> int:
    """Say on stderr why runs failed (each distinct reason with its count, the first three);
    exit code 1 when no run finished, as a backtest whose every symbol failed."""
    errors = table["error"].dropna() if "error" in table else []
    if not len(errors):
        return 0
    reasons = errors.value_counts(sort=True)
    for reason, count in list(reasons.items())[:3]:
        print(f"warning: {count} run(s) failed: {reason}", file=sys.stderr)
    if len(reasons) > 3:
        print(f"warning: {len(reasons) - 3} more reasons in results.csv", file=sys.stderr)
    return 1 if len(errors) == len(table) else 0
