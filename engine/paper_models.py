"""The stored model each symbol of a paper run scores its IB bars with (``--signals ml`` or
``direction``), loaded and checked before anything connects.

A paper run trades bars the model must never have seen, and IB bars carry open, high, low,
close and volume only. So a model is refused, with the reason, when it is missing, when its
training window reaches the first live session (``trained_until >= first live bar``), or
when it was trained on columns IB does not send (implied volatility, flow, dark pool: a
model trained on the sample market with every feature group). The backfill bars only warm
the model up (``SignalStrategy.trade_start``), so scoring them with a model that trained on
them decides nothing.

The source a model was trained on (its ``metadata.json``) is said, and a model of a
simulated market is warned of with the backtest's words (``models.store.source_note``):
IB's bars are a real market's, whose patterns the sample market's are not. A model of real
bars (a CSV file, Polygon, the bundled history) scoring IB's is what a paper run is for, so
their differing source names are said, not warned of.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from core.errors import DataError
from feeds.sources import GENERATED_SOURCES

#: the bar fields an IB feed carries (its extra lines read NaN)
IB_COLUMNS = ("open", "high", "low", "close", "volume")
#: ``--signals`` name -> the model kind, as messages name it
KINDS = {"ml": "seed-000 StrategyModel (HMM regimes and its head)",
         "direction": "multi-model DirectionModel"}


def columns_read(model) -> tuple[str, ...]:
    """The bar columns a fitted model's feature groups read."""
    if hasattr(model, "input_columns_"):  # DirectionModel: the fitted feature set's inputs
        return tuple(model.input_columns_)
    from models.features import GROUP_INPUTS

    groups = getattr(model, "groups_", None)
    if groups is None and hasattr(model, "models"):  # RefitModel: its segments share them
        groups = model.models[0].groups_
    return tuple(c for g in groups or ("price",) for c in GROUP_INPUTS[g])


def training_source(metadata: dict) -> str:
    """What a stored model was trained on, as a paper run says it: ``sample data of seed
    42`` (a simulated market is its name and seed), ``polygon data``, or that its store
    does not record it (a folder saved without, as by an older store)."""
    trained = metadata.get("source")
    if not trained:
        return "a source its store does not record"
    seed = metadata.get("seed")
    # premarket records its seed for every source (it makes the sample flow columns)
    if trained in GENERATED_SOURCES and seed is not None:
        return f"{trained} data of seed {seed}"
    return f"{trained} data"


def paper_source_note(metadata: dict, where: str) -> str | None:
    """The backtest's warning (``source_note``) for a model of a simulated market trading
    IB's bars; None for a model of real bars or one whose source is not recorded."""
    from models.store import source_note

    if metadata.get("source") not in GENERATED_SOURCES:
        return None
    return source_note(metadata, "IB", where)


def check_paper_model(model, symbol: str, where: str, first_live: dt.date) -> None:
    """Refuse a model that saw the live period or reads columns IB bars lack."""
    trained_until = pd.Timestamp(model.trained_until)
    if trained_until.date() >= first_live:
        raise DataError(f"{symbol}: the model in {where} was trained on data up to "
                        f"{trained_until:%Y-%m-%d}, which reaches the live period starting "
                        f"{first_live:%Y-%m-%d}: it would trade bars it has seen. Train one "
                        f"on sessions before {first_live:%Y-%m-%d}")
    lacking = [c for c in columns_read(model) if c not in IB_COLUMNS]
    if lacking:
        how = "train it on open/high/low/close/volume bars only"
        if hasattr(model, "input_columns_"):  # CSV files carry an implied-volatility estimate
            how += (" (a Direction model: a --config file whose [direction] table has "
                    'feature_groups = ["price", "volume", "filters"]; a CSV source adds an '
                    "implied-volatility estimate that IB bars do not have)")
        raise DataError(f"{symbol}: the model in {where} reads {', '.join(lacking)}, which IB "
                        f"bars do not carry (they have {', '.join(IB_COLUMNS)}): {how}")


def load_paper_model(signals: str, spec: str, symbol: str, root: Path | str,
                     label: str | None = None):
    """The stored model ``spec`` (``latest``, a timestamp folder name or a path) of
    ``symbol``: a StrategyModel for ``ml`` (store folder ``<root>/<label>/<SYMBOL>``, label
    ``lstm_poc`` by default), a
    DirectionModel for ``direction`` (``<root>/direction/<SYMBOL>``); DataError if absent.
    Returns the model and the folder it came from."""
    from models import store

    if signals == "ml":
        folder = store.resolve_model_dir(spec, root, label or "lstm_poc", symbol)
        if not folder.is_dir():
            raise DataError(f"{symbol}: no {KINDS[signals]} at {folder} (train and save one: "
                            f"python run.py train --symbol {symbol} --save)"
                            f"{store.stored_beside(folder)}")
        return store.load_strategy_model(folder), folder
    if signals == "direction":
        from models.direction_store import MODE, load_direction_model

        folder = store.resolve_model_dir(spec, root, MODE, symbol)
        if not folder.is_dir():
            raise DataError(f"{symbol}: no {KINDS[signals]} at {folder} (python run.py "
                            f"premarket --symbols {symbol} trains and stores one)"
                            f"{store.stored_beside(folder)}")
        return load_direction_model(folder), folder
    raise DataError(f"--signals {signals} takes no stored model")


def paper_models(signals: str, spec: str | None, symbols: list[str], root: Path | str,
                 label: str | None, first_live: dt.date,
                 notes: dict[str, list[str]] | None = None) -> dict:
    """A checked model per symbol for ``--signals ml|direction`` (empty for ``rule``); a
    model of a simulated market adds a warning to ``notes[symbol]``
    (``paper_source_note``), so does a strategy model of older labels (``label_note``)."""
    if signals not in KINDS:
        return {}
    if not spec:
        raise DataError(f"--signals {signals} needs --model latest|TIMESTAMP|PATH (a paper "
                        "run never trains: it trades a model fitted before it)")
    models = {}
    from models.store import check_trained_for, label_note
    from training.label_cache import LABEL_CHANGE, LABEL_VERSION

    for symbol in symbols:
        model, folder = load_paper_model(signals, spec, symbol, root, label)
        metadata = getattr(model, "metadata_", None) or {}
        check_trained_for(metadata, symbol, str(folder))
        check_paper_model(model, symbol, str(folder), first_live)
        said = [paper_source_note(metadata, str(folder))]
        if signals == "ml":  # a strategy model's expected returns learned from the labels
            said.append(label_note(metadata, LABEL_VERSION, LABEL_CHANGE, str(folder), symbol))
        for note in filter(None, said):
            if notes is not None:
                notes.setdefault(symbol, []).append(note)
        models[symbol] = model
    return models
