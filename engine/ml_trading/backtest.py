"""The backtest mode for one symbol: a Direction model trained on the bars before
``start_date`` only, then the equity strategy on its direction/confidence lines."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from core.errors import DataError
from engine.ml_trading.direction_store import train_model
from engine.ml_trading.outcome import Notes, Outcome
from engine.ml_trading.settings import DEFAULT_DAYS, MLTradingSettings
from engine.ml_trading.sources import data_end, load_history, today


def backtest_symbol(outcome: Outcome, source, settings: MLTradingSettings,
                    notes: Notes) -> None:
    from engine.backtest import BacktestSettings, run_symbol

    symbol, config = outcome.symbol, settings.model
    bars = load_history(source, symbol, settings.end_date or today(), config)
    end = data_end(settings, bars, source, symbol, notes)
    start = settings.start_date or end - pd.DateOffset(days=DEFAULT_DAYS)
    if start > end:
        raise DataError(f"--start-date {start:%Y-%m-%d} is after the last bar {source.name} "
                        f"has for {symbol} ({end:%Y-%m-%d})")
    before = bars[bars.index < start]  # nothing at or after the first traded session
    if before.empty:
        raise DataError(f"no history before {start:%Y-%m-%d} to train on ({source.name} has "
                        f"{symbol} from {bars.index[0]:%Y-%m-%d})")
    model = train_model(symbol, before, config, settings.quiet)
    outcome.model = model
    if settings.seeds > 1:  # the same fit with the next seeds: how much of the table is luck
        outcome.seed_evaluations = [model.evaluation_] + [
            train_model(symbol, before, replace(config, seed=config.seed + k),
                        settings.quiet).evaluation_ for k in range(1, settings.seeds)]
    outcome.model_note = (f"trained on {model.fit_info_['train_start']:%Y-%m-%d}.."
                          f"{model.trained_until:%Y-%m-%d}")
    run = BacktestSettings(
        start=start, end=end, strategy="equity", signals="direction", cash=settings.cash,
        commission=settings.commission, config=settings.equity, record_lines=True,
        progress=not settings.quiet, signal_models={symbol: model})
    result = run_symbol(source, symbol, run)
    outcome.result = result
    outcome.line = f"Return: {100 * result.metrics['total_return']:.2f}%"
