"""``python run.py ml-trading``: seed 003's three modes on the multi-model Direction signal.

* **backtest**: per symbol, a ``DirectionModel`` is trained on the bars *before*
  ``--start-date`` only, then the equity strategy trades its ``direction``/``confidence``
  lines over the window (``backtest.run_symbol``, signals ``direction``); the report folder
  is the one ``run.py backtest`` writes.
* **premarket**: the latest stored model whose training ended on or before the last
  complete bar (else one trained now on the history up to that bar, and stored) scores that
  bar; the signals are printed and saved as CSV and JSON with their as-of date.
* **trading**: the same signal replayed minute by minute through one session: at each
  minute the day's partial bar (the session's open, high and low so far, the last price, the
  volume so far; every other column keeps the previous session's value, scheduled release
  flags excepted) stands in for the daily bar; every change of direction is printed.
  With ``--source ib`` the session's 1-minute bars come from Interactive Brokers
  (TWS/Gateway through ``brokers.ib_store``; the bars IB has when the command runs, no
  live streaming) and the daily history from ``--history-source``.

A failure on one symbol (unknown symbol, too little history, no minute bars) is printed as
``SYMBOL: error: <reason>`` and the other symbols still run; the exit code is then 1. TWS/Gateway not reachable (``--source ib``)
stops the whole run: exit code 2.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cli.arg_types import date_arg, symbols_arg
from core.errors import DataError

MODES = ("premarket", "trading", "backtest")
DEFAULT_SYMBOLS = "AAPL,MSFT,GOOGL,AMZN,TSLA"
DEFAULT_DAYS = 30
#: columns of a partial bar taken from the session itself (the rest: previous session's)
SCHEDULED = ("cpi_release", "consumer_confidence_release")
EXAMPLE = ("Example: python run.py ml-trading --symbols AAPL,MSFT --mode backtest "
           "--start-date 2025-09-02 --end-date 2025-12-31")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where the help text does not already say it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False):
            return text
        return super()._get_help_string(action)


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
DAILY_SOURCES = ("auto", "sample", "bundled", "csv", "polygon")


def register(commands) -> None:
    """``ml-trading`` with ``--mode``, and ``premarket`` / ``trading`` as shortcuts."""
    p = commands.add_parser(
        "ml-trading", help="seed 003's modes: premarket, trading, backtest (Direction model)",
        description="Seed 003's multi-model system (XGBoost, RF, GB, LSTM, GRU, TCN and a "
                    "meta-model giving direction and confidence) in one of three modes. "
                    + " ".join(MODE_HELP.values()) + " " + _KEYS,
        epilog=EXAMPLE + ". " + _EXIT_HELP, formatter_class=_HelpFormatter)
    p.add_argument("-m", "--mode", choices=MODES, default="backtest", help="what to run")
    _add_options(p, backtest=True)
    p.set_defaults(handler=run_ml_trading)
    for mode, text in (("premarket", "signals for the next session from the last complete bar"),
                       ("trading", "signals updated minute by minute through a session")):
        q = commands.add_parser(
            mode, help=f"{text} (ml-trading --mode {mode})",
            description=f"Same as 'ml-trading --mode {mode}'. {MODE_HELP[mode]} {_KEYS}",
            epilog=f"Example: python run.py {mode} --symbols AAPL,MSFT. {_EXIT_HELP}",
            formatter_class=_HelpFormatter)
        _add_options(q, backtest=False)
        q.set_defaults(mode=mode, handler=run_ml_trading, start_date=None, no_report=False)


def _add_options(p: argparse.ArgumentParser, backtest: bool) -> None:
    p.add_argument("-s", "--symbols", type=symbols_arg, default=DEFAULT_SYMBOLS,
                   help="comma-separated symbols")
    if backtest:
        p.add_argument("--start-date", type=date_arg,
                       help=f"backtest: first traded session (default: {DEFAULT_DAYS} days "
                            "before the end date); premarket and trading do not use it")
    p.add_argument("--end-date", type=date_arg,
                   help="backtest: last session; premarket: the as-of date; trading: the "
                        "session replayed (default: today; when the source's data ends "
                        "earlier, its last bar, and the run says so; with --source ib always "
                        "the session at this date, today's: the bars so far)")
    p.add_argument("--source", default="auto", choices=(*DAILY_SOURCES, "ib"),
                   help="auto: polygon when POLYGON_API_KEY is set, else per symbol the "
                        "bundled real index data (SP500, NASDAQ) or the simulated sample "
                        "market; ib (trading mode only): the session's 1-min bars from "
                        "Interactive Brokers, the daily history from --history-source")
    p.add_argument("--history-source", default="auto", choices=DAILY_SOURCES,
                   help="with --source ib: where the daily history (model training, the "
                        "sessions before the replayed one) comes from, as --source (default: "
                        "auto)")
    p.add_argument("--csv", type=Path, metavar="PATH", help="with --source csv: file or folder")
    p.add_argument("--free", action="store_true", help="Polygon free tier (5 requests/min)")
    p.add_argument("--seed", type=int, default=42, help="sample market seed")
    p.add_argument("--cache-dir", type=Path, help="data cache (default: $BTML_CACHE_DIR or "
                                                  "~/.cache/btml)")
    ib = p.add_argument_group("Interactive Brokers (--source ib)")
    ib.add_argument("--ib-host", default="127.0.0.1", help="TWS/Gateway host")
    ib.add_argument("--ib-port", type=int, default=7497,
                    help="TWS paper 7497, TWS live 7496, Gateway paper 4002, live 4001 "
                         "(only historical bars are read; no orders)")
    ib.add_argument("--client-id", type=int, default=1, help="API client id")
    model = p.add_argument_group("model")
    model.add_argument("--config", type=Path, metavar="FILE",
                       help="TOML or YAML file whose [direction] table overrides the model "
                            "settings (members, sizes, labels)")
    model.add_argument("--epochs", type=int,
                       help="epochs of the LSTM/GRU/TCN members (default: the model's)")
    model.add_argument("--models-dir", type=Path, default=Path("Trained_Models"),
                       help="root of the model store (premarket and trading read and write "
                            "<models-dir>/direction/<SYMBOL>/)")
    model.add_argument("--retrain", action="store_true",
                       help="train a new model even when a stored one fits")
    if backtest:
        trade = p.add_argument_group("backtest")
        trade.add_argument("--cash", type=float, default=100_000.0,
                           help="starting cash per symbol")
        trade.add_argument("--commission", type=float, default=0.0005,
                           help="commission as a fraction of traded value")
        trade.add_argument("--min-confidence", type=float, default=0.40,
                           help="buy only on signals at least this confident")
        trade.add_argument("--allow-short", action="store_true", help="short on SELL signals")
    out = p.add_argument_group("output")
    out.add_argument("--report", type=Path, metavar="DIR",
                     help="backtest: report folder (default: reports/ml_backtest_<start>_<end>); "
                          "premarket/trading: folder of the signal files (default: signals/)")
    if backtest:
        out.add_argument("--no-report", action="store_true", help="backtest: print only")
    out.add_argument("-q", "--quiet", action="store_true",
                     help="no progress bars or notes: only the results (and, in trading "
                          "mode, the changes)")


# ---------------------------------------------------------------------------- plumbing
@dataclass
class Outcome:
    """What one symbol's run gave: a summary line, or an error."""

    symbol: str
    source: str = ""
    line: str = ""
    error: str | None = None
    model: object = None
    model_note: str = ""
    signal: dict | None = None
    result: object = None
    changes: list = field(default_factory=list)
    #: trading: (session, the bars before it the model needs, the partial bars)
    replay: tuple | None = None

    def summary_line(self) -> str:
        return f"{self.symbol}: error: {self.error}" if self.error else f"{self.symbol}: {self.line}"


class Sources:
    """The source serving each symbol. ``auto``: Polygon when a key is set, else bundled
    real data for the symbols it has and the sample market for the others."""

    def __init__(self, args):
        from feeds.cache import ParquetCache

        self.args, self._made = args, {}
        self.cache = ParquetCache(args.cache_dir)
        self.auto_polygon = False
        #: the daily source: --history-source when the minutes come from IB
        self.daily = args.history_source if args.source == "ib" else args.source
        if self.daily == "auto":
            from feeds.secrets import polygon_key

            self.auto_polygon = bool(polygon_key())

    def name_for(self, symbol: str) -> str:
        if self.daily != "auto":
            return self.daily
        if self.auto_polygon:
            return "polygon"
        from feeds.bundled import ALIASES, BundledMarket

        bundled = set(BundledMarket().symbols()) | set(ALIASES)
        return "bundled" if symbol.upper() in bundled else "sample"

    def describe(self, name: str) -> str:
        try:
            return self.get(name).describe()
        except DataError as exc:  # e.g. polygon without a key: each symbol says so later
            return f"{name} ({exc})"

    def get(self, name: str):
        if name not in self._made:
            from feeds.sources import make_source

            self._made[name] = make_source(name, seed=self.args.seed, cache=self.cache,
                                           csv_path=self.args.csv, free=self.args.free)
        return self._made[name]


def _today() -> pd.Timestamp:
    return pd.Timestamp.now(tz="America/New_York").tz_localize(None).normalize()


def load_history(source, symbol: str, end: pd.Timestamp, config) -> pd.DataFrame:
    """Daily bars up to ``end``: all a local source has; from Polygon, enough for the
    model's training window (``max_train_bars`` after its warm-up) and then some."""
    start = None
    if source.name == "polygon" and config.max_train_bars:
        from models.direction_model import DirectionModel

        sessions = config.max_train_bars + DirectionModel(config).warmup_bars + 2 * DEFAULT_DAYS
        start = end - pd.Timedelta(days=int(sessions * 365 / 252) + 30)
    return source.bars(symbol, start, end)


def train_model(symbol: str, bars: pd.DataFrame, args, config):
    """A DirectionModel fitted on ``bars`` (it keeps the last ``max_train_bars`` of them)."""
    from models.direction_model import DirectionModel

    if not args.quiet:
        print(f"training the Direction model for {symbol} on the sessions up to "
              f"{bars.index[-1]:%Y-%m-%d} ...", file=sys.stderr)
    return DirectionModel(config).fit(bars, progress=not args.quiet)


def _stored_fits(folder: Path, limit: pd.Timestamp, source, args, config) -> bool:
    """Whether the stored model in ``folder`` was trained on this source (and seed, which
    makes the sample market and sample flow) with this configuration and on nothing after
    ``limit`` (read from metadata.json alone)."""
    from dataclasses import asdict

    try:
        meta = json.loads((folder / "metadata.json").read_text())
        trained_until = pd.Timestamp(meta["training_window"]["end"])
    except (OSError, ValueError, KeyError):
        return False
    wanted = json.loads(json.dumps(asdict(config), default=str))
    return (trained_until <= limit and meta.get("source") == source.name
            and meta.get("seed") == args.seed and meta.get("config") == wanted)


def stored_or_trained(symbol: str, bars: pd.DataFrame, source, args, config):
    """The newest stored model of this symbol, source and configuration trained on nothing
    after the last of ``bars``, else a new one trained on ``bars`` and stored. Returns the
    model and a note saying which."""
    from models.direction_store import direction_dir, load_direction_model, save_direction_model

    limit = bars.index[-1]
    folder = direction_dir(symbol, args.models_dir)
    if not args.retrain and folder.is_dir():
        stamps = sorted((d for d in folder.iterdir() if d.is_dir() and d.name[:1].isdigit()),
                        reverse=True)
        for stamp in stamps:
            if _stored_fits(stamp, limit, source, args, config):
                model = load_direction_model(stamp)
                return model, (f"stored model {stamp} (trained until "
                               f"{pd.Timestamp(model.trained_until):%Y-%m-%d})")
    model = train_model(symbol, bars, args, config)
    saved = save_direction_model(model, symbol, root=args.models_dir, training_bars=bars,
                                 metadata={"source": source.name, "seed": args.seed,
                                           "source_description": source.describe()})
    return model, (f"new model trained until {pd.Timestamp(model.trained_until):%Y-%m-%d}, "
                   f"saved to {saved}")


def direction_name(value: float) -> str:
    from models.direction_model import DIRECTION_NAMES

    return DIRECTION_NAMES[int(value) + 1]


def _signal(symbol: str, as_of, row, source: str, note: str) -> dict:
    """One signal as printed and saved: names, values and class probabilities."""
    if not np.isfinite(row["direction"]):
        raise DataError(f"{symbol}: the model has no score on {as_of} (too little history "
                        "before it for its warm-up)")
    return {"symbol": symbol, "as_of": str(as_of), "direction": direction_name(row["direction"]),
            "direction_value": int(row["direction"]), "confidence": float(row["confidence"]),
            "p_sell": float(row["p_sell"]), "p_neutral": float(row["p_neutral"]),
            "p_buy": float(row["p_buy"]), "source": source, "model": note}


def signal_text(signal: dict) -> str:
    return f"Direction: {signal['direction']}, Confidence: {signal['confidence']:.2f}"


# ---------------------------------------------------------------------------- the handler
class Notes:
    """Remarks printed once each before the results, with the symbols they concern."""

    def __init__(self):
        self._symbols: dict[str, list[str]] = {}

    def add(self, text: str, symbol: str) -> None:
        self._symbols.setdefault(text, []).append(symbol)

    def lines(self) -> list[str]:
        return [f"note: {text} ({', '.join(symbols)})" for text, symbols in self._symbols.items()]


def run_ml_trading(args) -> int:
    """Run the chosen mode for every symbol; print, save, and return the exit code."""
    return execute(args)[0]


def execute(args) -> tuple[int, list[Outcome]]:
    """``run_ml_trading`` that also hands back every symbol's outcome (model included)."""
    from models.direction_model import make_direction_config

    config = make_direction_config(args.config, args.epochs)  # a bad file stops everything
    if args.mode == "backtest" and args.start_date and args.end_date \
            and args.start_date >= args.end_date:
        raise DataError(f"--start-date {args.start_date:%Y-%m-%d} is not before "
                        f"--end-date {args.end_date:%Y-%m-%d}")
    if args.source == "ib" and args.mode != "trading":
        raise DataError(f"--source ib serves the trading mode only (its minute bars); for "
                        f"{args.mode} use --source {'|'.join(DAILY_SOURCES)}")
    sources, notes = Sources(args), Notes()
    outcomes = [Outcome(symbol, sources.name_for(symbol)) for symbol in args.symbols]
    intraday = IBMinutes(args) if args.source == "ib" else None  # connects, or raises
    try:
        return _execute(args, config, sources, notes, outcomes, intraday)
    finally:
        if intraday is not None:
            intraday.store.stop()


def _execute(args, config, sources: Sources, notes: Notes, outcomes: list[Outcome],
             intraday: IBMinutes | None) -> tuple[int, list[Outcome]]:
    if not args.quiet:
        print(f"ML trading, {args.mode} mode\nSources:")
        for o in outcomes:
            print(f"  {o.symbol:<7} {sources.describe(o.source)}")
        if intraday is not None:
            print(f"  minute bars: {intraday.describe()}")
        if args.start_date and args.mode != "backtest":
            print(f"note: --start-date is used by the backtest mode only ({args.mode} "
                  "ignores it)")
    runner = {"backtest": backtest_symbol, "premarket": premarket_symbol,
              "trading": functools.partial(prepare_trading, intraday=intraday)}[args.mode]
    for outcome in outcomes:
        _per_symbol(outcome, lambda o=outcome: runner(o, sources.get(o.source), args, config,
                                                      notes))
    if args.mode == "trading":
        replay([o for o in outcomes if not o.error], args)
    return report(args, outcomes, notes), outcomes


def _per_symbol(outcome: Outcome, work) -> None:
    """Run ``work``; a DataError becomes this symbol's error and the run goes on."""
    try:
        work()
    except DataError as exc:
        outcome.error = str(exc).removeprefix(f"{outcome.symbol}: ")


def _data_end(args, bars: pd.DataFrame, source, symbol: str, notes: Notes) -> pd.Timestamp:
    """The last bar on or before the requested end (default today), noted when the data
    stops before the last session up to that end (not for a weekend or holiday end)."""
    from feeds.calendar import CALENDAR_END, sessions

    wanted, last = args.end_date or _today(), bars.index[-1]
    if len(sessions(last + pd.Timedelta(days=1), min(wanted, pd.Timestamp(CALENDAR_END)))):
        asked = f"--end-date {wanted:%Y-%m-%d}" if args.end_date else f"today ({wanted:%Y-%m-%d})"
        window = (f"; the backtest covers the last {DEFAULT_DAYS} days it has"
                  if args.mode == "backtest" and not args.start_date else "")
        notes.add(f"{source.name} data ends {last:%Y-%m-%d}, before {asked}: ending there"
                  + window, symbol)
    return last


# ---------------------------------------------------------------------------- backtest
def backtest_symbol(outcome: Outcome, source, args, config, notes: Notes) -> None:
    from engine.backtest import BacktestSettings, run_symbol
    from strategies import EquityConfig

    symbol = outcome.symbol
    bars = load_history(source, symbol, args.end_date or _today(), config)
    end = _data_end(args, bars, source, symbol, notes)
    start = args.start_date or end - pd.DateOffset(days=DEFAULT_DAYS)
    if start > end:
        raise DataError(f"--start-date {start:%Y-%m-%d} is after the last bar {source.name} "
                        f"has for {symbol} ({end:%Y-%m-%d})")
    before = bars[bars.index < start]  # nothing at or after the first traded session
    if before.empty:
        raise DataError(f"no history before {start:%Y-%m-%d} to train on ({source.name} has "
                        f"{symbol} from {bars.index[0]:%Y-%m-%d})")
    model = train_model(symbol, before, args, config)
    outcome.model = model
    outcome.model_note = (f"trained on {model.fit_info_['train_start']:%Y-%m-%d}.."
                          f"{model.trained_until:%Y-%m-%d}")
    settings = BacktestSettings(
        start=start, end=end, strategy="equity", signals="direction", cash=args.cash,
        commission=args.commission,
        equity=EquityConfig(min_confidence=args.min_confidence, allow_short=args.allow_short),
        record_lines=True, progress=not args.quiet, signal_models={symbol: model})
    result = run_symbol(source, symbol, settings)
    outcome.result = result
    outcome.line = f"Return: {100 * result.metrics['total_return']:.2f}%"


# ---------------------------------------------------------------------------- premarket
def premarket_symbol(outcome: Outcome, source, args, config, notes: Notes) -> None:
    symbol = outcome.symbol
    bars = load_history(source, symbol, args.end_date or _today(), config)
    as_of = _data_end(args, bars, source, symbol, notes)
    model, note = stored_or_trained(symbol, bars, source, args, config)
    scored = model.predict_frame(bars.iloc[-(model.warmup_bars + 1):])
    outcome.model, outcome.model_note = model, note
    outcome.signal = _signal(symbol, f"{as_of:%Y-%m-%d}", scored.iloc[-1], outcome.source, note)
    outcome.line = signal_text(outcome.signal)


# ---------------------------------------------------------------------------- trading
def partial_bars(minutes: pd.DataFrame, previous: pd.Series, today: pd.Series | None
                 ) -> pd.DataFrame:
    """The day's bar as known after each minute: the session's open, the high and low so
    far, the last close, the volume so far; every other column keeps the previous
    session's value (today's options flow is known only after the close), except the
    scheduled release flags of ``SCHEDULED``, known in advance."""
    frame = pd.DataFrame({
        "open": minutes["open"].iloc[0], "high": minutes["high"].cummax(),
        "low": minutes["low"].cummin(), "close": minutes["close"],
        "volume": minutes["volume"].cumsum()}, index=minutes.index)
    for column in previous.index.difference(frame.columns, sort=False):
        value = today[column] if today is not None and column in SCHEDULED else previous[column]
        frame[column] = value
    return frame[list(previous.index)]


class IBMinutes:
    """Interactive Brokers as the minute-bar source of the trading mode: one connection
    (``brokers.ib_store.IBStore``) for all symbols; the session is --end-date's (default
    today's, whose bars so far are read). Only historical bars are requested."""

    name = "IB"

    def __init__(self, args):
        from brokers.ib_store import IBStore, StoreSettings
        from feeds.calendar import sessions

        wanted = args.end_date or _today()
        self.session = sessions(wanted - pd.Timedelta(days=10), wanted)[-1]
        self.now = self.session == _today()
        self.settings = StoreSettings(host=args.ib_host, port=args.ib_port,
                                      client_id=args.client_id)
        self.store = IBStore(self.settings).start()  # IBError (exit 2) when unreachable

    def describe(self) -> str:
        s = self.settings
        so_far = " so far" if self.now else ""
        return (f"Interactive Brokers TWS/Gateway at {s.host}:{s.port} (clientId "
                f"{s.client_id}): 1-min TRADES bars, regular hours, of {self.session:%Y-%m-%d}"
                f"{so_far}")

    def minute_bars(self, symbol: str) -> pd.DataFrame:
        from brokers.ib_feed import session_minute_bars

        return session_minute_bars(self.store, symbol, self.session, now=self.now)


def prepare_trading(outcome: Outcome, source, args, config, notes: Notes,
                    intraday: IBMinutes | None = None) -> None:
    """The session to replay, its partial bars and the model (stored, else trained on the
    history before the session and stored). The minutes come from ``intraday`` (IB) when
    given, else from ``source``."""
    from feeds.calendar import sessions
    from feeds.sample_market import session_minutes

    symbol = outcome.symbol
    if intraday is None:
        bars = load_history(source, symbol, args.end_date or _today(), config)
        session = _data_end(args, bars, source, symbol, notes)
        if not hasattr(source, "minute_bars"):
            raise DataError(f"{source.name} has no minute bars; trading mode needs them "
                            "(--source sample or polygon)")
    else:
        session = intraday.session
        bars = load_history(source, symbol, session, config)
    history = bars[bars.index < session]
    if history.empty:
        raise DataError(f"no history before {session:%Y-%m-%d}")
    if intraday is None:
        minutes, name = source.minute_bars(symbol, session, session), source.name
        today = bars.loc[session]
    else:
        before = sessions(session - pd.Timedelta(days=10), session)[-2]
        if history.index[-1] < before:
            notes.add(f"{source.name} daily data ends {history.index[-1]:%Y-%m-%d}, before "
                      f"{before:%Y-%m-%d} (the session before {session:%Y-%m-%d}): the model "
                      "sees no sessions in between", symbol)
        minutes, name = intraday.minute_bars(symbol), intraday.name
        today = bars.loc[session] if session in bars.index else None
        if today is None:  # release flags of the session unknown to the daily source
            today = history.iloc[-1].copy()
            today[today.index.intersection(list(SCHEDULED))] = 0.0
    minutes = minutes[minutes.index.isin(session_minutes(session))]  # regular hours only
    if minutes.empty:
        raise DataError(f"{name} has no regular-session minute bars on {session:%Y-%m-%d}")
    outcome.model, outcome.model_note = stored_or_trained(symbol, history, source, args,
                                                          config)
    outcome.replay = (session, history.iloc[-outcome.model.warmup_bars:],
                      partial_bars(minutes, history.iloc[-1], today))
    if intraday is not None:
        outcome.source = f"{source.name}+ib"  # daily history + IB minutes


def score_partial(outcome: Outcome, i: int) -> dict:
    """The signal after the ``i``-th minute: the model on the sessions before plus the
    partial bar standing in for the session's daily bar."""
    session, tail, partial = outcome.replay
    frame = pd.concat([tail, partial.iloc[[i]].set_axis([session])])
    row = outcome.model.predict_frame(frame).iloc[-1]
    return _signal(outcome.symbol, f"{partial.index[i]:%Y-%m-%d %H:%M}", row, outcome.source,
                   outcome.model_note)


def replay(prepared: list[Outcome], args) -> None:
    """Minute by minute across the symbols: score, print each change of direction."""
    from tqdm import tqdm

    steps = sorted((t, k, i) for k, o in enumerate(prepared)
                   for i, t in enumerate(o.replay[2].index))
    for _when, k, i in tqdm(steps, desc="minutes", unit="bar", leave=False,
                           disable=args.quiet):
        outcome = prepared[k]
        if outcome.error:
            continue
        _per_symbol(outcome, lambda o=outcome, i=i: _step(o, i))


def _step(outcome: Outcome, i: int) -> None:
    from tqdm import tqdm

    signal = score_partial(outcome, i)
    last = outcome.changes[-1]["direction"] if outcome.changes else None
    if signal["direction"] != last:
        outcome.changes.append(signal)
        tqdm.write(f"{signal['as_of']} {outcome.symbol}: {signal_text(signal)}")
    outcome.signal = signal
    outcome.line = signal_text(signal)


# ---------------------------------------------------------------------------- output
def report(args, outcomes: list[Outcome], notes: Notes) -> int:
    """Print the notes (unless quiet) and the results; write the report or signal files.
    Returns the exit code: 1 when any symbol failed, else 0."""
    lines = ["Results Summary:", *(o.summary_line() for o in outcomes)]
    ok = [o for o in outcomes if not o.error]
    if args.mode == "backtest" and ok:
        lines += ["", _metrics_table(args, ok)]
    text = "\n".join(lines) + "\n"
    if not args.quiet:
        text = "".join(f"{line}\n" for line in notes.lines()) + "\n" + text
    print(text, end="")
    if args.mode == "backtest":
        _backtest_report(args, ok, text)
    elif ok:
        _save_signals(args, outcomes)
    return 1 if len(ok) < len(outcomes) else 0


def _header(args, ok: list[Outcome]) -> dict:
    results = [o.result for o in ok]
    return {"command": "ml-trading --mode backtest", "strategy": "equity",
            "signals": "direction", "symbols": ",".join(o.symbol for o in ok),
            "source": ",".join(sorted({o.source for o in ok})),
            "source_description": "; ".join(f"{o.symbol} {o.source}" for o in ok),
            "start": min(r.metrics["start"] for r in results),
            "end": max(r.metrics["end"] for r in results), "cash": args.cash,
            "commission": args.commission, "seed": args.seed,
            "models": {o.symbol: o.model_note for o in ok}}


def _metrics_table(args, ok: list[Outcome]) -> str:
    """run.py backtest's metrics table for these results (the last block of its summary)."""
    from engine.summary import format_summary

    return format_summary([o.result for o in ok], _header(args, ok)).rstrip("\n").split(
        "\n\n")[-1]


def _backtest_report(args, ok: list[Outcome], summary: str) -> None:
    if args.no_report or not ok:
        return
    from analyzers.report import write_report
    from engine.backtest import realized_direction

    header = _header(args, ok)
    folder = args.report or Path("reports") / (
        f"ml_backtest_{header['start'].replace('-', '')}_{header['end'].replace('-', '')}")
    closes = {o.symbol: o.result.bars["close"] for o in ok}
    write_report(folder, [o.result for o in ok], summary, header,
                 lambda result: realized_direction(closes[result.symbol]))
    for o in ok:
        model = o.model
        model.evaluation_.to_csv(folder / o.symbol / "direction_evaluation.csv")
        model.importance_.rename("importance").to_csv(folder / o.symbol /
                                                      "feature_importance.csv")
    if not args.quiet:
        print(f"\nReport written to {folder}/ (open {folder}/index.html)")


def _save_signals(args, outcomes: list[Outcome]) -> None:
    """``<dir>/<mode>_<as-of>.csv`` and ``.json`` (and, trading, ``_changes.csv``)."""
    ok = [o for o in outcomes if not o.error]
    folder = args.report or Path("signals")
    folder.mkdir(parents=True, exist_ok=True)
    as_of = max(o.signal["as_of"] for o in ok)[:10]
    stem = folder / f"{args.mode}_{as_of}"
    rows = pd.DataFrame([o.signal for o in ok])
    rows.to_csv(stem.with_suffix(".csv"), index=False)
    payload = {"mode": args.mode, "as_of": as_of,
               "created_at": pd.Timestamp.now().isoformat(timespec="seconds"),
               "signals": [o.signal for o in ok],
               "errors": {o.symbol: o.error for o in outcomes if o.error}}
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    written = [stem.with_suffix(".csv"), stem.with_suffix(".json")]
    if args.mode == "trading":
        changes = folder / f"{stem.name}_changes.csv"
        pd.DataFrame([c for o in ok for c in o.changes]).sort_values(
            ["as_of", "symbol"], kind="stable").to_csv(changes, index=False)
        written.append(changes)
    if not args.quiet:
        print(f"\nSignals saved to {', '.join(str(p) for p in written)}")
