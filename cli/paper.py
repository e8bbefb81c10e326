"""``python run.py paper``: the backtest strategies on an IB paper account (TWS/Gateway).

Wires one ``IBStore`` connection, one ``IBData`` feed per symbol (backfill, then live bars),
the ``IBBroker`` (paper-account check, limits, journal) and the very strategy class that
``run.py backtest`` uses, then runs backtrader's live loop. Fills, refusals, the strategy's
skipped entries and its orders not filled are printed as they happen, and a status line
after every live bar. Ctrl-C stops cleanly: open orders stay at IB unless
``--cancel-on-exit``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from brokers.bar_times import now_local, parse_decide_at
from brokers.ib_broker import ExitCancels
from brokers.ib_feed import BAR_SECONDS, CLOSE_GRACE_LIMIT, check_close_grace
from brokers.ib_store import IBError, IBStore, StoreSettings
from cli import ib_connection, options
from cli.arg_types import (
    count_arg,
    duration_sessions,
    ib_duration_arg,
    path_arg,
    positive_float_arg,
    positive_int_arg,
    seconds_arg,
)
from cli.strategy_config import check_regimes_have_a_line, config_from_args, with_flags
from core.errors import DataError
from engine.paper import PaperSettings, build
from engine.paper_models import paper_models, training_source
from strategies.registry import strategy_spec


def register(commands) -> None:
    p = commands.add_parser(
        "paper", help="run a strategy on an Interactive Brokers paper account",
        description="Run the backtest strategy class unchanged against TWS / IB Gateway: "
                    "historical backfill, then live bars; orders go to the paper account "
                    "(managed account DU...), shares as stock orders, credit spreads as one "
                    "BAG combo order. Prints fills and a status line per bar; Ctrl-C stops "
                    "(open orders stay at IB unless --cancel-on-exit).",
        formatter_class=options.HelpFormatter)
    options.add_strategy_option(
        p, "equity", "the backtest strategy class to run (shares, or credit spreads as BAGs)")
    # one liquid stock: every symbol is a live IB subscription and orders on the account
    options.add_symbols_option(p, "SPY", "comma-separated IB stock symbols")
    options.add_signals_option(
        p, ("rule", "ml", "direction"),
        "rule: the trend + RSI baseline indicator; ml: seed 000's HMM + strategy model StrategySignal (regime or LSTM head); "
        "direction: seed 003's multi-model Direction system (both from the model store, "
        "--model)")
    ml = p.add_argument_group("model signals (--signals ml / direction)")
    ml.add_argument("--model", help="'latest', a store timestamp folder name or a path (for "
                                    "every symbol); its training window must end before "
                                    "today, the first live session, and it must read only "
                                    "open/high/low/close/volume (what IB bars carry). It is "
                                    "warmed up on the backfill, then scored bar by bar")
    options.add_models_dir_option(
        ml, "root of the model store: ml reads <models-dir>/<store-label>/<SYMBOL>/, "
            "direction <models-dir>/direction/<SYMBOL>/")
    options.add_store_label_option(ml)
    rules = p.add_argument_group("strategy rules (as in run.py backtest)")
    options.only_with(p, "strategy", "equity",
                      options.options_added(rules, options.add_equity_options))
    options.only_with(p, "strategy", "credit-spread",
                      options.options_added(rules, options.add_credit_spread_options))
    options.only_with(p, "signals", ("ml", "direction"), ml._group_actions)
    ib = p.add_argument_group("connection")
    ib_connection.add_connection_options(ib)
    ib.add_argument("--account", default="",
                    help="managed account: needed when the login manages several "
                         "(default: the only one)")
    bars = p.add_argument_group("bars")
    bars.add_argument("--bar-size", default="1 day", choices=tuple(BAR_SECONDS),
                      help="the strategy's bar; with realtime live bars '1 day' is built "
                           "from 5-second bars and reaches the strategy at the session "
                           "close (13:00 on half-days)")
    bars.add_argument("--decide-at", metavar="HH:MM", type=_decide_at_arg,
                      help="with --bar-size '1 day': build the day's bar from the 5-second "
                           "bars up to this New York time (after 09:30, at most 16:00; e.g. "
                           "15:45) and trade on it then, instead of at the close; later "
                           "bars of that day make no second bar")
    bars.add_argument("--backfill", default="1 Y", type=ib_duration_arg,
                      help="IB duration of the historical "
                                                        "backfill (e.g. '1 Y', '5 D', '3600 S')")
    bars.add_argument("--live-bars", default="realtime", choices=("realtime", "keep_up"),
                      help="5-second real-time bars resampled, or keepUpToDate bars")
    bars.add_argument("--close-grace", type=seconds_arg, metavar="SECONDS",
                      help="with --live-bars realtime: when the 5-second bar that ends a "
                           "bar never comes (none follows the close with regular hours), "
                           "the bar goes out this many seconds after its end (the close, "
                           "13:00 on half days, or --decide-at) on the feed's clock, IB's "
                           "time as its 5-second bars tell it; from 0 to below "
                           f"{CLOSE_GRACE_LIMIT} (17 h 30 min, the night from a 16:00 close "
                           f"to the next open; default {PaperSettings.close_grace:g}). Raise "
                           "it if IB's last 5-second bar comes late; a bar it comes after "
                           "has gone out without it")
    bars.add_argument("--all-hours", action="store_true", help="include bars outside RTH")
    bars.add_argument("--timezone", default="America/New_York",
                      help="zone the strategy and the status line see bar times in; only "
                           "what is shown: sessions, the warm-up, expiries and daily-loss "
                           "days follow the NYSE calendar in New York time whatever it is")
    bars.add_argument("--max-bars", type=positive_int_arg,
                      help="stop after this many live bars per symbol")
    risk = p.add_argument_group("safety")
    risk.add_argument("--live", action="store_true",
                      help="allow a live (non-DU) account; asks to type the account id")
    risk.add_argument("--confirm-live", metavar="ACCOUNT",
                      help="with --live: confirm without a prompt by naming the live account")
    risk.add_argument("--max-daily-loss", type=positive_float_arg,
                      help="dollars; no new positions beyond")
    risk.add_argument("--max-open-spreads", type=count_arg, dest="spread_cap",
                      help="the broker's safety cap: no new spread beyond this many open "
                           "and pending in the whole account, every symbol together (0: "
                           "none); the strategy still opens at most its max_open_spreads "
                           "(3) per symbol, as in a backtest")
    risk.add_argument("--cancel-on-exit", action="store_true",
                      help="cancel open orders on exit and wait for IB to confirm each "
                           "(an order it did not confirm is named as possibly still working)")
    risk.add_argument("--cancel-timeout", type=seconds_arg, metavar="SECONDS",
                      help="seconds to wait for IB to confirm a cancel: each of "
                           "--cancel-on-exit's, and with --strategy credit-spread that of a "
                           "spread order unfilled after its bar (default: --request-timeout, "
                           f"{StoreSettings.request_timeout:g}; raise it on a slow link)")
    risk.add_argument("--journal", type=path_arg, default=Path("paper_journal.sqlite"),
                      help="SQLite journal of intents, orders, fills, commissions")
    options.add_verbosity_options(
        p.add_argument_group("output"),
        quiet_help="no status line per bar: only fills, refusals, skipped entries, orders "
                   "not filled, connection changes and the last line",
        verbose_help="debug logging, with ib_async's own lines (by default those that "
                     "repeat one of ours, e.g. a rejected order's, are dropped)")
    p.set_defaults(handler=run_paper)


def _decide_at_arg(text: str) -> str:
    try:
        parse_decide_at(text)
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--decide-at ")) from None
    return text.strip()


def _check_bar_flags(args) -> None:
    """Refuse flag combinations before connecting."""
    if args.confirm_live and not args.live:
        raise DataError("--confirm-live confirms a --live run: add --live, or drop it")
    try:
        ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DataError(f"--timezone {args.timezone!r} is not a known time zone "
                        f"(e.g. America/New_York)") from None
    if args.strategy == "credit-spread" and args.signals == "direction":
        raise DataError("--strategy credit-spread trades the signal line (hold / call / put "
                        "credit spread), which --signals direction does not have: use "
                        "--signals rule or ml, or --strategy equity")
    if args.signals != "rule" and args.bar_size != "1 day":
        raise DataError(f"--signals {args.signals} scores daily sessions: use --bar-size "
                        f"'1 day' (got {args.bar_size!r}); its models are trained on daily "
                        "bars, and --decide-at HH:MM scores the day before the close")
    if args.decide_at is not None and args.bar_size != "1 day":
        raise DataError(f"--decide-at needs --bar-size '1 day' (got {args.bar_size!r})")
    if args.decide_at is not None and args.live_bars != "realtime":
        raise DataError("--decide-at needs --live-bars realtime (the day's bar is built "
                        "from 5-second bars)")
    if args.close_grace is not None:
        if args.live_bars != "realtime":
            raise DataError("--close-grace applies only with --live-bars realtime (keep_up "
                            "bars go out when IB starts the next one, never on the feed's "
                            "clock): drop it")
        try:
            check_close_grace(args.close_grace)  # as PaperSettings, before any work
        except ValueError as exc:
            raise DataError(with_flags(str(exc), ("close_grace",))) from None


def store_settings(args) -> StoreSettings:
    """The connection's settings (``cli.ib_connection.store_settings``, with the account
    and the cancel wait); ``--cancel-timeout`` where no order is ever cancelled (equity
    shares without ``--cancel-on-exit``: only spread orders expire after a bar) is refused
    as a flag that would change nothing."""
    if (args.cancel_timeout is not None and not args.cancel_on_exit
            and args.strategy != "credit-spread"):
        raise DataError(f"--cancel-timeout applies only with --cancel-on-exit or --strategy "
                        f"credit-spread (this run, --strategy {args.strategy} without "
                        "--cancel-on-exit, cancels no order): drop it, or add "
                        "--cancel-on-exit")
    return ib_connection.store_settings(args, account=args.account,
                                        cancel_timeout=args.cancel_timeout)


def _confirm_live(args, store: IBStore) -> None:
    accounts = store.accounts
    account = args.account or (accounts[0] if len(accounts) == 1 else "")
    if account.startswith("DU") or not args.live:
        return
    if args.confirm_live:
        if args.confirm_live != account:
            raise IBError(f"--confirm-live {args.confirm_live} does not match the live account "
                          f"{account}")
        return
    if not sys.stdin.isatty():
        raise IBError(f"account {account} is LIVE: confirm with --confirm-live {account}")
    typed = input(f"Account {account} is a LIVE account. Type its id to trade real money: ")
    if typed.strip() != account:
        raise IBError("live trading not confirmed")


def paper_settings(args) -> PaperSettings:
    """The PaperSettings of the parsed command line; a strategy rule the config refuses is
    a DataError here, before anything connects."""
    _check_bar_flags(args)
    store = store_settings(args)
    options.check_output_path(args.journal, "--journal", folder=False)
    first_live = now_local().date()  # New York's today, as engine.paper.build
    notes: dict[str, list[str]] = {}
    models = paper_models(args.signals, args.model, args.symbols, args.models_dir,
                          args.store_label, first_live, notes)
    _check_backfill(args.backfill, args.bar_size, models)
    _check_journal_client(args.journal, args.client_id)
    config = config_from_args(strategy_spec(args.strategy), args)
    check_regimes_have_a_line(getattr(config, "skip_regimes", ()), args.signals,
                              "--skip-regimes")
    return PaperSettings(
        strategy=args.strategy, symbols=args.symbols, signals=args.signals,
        signal_models=models, model_notes=notes, store=store,
        journal=str(args.journal), bar_size=args.bar_size, backfill=args.backfill,
        live=args.live_bars, use_rth=not args.all_hours, tz=args.timezone,
        decide_at=args.decide_at,
        **({} if args.close_grace is None else {"close_grace": args.close_grace}),
        max_bars=args.max_bars, allow_live=args.live, cancel_on_exit=args.cancel_on_exit,
        max_daily_loss=args.max_daily_loss, max_open_spreads=args.spread_cap,
        strategy_config=config, status_lines=not args.quiet)


def _check_journal_client(journal: Path, client_id: int) -> None:
    """Refuse a run whose journal holds orders still open that another clientId sent: IB
    lists open orders only to the clientId that placed them, so this run could not see
    them, would call them lost and trade as if they were not working (a second order
    beside the first)."""
    if not Path(journal).is_file():
        return
    from brokers.journal import Journal

    try:
        store = Journal(journal)
    except DataError as exc:
        raise DataError(f"--journal {exc}") from None
    try:
        theirs = [o["client_id"] for o in store.open_orders()
                  if o["client_id"] is not None and o["client_id"] != client_id]
    finally:
        store.close()
    if theirs:
        others, count = sorted(set(theirs)), len(theirs)
        ids = ", ".join(str(i) for i in others)
        raise DataError(f"the journal {journal} has {count} order(s) still open that were "
                        f"sent with clientId {ids}: IB shows open orders only to the clientId "
                        f"that placed them, so this run (--client-id {client_id}) would not "
                        f"see them; restart with --client-id {others[0]}")


def _check_backfill(backfill: str, bar_size: str, models: dict) -> None:
    """Refuse a daily backfill too short for a model's warm-up: the model would score
    nothing until that many live sessions had come."""
    if bar_size != "1 day" or not models:
        return
    have = duration_sessions(backfill)
    symbol, model = max(models.items(), key=lambda item: item[1].warmup_bars)
    if have < model.warmup_bars:
        raise DataError(f"--backfill {backfill!r} gives about {have:.0f} daily bars, fewer "
                        f"than the {model.warmup_bars} warm-up bars the model of {symbol} "
                        "needs before its first signal: use at least '1 Y'")


def run_paper(args) -> int:
    settings = paper_settings(args)
    store = IBStore(settings.store).start()
    try:
        _confirm_live(args, store)
        cerebro, store, broker, _ = build(settings, store=store)
        broker.check_account()  # a live or unknown account: refused before anything is said
        print(f"paper: {settings.strategy} on {','.join(settings.symbols)} via "
              f"{args.ib_host}:{args.ib_port} clientId {args.client_id}, journal {args.journal}",
              flush=True)
        for symbol, model in settings.signal_models.items():
            trained_on = training_source(getattr(model, "metadata_", None) or {})
            print(f"signals {settings.signals} for {symbol}: model trained until "
                  f"{model.trained_until:%Y-%m-%d} on {trained_on}, warm-up "
                  f"{model.warmup_bars} bars", flush=True)
            for note in settings.model_notes.get(symbol, ()):
                print(f"warning: {symbol}: {note}", flush=True)
        known = {f["exec_id"] for f in broker.journal.fills()}  # earlier runs' fills
        try:
            strategy = cerebro.run()[0]
        except KeyboardInterrupt:
            print("stopping on Ctrl-C", flush=True)
            left = len(broker.get_orders_open())
            broker.stop()
            if args.cancel_on_exit:
                _report_cancels(broker.exit_cancels)
            else:
                print(f"{left} open order(s) left at IB", flush=True)
            return 130
        fills = [f for f in broker.journal.fills()
                 if f["booked"] == 1 and f["exec_id"] not in known]  # this run's
        working = broker.working_at_ib()  # this run's and earlier runs' orders
        said = strategy.analyzers.strategy_notes.get_analysis()  # the skipped / not filled lines
        skipped = said["skipped"]
        print(f"done: {len(fills)} fill(s), value {broker.getvalue():,.2f}, "
              f"{len(broker.open_spreads())} open spread(s), {len(working)} order(s) still "
              f"working at IB, {skipped} entr{'y' if skipped == 1 else 'ies'} skipped, "
              f"{said['rejections']} order(s) not filled", flush=True)
        if broker.exit_cancels is not None and broker.exit_cancels.orders:
            _report_cancels(broker.exit_cancels)
        return 0
    finally:
        store.stop()


def _report_cancels(cancels: ExitCancels) -> None:
    """What ``--cancel-on-exit`` achieved, as IB confirmed it: a cancel asked for but not
    confirmed is not reported as done, and the orders that may still work at IB are named
    (the operator has to cancel them in TWS)."""
    print(f"{len(cancels.cancelled)} open order(s) cancelled (IB confirmed)", flush=True)
    if cancels.filled:
        print(f"{len(cancels.filled)} order(s) filled before the cancel reached IB: "
              f"{', '.join(cancels.filled)}", flush=True)
    if cancels.working:
        why = ("not connected to TWS/Gateway, so no cancel was sent" if not cancels.connected
               else f"IB did not confirm the cancel within {cancels.timeout:g} s")
        print(f"warning: {len(cancels.working)} order(s) may still be working at IB ({why}): "
              f"{', '.join(cancels.working)}; check and cancel them in TWS", flush=True)
