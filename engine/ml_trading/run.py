"""Every symbol of an ml-trading run through the chosen mode, then the results.

A failure on one symbol (unknown symbol, too little history, no minute bars) becomes that
symbol's ``error`` and the other symbols still run; the exit code is then 1. A bad request
(dates the wrong way round, ``--source ib`` outside the trading mode, a source that cannot
be opened: Polygon without a key, ``--source csv`` without ``--csv``) or TWS/Gateway not
reachable stops the whole run before any symbol (``DataError`` / ``IBError``: exit code 2).
"""

from __future__ import annotations

import functools

from core.errors import DataError
from engine.ml_trading.backtest import backtest_symbol
from engine.ml_trading.minute_replay import IBMinutes, prepare_trading, replay
from engine.ml_trading.outcome import Notes, Outcome, per_symbol
from engine.ml_trading.premarket import premarket_symbol
from engine.ml_trading.results import report
from engine.ml_trading.settings import DAILY_SOURCES, MLTradingSettings
from engine.ml_trading.sources import Sources


def execute(settings: MLTradingSettings) -> tuple[int, list[Outcome]]:
    """Run the mode for every symbol; print, save; the exit code and every outcome."""
    s = settings
    if s.mode == "backtest" and s.start_date and s.end_date and s.start_date >= s.end_date:
        raise DataError(f"--start-date {s.start_date:%Y-%m-%d} is not before "
                        f"--end-date {s.end_date:%Y-%m-%d}")
    if s.source == "ib" and s.mode != "trading":
        raise DataError(f"--source ib serves the trading mode only (its minute bars); for "
                        f"{s.mode} use --source {'|'.join(DAILY_SOURCES)}")
    sources, notes = Sources(s), Notes()
    outcomes = [Outcome(symbol, sources.name_for(symbol)) for symbol in s.symbols]
    for name in dict.fromkeys(o.source for o in outcomes):
        sources.get(name)  # no key, no --csv: the whole run is refused, before IB connects
    _print_sources(s, sources, outcomes)  # before IB connects: said even when it cannot
    intraday = IBMinutes(s) if s.source == "ib" else None  # connects, or raises
    try:
        return _execute(s, sources, notes, outcomes, intraday)
    finally:
        if intraday is not None:
            intraday.store.stop()


def _print_sources(settings: MLTradingSettings, sources: Sources,
                   outcomes: list[Outcome]) -> None:
    """The run's header: the mode and where each symbol's bars come from (not with -q)."""
    if settings.quiet:
        return
    print(f"ML trading, {settings.mode} mode\nSources:")
    for o in outcomes:
        print(f"  {o.symbol:<7} {sources.describe(o.source)}")


def _execute(settings: MLTradingSettings, sources: Sources, notes: Notes,
             outcomes: list[Outcome], intraday: IBMinutes | None) -> tuple[int, list[Outcome]]:
    mode = settings.mode
    if not settings.quiet:
        if intraday is not None:
            print(f"  minute bars: {intraday.describe()}")
    runner = {"backtest": backtest_symbol, "premarket": premarket_symbol,
              "trading": functools.partial(prepare_trading, intraday=intraday)}[mode]
    for outcome in outcomes:
        per_symbol(outcome, lambda o=outcome: runner(o, sources.get(o.source), settings, notes))
    if mode == "trading":
        replay([o for o in outcomes if not o.error], settings.quiet)
    return report(settings, outcomes, notes), outcomes
