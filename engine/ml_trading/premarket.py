"""The premarket mode for one symbol: the last complete bar scored by the stored model
trained no later than it (else one trained now and stored)."""

from __future__ import annotations

from engine.ml_trading.direction_store import reuse_note, stored_or_trained
from engine.ml_trading.outcome import Notes, Outcome
from engine.ml_trading.settings import MLTradingSettings
from engine.ml_trading.signals import make_signal, signal_text
from engine.ml_trading.sources import data_end, load_history, today


def premarket_symbol(outcome: Outcome, source, settings: MLTradingSettings,
                     notes: Notes) -> None:
    symbol = outcome.symbol
    bars = load_history(source, symbol, settings.end_date or today(), settings.model)
    as_of = data_end(settings, bars, source, symbol, notes)
    model, note = stored_or_trained(symbol, bars, source, settings)
    said = reuse_note(symbol, note, model, as_of)
    if said:
        notes.add(said, symbol)
    scored = model.predict_frame(bars.iloc[-(model.warmup_bars + 1):])
    outcome.model, outcome.model_note = model, note
    outcome.signal = make_signal(symbol, f"{as_of:%Y-%m-%d}", scored.iloc[-1], outcome.source,
                                 note)
    outcome.line = signal_text(outcome.signal)
