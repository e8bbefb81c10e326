"""The trading mode: a session replayed minute by minute on the day's partial bar.

At each minute the day's bar as known so far (the session's open, high and low so far, the
last price, the volume so far; every other column keeps the previous session's value,
scheduled release flags excepted) stands in for the daily bar, and every change of
direction is printed. The minutes come from the daily source (sample, polygon) or from
Interactive Brokers (``IBMinutes``: the bars TWS/Gateway has when the run starts, no live
streaming).
"""

from __future__ import annotations

import pandas as pd

from core.errors import DataError
from engine.ml_trading.direction_store import reuse_note, stored_or_trained
from engine.ml_trading.outcome import Notes, Outcome, per_symbol
from engine.ml_trading.settings import MLTradingSettings
from engine.ml_trading.signals import make_signal, signal_text
from engine.ml_trading.sources import data_end, load_history, today

#: columns of a partial bar taken from the session itself (the rest: previous session's)
SCHEDULED = ("cpi_release", "consumer_confidence_release")


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

    def __init__(self, settings: MLTradingSettings):
        from brokers.ib_store import IBStore
        from feeds.calendar import sessions

        wanted = settings.end_date or today()
        self.session = sessions(wanted - pd.Timedelta(days=10), wanted)[-1]
        self.now = self.session == today()
        self.settings = settings.ib
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


def prepare_trading(outcome: Outcome, source, settings: MLTradingSettings, notes: Notes,
                    intraday: IBMinutes | None = None) -> None:
    """The session to replay, its partial bars and the model (stored, else trained on the
    history before the session and stored). The minutes come from ``intraday`` (IB) when
    given, else from ``source``."""
    from feeds.calendar import sessions
    from feeds.sample_market import SYMBOLS as SAMPLE_PROFILES
    from feeds.sample_market import session_minutes
    from feeds.sources import GENERATED_SOURCES

    symbol, config = outcome.symbol, settings.model
    if intraday is None:
        bars = load_history(source, symbol, settings.end_date or today(), config)
        session = data_end(settings, bars, source, symbol, notes)
        if not hasattr(source, "minute_bars"):
            raise DataError(f"{source.name} has no minute bars; trading mode needs them "
                            "(--source polygon, or --source sample for its symbols "
                            f"{','.join(p.symbol for p in SAMPLE_PROFILES)})")
    else:
        session = intraday.session
        bars = load_history(source, symbol, session, config)
    history = bars[bars.index < session]
    if history.empty:
        raise DataError(f"no history before {session:%Y-%m-%d}")
    if intraday is None:
        minutes, name = source.minute_bars(symbol, session, session), source.name
        session_bar = bars.loc[session]
    else:
        before = sessions(session - pd.Timedelta(days=10), session)[-2]
        if history.index[-1] < before:
            notes.add(f"{source.name} daily data ends {history.index[-1]:%Y-%m-%d}, before "
                      f"{before:%Y-%m-%d} (the session before {session:%Y-%m-%d}): the model "
                      "sees no sessions in between", symbol)
        minutes, name = intraday.minute_bars(symbol), intraday.name
        if source.name in GENERATED_SOURCES:  # a simulated market under real minutes
            notes.add(f"the daily history and the model are the {source.name} market's, a "
                      "simulated market: IB's minute bars of the real one are scored on top "
                      "of them (use --history-source polygon or csv for real daily history)",
                      symbol)
        session_bar = bars.loc[session] if session in bars.index else None
        if session_bar is None:  # release flags of the session unknown to the daily source
            session_bar = history.iloc[-1].copy()
            session_bar[session_bar.index.intersection(list(SCHEDULED))] = 0.0
    minutes = minutes[minutes.index.isin(session_minutes(session))]  # regular hours only
    if minutes.empty:
        raise DataError(f"{name} has no regular-session minute bars on {session:%Y-%m-%d}")
    outcome.model, outcome.model_note = stored_or_trained(symbol, history, source, settings)
    said = reuse_note(symbol, outcome.model_note, outcome.model, history.index[-1])
    if said:
        notes.add(said, symbol)
    outcome.replay = (session, history.iloc[-outcome.model.warmup_bars:],
                      partial_bars(minutes, history.iloc[-1], session_bar))
    if intraday is not None:
        outcome.source = f"{source.name}+ib"  # daily history + IB minutes


def score_partial(outcome: Outcome, i: int) -> dict:
    """The signal after the ``i``-th minute: the model on the sessions before plus the
    partial bar standing in for the session's daily bar.

    The sessions before feed the model's stream once (``outcome.live``); each minute then
    only scores the partial bar on top of them (``DirectionStream.peek``: the bar's
    features and one window through the members' live paths), a few ms instead of the
    whole warm-up again. It gives ``predict_frame`` of the same bars within 1e-5."""
    session, tail, partial = outcome.replay
    if outcome.live is None:
        outcome.live = outcome.model.stream()
        for day, bar in zip(tail.index, tail.to_dict("records"), strict=True):
            outcome.live.update(day, bar)
    values = outcome.live.peek(session, partial.iloc[i])
    row = pd.Series(values, index=list(outcome.model.output_columns))
    return make_signal(outcome.symbol, f"{partial.index[i]:%Y-%m-%d %H:%M}", row, outcome.source,
                   outcome.model_note)


def replay(prepared: list[Outcome], quiet: bool) -> None:
    """Minute by minute across the symbols: score, print each change of direction."""
    from tqdm import tqdm

    steps = sorted((t, k, i) for k, o in enumerate(prepared)
                   for i, t in enumerate(o.replay[2].index))
    for _when, k, i in tqdm(steps, desc="minutes", unit="bar", leave=False,
                           disable=quiet):
        outcome = prepared[k]
        if outcome.error:
            continue
        per_symbol(outcome, lambda o=outcome, i=i: _step(o, i))


def _step(outcome: Outcome, i: int) -> None:
    from tqdm import tqdm

    signal = score_partial(outcome, i)
    last = outcome.changes[-1]["direction"] if outcome.changes else None
    if signal["direction"] != last:
        outcome.changes.append(signal)
        tqdm.write(f"{signal['as_of']} {outcome.symbol}: {signal_text(signal)}")
    outcome.signal = signal
    outcome.line = signal_text(signal)
