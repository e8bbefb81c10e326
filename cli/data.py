"""``run.py data fetch``: download into the cache ahead of a backtest, with progress.

On Polygon's free tier (5 requests a minute) an option-chain backtest needs hours of
requests; this command makes them once, shows progress with an estimate, and can be
stopped (Ctrl-C, a lost connection, a rate-limit error) and run again: every finished piece
(a year of bars, a day's contract list, a contract's bars, a day of flow) is already a
cache file, so the rerun sends requests only for what is missing. A backtest over the same
dates with the same cache then sends none.
"""

from __future__ import annotations

import sys
import time

from cli import options
from core.errors import DataError

DESCRIPTION = """\
Fetch Polygon (and, with UNUSUAL_WHALES_API_KEY, Unusual Whales) data into the cache.

Daily bars are fetched for the window a backtest ending at --end-date loads (its dates plus
the default history before them), together with Treasury yields and CPI release dates;
--options adds the near-the-money option chain of every session from --start-date to
--end-date (contract lists and option bars), --minutes the minute bars of those sessions.
Keys come from POLYGON_API_KEY (or MASSIVE_API_KEY) and UNUSUAL_WHALES_API_KEY in the
environment or a .env file, never from the command line; POLYGON_API_BASE and
UNUSUAL_WHALES_API_BASE point the clients at another server. Interrupt at any time and run
the same command again to resume."""



def register(commands) -> None:
    """Add ``data`` (with its ``fetch`` sub-command) to run.py's commands."""
    data = commands.add_parser("data", help="download market data into the cache",
                               description="Work with the data cache.")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = actions.add_parser(
        "fetch", help="pre-fill the cache from Polygon / Unusual Whales (resumable)",
        description=DESCRIPTION, formatter_class=options.RawHelpFormatter)
    # no default symbols or dates: every fetch costs requests, so the user names them
    options.add_symbols_option(fetch, None, "comma-separated tickers, e.g. SPY,QQQ")
    options.add_window_options(
        fetch, start="first session of the backtest to prepare",
        end="last session (capped at the last complete session)", required=True)
    # polygon only: the other sources have nothing to download
    options.add_source_options(
        fetch, sources=("polygon",), default="polygon",
        help="where to fetch from: polygon (Polygon.io, with Unusual Whales flow when "
             "UNUSUAL_WHALES_API_KEY is set; --seed makes the simulated flow columns used "
             "without it)")
    fetch.add_argument("--options", action="store_true",
                       help="also fetch the option chain of every session (many requests)")
    fetch.add_argument("--minutes", action="store_true",
                       help="also fetch minute bars of every session")
    options.add_expiry_options(fetch)
    options.add_verbosity_options(
        fetch, verbose_help="log every request, retry and rate-limit wait (debug logging; "
                            "keys are never shown)")
    fetch.set_defaults(handler=run_fetch)


def run_fetch(args) -> int:
    """Handler of ``data fetch``: fetch, report what was sent and what was already cached."""
    from tqdm import tqdm

    from feeds.cache import ParquetCache
    from feeds.calendar import sessions
    from feeds.polygon import polygon_from_environment
    from feeds.polygon_options import ChainWindow

    if args.start_date > args.end_date:
        raise DataError(f"--start-date {args.start_date:%Y-%m-%d} is after --end-date "
                        f"{args.end_date:%Y-%m-%d}")
    if not 0 <= args.dte_min <= args.dte_max:
        raise DataError(f"need 0 <= --dte-min <= --dte-max, got {args.dte_min}, {args.dte_max}")
    cache = ParquetCache(args.cache_dir)
    source = polygon_from_environment(seed=args.seed, cache=cache, free=args.free,
                                      chain_window=ChainWindow(args.dte_min, args.dte_max))
    say = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    if hasattr(source.flow, "progress"):  # Unusual Whales: hundreds of paced requests
        source.flow.progress = not args.quiet
    say(f"source: {source.describe()}")
    say(f"cache: {cache.root}")
    if args.free:
        say("free tier: at most 5 requests per minute; every finished piece is cached, so "
            "stopping and running again resumes")
    began = time.monotonic()
    days = []
    try:
        for symbol in tqdm(args.symbols, desc="symbols", unit="symbol", file=sys.stderr,
                           disable=args.quiet or len(args.symbols) == 1):
            before = sent(source)[0]
            end = min(args.end_date, source.last_complete)
            if args.start_date > end:
                raise DataError(f"--start-date {args.start_date:%Y-%m-%d} is after the last "
                                f"complete session {source.last_complete:%Y-%m-%d}: nothing "
                                "to fetch yet")
            say(f"{symbol}: daily bars up to {end:%Y-%m-%d} ...")
            bars = source.bars(symbol, None, end)
            if args.start_date < bars.index[0]:
                bars = source.bars(symbol, args.start_date, end)
            days = sessions(max(args.start_date, bars.index[0]), end)
            if not len(days):
                print(f"warning: {symbol}: no session between {args.start_date:%Y-%m-%d} "
                      f"and {end:%Y-%m-%d}: no minute bars or chains to fetch", file=sys.stderr)
            say(f"{symbol}: {len(bars)} daily bars {bars.index[0]:%Y-%m-%d}.."
                f"{bars.index[-1]:%Y-%m-%d} ({sent(source)[0] - before} requests for them, "
                f"{sent(source)[1]} so far)")
            if args.minutes:
                _each_day(source, symbol, days, "minute bars", args.quiet,
                          lambda day, s=symbol: source.minute_bars(s, day, day))
            if args.options:
                chain = source.option_chain(symbol)
                _each_day(source, symbol, days, "option chains", args.quiet, chain.chain)
    except KeyboardInterrupt:
        print(f"interrupted after {sent(source)[1]} sent: what was fetched is cached; run "
              "the same command again to resume", file=sys.stderr)
        raise
    waited = source.limiter.waited if source.limiter is not None else 0.0
    # the result of the run: stdout, also with -q (the notes above go to stderr)
    print(f"done in {time.monotonic() - began:.1f} s: {sent(source)[1]} sent, "
          f"{source.store.from_cache} pieces found in the cache, {waited:.0f} s waiting for "
          "the rate limit (requests count every page and retry)")
    return 0


def sent(source) -> tuple[int, str]:
    """HTTP requests the run sent, all APIs together, and in words per API (the Unusual
    Whales flow client counts its own, so a Polygon-only number would undercount)."""
    flow = getattr(getattr(source, "flow", None), "requests", None)
    polygon = source.requests
    if not isinstance(flow, int):
        return polygon, f"{polygon} requests"
    return polygon + flow, (f"{polygon + flow} requests ({polygon} Polygon, {flow} "
                            "Unusual Whales)")


def _each_day(source, symbol, days, what, quiet, fetch_day) -> None:
    """``fetch_day(day)`` for each session with a progress bar (rate, estimate, requests);
    a day Polygon has nothing for is reported and skipped, an API failure stops the run."""
    from tqdm import tqdm

    from feeds.rate_limit import ApiError

    skipped = []
    with tqdm(days, desc=f"{symbol} {what}", unit="day", disable=quiet, file=sys.stderr) as bar:
        for day in bar:
            try:
                fetch_day(day)
            except ApiError:
                raise
            except (DataError, KeyError) as exc:  # no contracts, or no bar that day
                skipped.append(f"{day:%Y-%m-%d}: {exc}")
            bar.set_postfix(requests=sent(source)[0], cached=source.store.from_cache)
    if skipped:  # missing data is said even with -q
        print(f"warning: {symbol} {what}: {len(skipped)} session(s) without data, e.g. "
              f"{skipped[0]}", file=sys.stderr)
