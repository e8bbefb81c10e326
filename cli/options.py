"""The options several commands share, each declared once here with one default, and the
two things several commands read back from them the same way (the source, the window).

A command adds the groups it needs (``add_source_options(parser, ...)``); a flag that means
the same in two commands is spelled, typed, defaulted and explained here only, so
``--seed`` or ``--min-confidence`` cannot drift apart between ``backtest`` and
``ml-trading``. Where a command really needs another default (its default symbols, its
default strategy) it passes it explicitly and its module says why. The strategy rules
(``--target-delta`` ...) take their defaults from the config dataclasses and are checked by
them (``cli.strategy_config``), so a value is refused the same way everywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd

from cli.arg_types import (
    cash_arg,
    date_arg,
    fraction_arg,
    label_arg,
    money_arg,
    path_arg,
    positive_float_arg,
    positive_int_arg,
    seed_arg,
    symbols_arg,
)
from core.domain import CONTRACT_COMMISSION, REGIME_NAMES
from core.errors import DataError
from strategies import CreditSpreadConfig, EquityConfig
from strategies.registry import STRATEGIES

#: the daily-bar sources every command can name (ml-trading adds ``ib`` for minutes)
SOURCES = ("auto", "bundled", "sample", "sample-noedge", "csv", "polygon")
#: one account's starting cash and commission rate, as ``engine.backtest.BacktestSettings``
CASH, COMMISSION = 100_000.0, 0.0005
#: the window of a backtest or sweep without --start-date: this many years before the end
DEFAULT_YEARS = 3
MODELS_DIR = Path("Trained_Models")
STORE_LABEL = "lstm_poc"
LSTM_CONFIG_HELP = ("TOML or YAML file overriding [model] (the head), [lstm], [hmm] and "
                    "[labels] settings")
#: the config fields that have a flag, by config class (``cli.strategy_config`` fills them)
CONFIG_FLAGS: dict[type, tuple[str, ...]] = {
    EquityConfig: ("min_confidence", "allow_short", "target_percent", "scale_by_confidence"),
    CreditSpreadConfig: ("target_delta", "width", "dte_min", "dte_max", "profit_take",
                         "stop_multiple", "risk_per_trade", "max_portfolio_risk",
                         "close_days_before_expiry", "entry_spacing", "skip_regimes",
                         "max_open_spreads"),
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where the help text does not already say it (and not for
    defaults that mean "not given": None, False, an empty string or tuple, which read
    "(default: )" and "(default: ())")."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, "", ()):
            return text
        return super()._get_help_string(action)


class RawHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """``HelpFormatter`` that keeps the description's own line breaks."""


def add_symbols_option(p, default: str | None, help: str = "comma-separated symbols") -> None:
    """``-s/--symbols``; ``default`` None makes it required."""
    p.add_argument("-s", "--symbols", type=symbols_arg, default=default,
                   required=default is None, help=help)


def add_source_options(p, *, sources: tuple[str, ...] = SOURCES, default: str = "auto",
                       help: str, free: bool = True) -> None:
    """``--source`` (choices and default given by the command, help says what ``auto``
    means there), ``--csv`` (when csv is a choice), ``--seed``, ``--cache-dir`` and
    (``free``) ``-f/--free``."""
    p.add_argument("--source", default=default, choices=sources, help=help)
    if "csv" in sources:
        only_with(p, "source", "csv", [p.add_argument(
            "--csv", type=Path, metavar="PATH",
            help="with --source csv: a CSV file or a folder of SYMBOL.csv files")])
    p.add_argument("--seed", type=seed_arg, default=42,
                   help="seed of the sample market (bars, chains, flow) and of anything random")
    p.add_argument("--cache-dir", type=path_arg,
                   help="data cache folder (default: $BTML_CACHE_DIR or ~/.cache/btml)")
    if free:
        only_with(p, "source", "polygon", [p.add_argument(
            "-f", "--free", action="store_true",
            help="Polygon free tier: pace every request of the run under 5 per minute")])


def add_window_options(p, *, start: str | None, end: str, required: bool = False) -> None:
    """``--start-date`` (unless ``start`` is None) and ``--end-date``, ``YYYY-MM-DD``; the
    help says what the dates mean to the command."""
    if start is not None:
        p.add_argument("--start-date", type=date_arg, required=required, help=start)
    p.add_argument("--end-date", type=date_arg, required=required, help=end)


def add_expiry_options(p) -> None:
    """``--dte-min`` / ``--dte-max``: the days-to-expiry window of the option chains."""
    p.add_argument("--dte-min", type=int, default=CreditSpreadConfig.dte_min,
                   help="shortest days to expiry")
    p.add_argument("--dte-max", type=int, default=CreditSpreadConfig.dte_max,
                   help="longest days to expiry")


def add_strategy_option(p, default: str, help: str) -> None:
    """``--strategy``: a name of ``strategies.registry.STRATEGIES``."""
    p.add_argument("--strategy", default=default, choices=tuple(STRATEGIES), help=help)


def add_signals_option(p, choices: tuple[str, ...], help: str) -> None:
    """``--signals``: a name of ``strategies.registry.SIGNALS`` the command can build."""
    p.add_argument("--signals", default="rule", choices=choices, help=help)


def add_equity_options(p, min_confidence: float = EquityConfig.min_confidence) -> None:
    """The equity strategy's flags (``EquityConfig``; checked there)."""
    p.add_argument("--min-confidence", type=float, default=min_confidence,
                   help="equity: enter only on signals at least this confident (0 to 1)")
    p.add_argument("--allow-short", action="store_true",
                   help="equity: go short on SELL signals instead of only flat")
    p.add_argument("--target-percent", type=float, default=EquityConfig.target_percent,
                   help="equity: share of the account a position is sized to (0 to 1)")
    p.add_argument("--scale-by-confidence", action="store_true",
                   help="equity: size each position by the signal's confidence too")


def add_credit_spread_options(p) -> None:
    """The credit-spread strategy's flags (``CreditSpreadConfig``; checked there)."""
    c = CreditSpreadConfig
    p.add_argument("--target-delta", type=float, default=c.target_delta,
                   help="short leg's |delta|, between 0 and 1")
    p.add_argument("--width", type=float,
                   help="strike width in dollars (default: one strike step, at least $5)")
    add_expiry_options(p)
    p.add_argument("--profit-take", type=float, default=c.profit_take,
                   help="close when this share of the credit is earned")
    p.add_argument("--stop-multiple", type=float, default=c.stop_multiple,
                   help="close when the cost to close reaches this multiple of the credit "
                        "(above 1)")
    p.add_argument("--risk-per-trade", type=float, default=c.risk_per_trade,
                   help="a new spread's width x 100 x contracts (its max loss before the "
                        "credit, not known until the fill) as a fraction of the account")
    p.add_argument("--max-portfolio-risk", type=float, default=c.max_portfolio_risk,
                   help="max losses of all open spreads of the account together, as a "
                        "fraction of its value (above 0, at most 1)")
    p.add_argument("--close-days-before-expiry", type=int, default=c.close_days_before_expiry,
                   metavar="DAYS", help="buy back this many calendar days before expiry (0: "
                                        "hold to expiry settlement)")
    p.add_argument("--entry-spacing", type=int, default=c.entry_spacing, metavar="SESSIONS",
                   help="sessions to wait between two new spreads on the same symbol")
    p.add_argument("--skip-regimes", type=_regimes, default=c.skip_regimes, metavar="R+R",
                   help="regimes that open nothing new, as indices joined by + (e.g. 3+4; "
                        + ", ".join(f"{i} {name}" for i, name in enumerate(REGIME_NAMES))
                        + "); needs a signal with a regime line (--signals ml)")


def add_spread_cap_option(p) -> None:
    """``--max-open-spreads``: the strategy's open spreads per symbol (paper has a broker
    cap of the same name, so only the backtest adds this one)."""
    p.add_argument("--max-open-spreads", type=int, default=CreditSpreadConfig.max_open_spreads,
                   help="open spreads at most per symbol")


def _regimes(text: str) -> tuple[int, ...]:
    """``3+4`` (or ``none``) as regime indices, as ``sweep --grid skip_regimes=3+4``."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(int(part) for part in text.split("+"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected regime indices joined by +, e.g. 3+4, got "
                                         f"{text!r}") from None


def add_account_options(p, spreads: bool = True) -> None:
    """``--cash`` and ``--commission`` of a simulated account (``spreads``: the command also
    trades credit spreads, which pay ``--commission-per-contract`` instead)."""
    p.add_argument("--cash", type=cash_arg, default=CASH, help="starting cash per symbol")
    p.add_argument("--commission", type=fraction_arg, default=COMMISSION,
                   help="commission on shares as a fraction of traded value" + (
                       " (credit spreads pay --commission-per-contract)" if spreads else ""))


def costs(args: argparse.Namespace) -> dict:
    """The commission a run's report records: the share rate, or what a spread pays."""
    if args.strategy == "credit-spread":
        return {"commission_per_contract": args.commission_per_contract}
    return {"commission": args.commission}


def strategy_settings(args: argparse.Namespace, config: object) -> dict:
    """What a report records of how the strategy traded (and, with ``--signals ml``, where
    its model came from), so two reports can be told apart: every field of the strategy's
    config as the run used it (defaults included; a width of None is the default rule, one
    strike step), a spread run's fill rule, and the ML flags."""
    recorded = {"settings": {field.name: _plain(getattr(config, field.name))
                             for field in dataclasses.fields(config)}}
    if args.strategy == "credit-spread":
        recorded["settings"]["option_fill"] = args.option_fill
        recorded["settings"]["option_slippage"] = args.option_slippage
    if getattr(args, "signals", "rule") == "ml":
        ml = {"model": args.model or "trained by this run"}
        if not args.model:
            ml |= {"head": training_spec(args).head, "epochs": args.epochs,
                   "refit_every": args.refit_every, "window": args.window,
                   "train_years": args.train_years}
        recorded["ml"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in ml.items()
                          if v is not None}
    return recorded


def _plain(value):
    """A config value as JSON writes it (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value


def add_contract_commission_option(p) -> None:
    """``--commission-per-contract``: what the simulated options broker charges a spread."""
    p.add_argument("--commission-per-contract", type=money_arg, default=CONTRACT_COMMISSION,
                   help="credit spreads: dollars per contract and leg, on opening and "
                        "closing orders (none at expiry)")


def only_with(p, dest: str, value: str | tuple[str, ...], actions) -> None:
    """Mark ``actions`` (options of ``p``) as meaning something only when ``--<dest>`` is
    ``value`` (or one of the values of a tuple); ``refuse_unused`` then refuses any of
    them given another value than its default otherwise, instead of a run that silently
    ignores it."""
    rules = list(p.get_default("only_with") or [])
    rules.append((dest, (value,) if isinstance(value, str) else tuple(value), tuple(actions)))
    p.set_defaults(only_with=rules)


def options_added(group, add, *args, **kwargs) -> list:
    """The argparse actions ``add(group, *args, **kwargs)`` adds to ``group`` (an argument
    group, or a parser)."""
    actions = group._group_actions if hasattr(group, "_group_actions") else group._actions
    before = len(actions)
    add(group, *args, **kwargs)
    return actions[before:]


def refuse_unused(args: argparse.Namespace) -> None:
    """An ``error:`` for an option given where it means nothing (``only_with``): a spread
    rule with the equity strategy, a model with rule signals."""
    given = getattr(args, "given_options", None)
    for dest, values, actions in getattr(args, "only_with", ()):
        if getattr(args, dest) in values:
            continue
        for action in actions:
            if _was_given(action, args, given):
                flag = max(action.option_strings, key=len)
                option = f"--{dest.replace('_', '-')}"
                raise DataError(f"{flag} applies only with {option} {' or '.join(values)} "
                                f"(this run has {option} {getattr(args, dest)}); drop it or "
                                f"add {option} {values[0]}")


def _was_given(action, args: argparse.Namespace, given: set[str] | None) -> bool:
    """Whether the command line named ``action`` (``given``: the destinations of the
    options typed, ``cli.main.Parser``), whatever the value, even the default; without
    them (a namespace made by hand) whether its value differs from the default."""
    if given is None:
        return getattr(args, action.dest, action.default) != action.default
    return action.dest in given


def add_option_fill_option(p) -> None:
    """``--option-fill`` and, for mid fills, ``--option-slippage``."""
    p.add_argument("--option-fill", choices=("natural", "mid"), default="natural",
                   help="credit spreads: natural (sell at the bid, buy at the ask) or mid "
                        "prices")
    p.add_argument("--option-slippage", type=money_arg, default=0.0, metavar="DOLLARS",
                   help="credit spreads with --option-fill mid: dollars a share of the "
                        "spread given up on every opening and closing fill (0.02 sells a "
                        "1.00 mid credit for 0.98, buys a 0.50 mid debit back for 0.52)")


def add_model_config_options(p, config_help: str = LSTM_CONFIG_HELP,
                             epochs_help: str = "--head lstm: the most epochs the LSTM "
                                                "trains (it stops early when the validation "
                                                "loss stops improving; default: the config's "
                                                "[lstm] epochs, 100)",
                             head: bool = True) -> None:
    """``--head`` (seed 000's strategy model only: ``head``), ``--config FILE`` (model
    settings) and ``--epochs N``."""
    from core.domain import STRATEGY_HEADS

    if head:
        p.add_argument("--head", choices=STRATEGY_HEADS,
                       help="the strategy model's head: regime (a logistic regression on the "
                            "HMM's regime probabilities; the default, it wins the "
                            "walk-forward on the benchmark world) or lstm (an LSTM over "
                            "every feature: the compact network, or seed 000's stack with "
                            "architecture = \"seed000\" in a config file); default: the "
                            "config's [model] head, else regime")
    p.add_argument("--config", type=Path, metavar="FILE", help=config_help)
    p.add_argument("--epochs", type=positive_int_arg, help=epochs_help)


def training_spec(args, hmm_start=None, lstm_start=None):
    """The ``training.pipeline.TrainingSpec`` of ``--head``, ``--config`` and ``--epochs``."""
    from training.pipeline import make_spec

    return make_spec(args.config, args.epochs, hmm_start, lstm_start, head=args.head)


def add_models_dir_option(p, help: str = "root of the model store") -> None:
    p.add_argument("--models-dir", type=path_arg, default=MODELS_DIR, help=help)


def add_store_label_option(p, mode_alias: bool = False) -> None:
    """``--store-label``: the folder of the store under ``--models-dir``. ``mode_alias``
    also accepts seed 000's spelling ``--mode`` (train only: elsewhere ``--mode`` is
    ml-trading's run mode)."""
    names = ("--store-label", "--mode") if mode_alias else ("--store-label",)
    alias = " (seed 000's --mode is the same option)" if mode_alias else ""
    p.add_argument(*names, dest="store_label", default=STORE_LABEL, metavar="LABEL",
                   type=label_arg,
                   help=f"label of the store folder: <models-dir>/<LABEL>/<SYMBOL>/{alias}")


def add_refit_options(p) -> None:
    """``--refit-every``, ``--window``, ``--train-years``: a model per N sessions, each
    trained on the expanding history or a rolling window of it."""
    p.add_argument("--refit-every", type=positive_int_arg, metavar="N",
                   help="a model refitted every N sessions, each on the data before its "
                        "first session only")
    p.add_argument("--window", choices=("expanding", "rolling"), default="expanding",
                   help="each refitted model (train: each walk-forward fold's, --folds or "
                        "--refit-every) trains on all history from the first model's start "
                        "(expanding) or on the last --train-years (rolling)")
    p.add_argument("--train-years", type=positive_float_arg,
                   help="with --window rolling: years of sessions (252 a year) each model "
                        "trains on (default 4, as the first model)")


def add_report_option(p, help: str) -> None:
    p.add_argument("--report", type=path_arg, metavar="DIR", help=help)


QUIET_HELP = "print only the results (no progress bars or notes)"


def add_quiet_option(p, help: str = QUIET_HELP) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help=help)


def add_verbosity_options(p, quiet_help: str = QUIET_HELP,
                          verbose_help: str = "log details (debug logging, keras output)"
                          ) -> None:
    """``-q/--quiet`` or ``-v/--verbose`` (not both); a command whose quiet or verbose
    output differs says how in ``quiet_help`` / ``verbose_help``."""
    verbosity = p.add_mutually_exclusive_group()
    add_quiet_option(verbosity, quiet_help)
    verbosity.add_argument("-v", "--verbose", action="store_true", help=verbose_help)


def source_from_args(args: argparse.Namespace, symbols: list[str], cache=None):
    """The source ``--source`` names (``auto`` resolved for ``symbols``) with ``--seed``,
    ``--csv``, ``--free`` and the cache (``--cache-dir`` unless given); returns the source,
    its name and why auto chose it ("" when not auto)."""
    from feeds.cache import ParquetCache
    from feeds.sources import make_source, resolve_auto

    name, reason = args.source, ""
    if name == "auto":
        name, reason = resolve_auto(symbols)
    source = make_source(name, seed=args.seed, cache=cache or ParquetCache(args.cache_dir),
                         csv_path=args.csv, free=getattr(args, "free", False))
    return source, name, reason


def window_from_args(args: argparse.Namespace, source, symbols) -> tuple[pd.Timestamp,
                                                                         pd.Timestamp]:
    """``--start-date`` .. ``--end-date``: the end defaults to the last bar every symbol
    has, the start to ``DEFAULT_YEARS`` before the end; a start not before the end is a
    DataError."""
    end = args.end_date or min(source.bars(s).index[-1] for s in symbols)
    start = args.start_date
    if start is None:  # the first session on or after the day DEFAULT_YEARS back, never a
        from feeds.calendar import sessions  # Saturday named as the start in messages

        back = end - pd.DateOffset(years=DEFAULT_YEARS)
        try:
            listed = sessions(back, end)
        except ValueError:  # outside the calendar's span (a CSV of old data): as it is
            listed = []
        start = listed[0] if len(listed) else back
    if start >= end:
        raise DataError(f"--start-date {start:%Y-%m-%d} is not before --end-date {end:%Y-%m-%d}")
    return start, end


def symbols_given(args: argparse.Namespace, default: str) -> bool:
    """Whether ``--symbols`` was on the command line (a Namespace built in code, without
    the parser's record of what was given: whether it differs from ``default``)."""
    given = getattr(args, "given_options", None)
    if given is not None:
        return "symbols" in given
    return args.symbols != symbols_arg(default)


def csv_files_by_default(args: argparse.Namespace, default: str, file_symbols) -> list[str]:
    """``--symbols`` as given, but with ``--source csv`` and no ``--symbols`` (``default``
    left as it is) every file's symbol (``file_symbols()``): the default symbols are the
    other sources' names, which the user's files rarely carry."""
    if args.source == "csv" and not symbols_given(args, default):
        return list(file_symbols())
    return args.symbols


def common_end_warnings(args: argparse.Namespace, source, symbols, end: pd.Timestamp
                        ) -> dict[str, str]:
    """Without ``--end-date`` the window ends at the last bar *every* symbol has: a symbol
    whose data runs further is told what it did not trade, per symbol, as a warning."""
    if args.end_date is not None:
        return {}
    out = {}
    for symbol in symbols:
        last = source.bars(symbol).index[-1]
        if last > end:
            out[symbol] = (f"traded until {end:%Y-%m-%d}, the last bar every symbol of the run "
                           f"has, not its own last bar {last:%Y-%m-%d} (give --end-date, or "
                           f"run {symbol} alone, to trade the rest)")
    return out


def _nearest_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path(".")


def check_output_path(path: Path | None, flag: str, *, folder: bool) -> None:
    """Refuse an output ``path`` that can never be written, before any work starts (a
    backtest that runs for minutes and then fails to save is a silent waste): a folder
    option naming an existing file, a file option naming an existing folder or something
    that is not a regular file (a device, a pipe: the atomic write's rename would replace
    it), or a place under a file or a folder we cannot write to."""
    if path is None:
        return
    kind = "folder" if folder else "file"
    if path.exists() and path.is_dir() != folder:
        what = "a file" if folder else "a folder"
        raise DataError(f"{flag} {path} is {what}, not a {kind}; name a new or existing {kind}")
    if not folder and path.exists() and not path.is_file():  # /dev/full, /dev/stdout, a FIFO
        raise DataError(f"{flag} {path} is not a regular file (a pipe, a device): a file is "
                        "written beside it and renamed over it; name a file")
    parent = _nearest_existing(path.parent)
    if not parent.is_dir():
        raise DataError(f"{flag} {path}: {parent} is a file, so the {kind} cannot be created")
    if not _can_create_in(parent):
        raise DataError(f"{flag} {path}: {parent} is not writable")


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be made in ``folder``, by making one (``os.access`` says yes to
    root for read-only mounts, /sys and /proc)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def check_report_folder(path: Path | None, report_files: tuple[str, ...] | None = None,
                        what: str = "a backtest report") -> None:
    """Refuse a ``--report`` that would replace what is not a report: a report replaces its
    folder whole, so an existing folder must be empty or a report of the command
    (``core.atomic.is_report_folder`` of ``report_files``, a backtest's by default); the
    folder the command runs in (or one above it) never is. Then the checks of
    ``check_output_path``."""
    from core.atomic import REPORT_FILES, holds_other_files

    if path is None:
        return
    here, target = Path.cwd().resolve(), path.resolve()
    if target == here or target in here.parents:
        raise DataError(f"--report {str(path) or repr('')} is the folder the command runs in "
                        "(or one above it), which the report would replace: name a folder "
                        "of its own, e.g. --report reports/my_run")
    if holds_other_files(target, report_files or REPORT_FILES):
        raise DataError(f"--report {path} holds files that are not {what}, and a "
                        "report replaces its folder whole: name a new or empty folder (or "
                        "an earlier report)")
    check_output_path(path, "--report", folder=True)
