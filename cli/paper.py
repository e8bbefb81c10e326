"""``python run.py paper``: the backtest strategies on an IB paper account (TWS/Gateway).

Wires one ``IBStore`` connection, one ``IBData`` feed per symbol (backfill, then live bars),
the ``IBBroker`` (paper-account check, limits, journal) and the very strategy class that
``run.py backtest`` uses, then runs backtrader's live loop. Fills and refusals are printed
as they happen and a status line after every live bar. Ctrl-C stops cleanly: open orders
stay at IB unless ``--cancel-on-exit``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from brokers.bar_times import parse_decide_at
from brokers.ib_feed import BAR_SECONDS
from brokers.ib_store import IBError, IBStore, StoreSettings
from core.errors import DataError
from engine.paper import PaperSettings, build


def register(commands) -> None:
    p = commands.add_parser(
        "paper", help="run a strategy on an Interactive Brokers paper account",
        description="Run the backtest strategy class unchanged against TWS / IB Gateway: "
                    "historical backfill, then live bars; orders go to the paper account "
                    "(managed account DU...), shares as stock orders, credit spreads as one "
                    "BAG combo order. Prints fills and a status line per bar; Ctrl-C stops "
                    "(open orders stay at IB unless --cancel-on-exit).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--strategy", default="equity", choices=("equity", "credit-spread"),
                   help="the backtest strategy class to run (shares, or credit spreads as BAGs)")
    p.add_argument("--symbols", default="SPY", help="comma-separated IB stock symbols")
    p.add_argument("--signals", default="rule", choices=("rule",),
                   help="rule: the trend + RSI baseline indicator")
    rules = p.add_argument_group("strategy rules (as in run.py backtest)")
    rules.add_argument("--min-confidence", type=float, default=0.25,
                       help="equity: enter only above this confidence")
    rules.add_argument("--allow-short", action="store_true", help="equity: short on SELL")
    rules.add_argument("--target-delta", type=float, default=0.30, help="short leg's |delta|")
    rules.add_argument("--width", type=float, help="spread width (default: one strike step)")
    rules.add_argument("--dte-min", type=int, default=30, help="shortest days to expiry")
    rules.add_argument("--dte-max", type=int, default=45, help="longest days to expiry")
    rules.add_argument("--profit-take", type=float, default=0.5, help="share of credit kept")
    rules.add_argument("--stop-multiple", type=float, default=2.0,
                       help="close when the cost to close reaches this multiple of the credit")
    rules.add_argument("--risk-per-trade", type=float, default=0.02,
                       help="max loss of a new spread as a fraction of the account")
    ib = p.add_argument_group("connection")
    ib.add_argument("--ib-host", default="127.0.0.1", help="TWS/Gateway host")
    ib.add_argument("--ib-port", type=int, default=7497,
                    help="TWS paper 7497, TWS live 7496, Gateway paper 4002, live 4001")
    ib.add_argument("--client-id", type=int, default=1, help="API client id (kept on reconnect)")
    ib.add_argument("--account", default="", help="managed account (needed when several)")
    ib.add_argument("--connect-timeout", type=float, default=8.0, help="seconds")
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
    bars.add_argument("--backfill", default="1 Y", help="IB duration of the historical "
                                                        "backfill (e.g. '1 Y', '5 D', '3600 S')")
    bars.add_argument("--live-bars", default="realtime", choices=("realtime", "keep_up"),
                      help="5-second real-time bars resampled, or keepUpToDate bars")
    bars.add_argument("--all-hours", action="store_true", help="include bars outside RTH")
    bars.add_argument("--timezone", default="America/New_York",
                      help="zone the strategy and the status line see bar times in (the "
                           "bars themselves follow the NYSE calendar)")
    bars.add_argument("--max-bars", type=int, help="stop after this many live bars per symbol")
    risk = p.add_argument_group("safety")
    risk.add_argument("--live", action="store_true",
                      help="allow a live (non-DU) account; asks to type the account id")
    risk.add_argument("--confirm-live", metavar="ACCOUNT",
                      help="with --live: confirm without a prompt by naming the live account")
    risk.add_argument("--max-daily-loss", type=float, help="dollars; no new positions beyond")
    risk.add_argument("--max-open-spreads", type=int, help="no new spreads beyond this many")
    risk.add_argument("--cancel-on-exit", action="store_true", help="cancel open orders on exit")
    risk.add_argument("--journal", type=Path, default=Path("paper_journal.sqlite"),
                      help="SQLite journal of intents, orders, fills, commissions")
    p.set_defaults(handler=run_paper)


def _decide_at_arg(text: str) -> str:
    try:
        parse_decide_at(text)
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--decide-at ")) from None
    return text.strip()


def _check_bar_flags(args) -> None:
    """Refuse flag combinations before connecting."""
    try:
        ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DataError(f"--timezone {args.timezone!r} is not a known time zone "
                        f"(e.g. America/New_York)") from None
    if args.decide_at is not None and args.bar_size != "1 day":
        raise DataError(f"--decide-at needs --bar-size '1 day' (got {args.bar_size!r})")
    if args.decide_at is not None and args.live_bars != "realtime":
        raise DataError("--decide-at needs --live-bars realtime (the day's bar is built "
                        "from 5-second bars)")


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


def run_paper(args) -> int:
    from strategies import CreditSpreadConfig, EquityConfig

    _check_bar_flags(args)
    if args.strategy == "credit-spread":
        config = CreditSpreadConfig(
            target_delta=args.target_delta, width=args.width, dte_min=args.dte_min,
            dte_max=args.dte_max, profit_take=args.profit_take,
            stop_multiple=args.stop_multiple, risk_per_trade=args.risk_per_trade)
    else:
        config = EquityConfig(min_confidence=args.min_confidence, allow_short=args.allow_short)
    settings = PaperSettings(
        strategy=args.strategy,
        symbols=[s.strip().upper() for s in args.symbols.split(",") if s.strip()],
        store=StoreSettings(host=args.ib_host, port=args.ib_port, client_id=args.client_id,
                            account=args.account, connect_timeout=args.connect_timeout),
        journal=str(args.journal), bar_size=args.bar_size, backfill=args.backfill,
        live=args.live_bars, use_rth=not args.all_hours, tz=args.timezone,
        decide_at=args.decide_at,
        max_bars=args.max_bars, allow_live=args.live, cancel_on_exit=args.cancel_on_exit,
        max_daily_loss=args.max_daily_loss, max_open_spreads=args.max_open_spreads,
        strategy_config=config)
    store = IBStore(settings.store).start()
    try:
        _confirm_live(args, store)
        cerebro, store, broker, _ = build(settings, store=store)
        print(f"paper: {settings.strategy} on {','.join(settings.symbols)} via "
              f"{args.ib_host}:{args.ib_port} clientId {args.client_id}, journal {args.journal}",
              flush=True)
        try:
            cerebro.run()
        except KeyboardInterrupt:
            print("stopping on Ctrl-C", flush=True)
            broker.stop()
            left = len(broker.get_orders_open())
            print(f"{left} open order(s) " + ("cancelled" if args.cancel_on_exit
                                              else "left at IB"), flush=True)
            return 130
        fills = [f for f in broker.journal.fills() if f["booked"] == 1]
        print(f"done: {len(fills)} fill(s), value {broker.getvalue():,.2f}, "
              f"{len(broker.open_spreads())} open spread(s)", flush=True)
        return 0
    finally:
        store.stop()
