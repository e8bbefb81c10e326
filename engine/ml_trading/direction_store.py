"""The Direction model a symbol's premarket or trading run scores with: the stored one
trained on the latest data that fits (same source, seed and configuration, trained on nothing after the bars in
hand), else a new one trained on those bars and stored."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from core.errors import DataError
from engine.ml_trading.settings import MLTradingSettings
from models.store import saved_instant


def train_model(symbol: str, bars: pd.DataFrame, config, quiet: bool):
    """A DirectionModel fitted on ``bars`` (it keeps the last ``max_train_bars`` of them)."""
    from models.direction_model import DirectionModel

    if not quiet:
        print(f"training the Direction model for {symbol} on the sessions up to "
              f"{bars.index[-1]:%Y-%m-%d} ...", file=sys.stderr)
    return DirectionModel(config).fit(bars, progress=not quiet)


def stored_fits(meta: dict, limit: pd.Timestamp, source, seed: int, config) -> bool:
    """Whether the stored model whose metadata.json is ``meta`` was trained on this source
    (and seed, which makes the sample market and sample flow) with this configuration and
    on nothing after ``limit``."""
    from dataclasses import asdict

    try:
        trained_until = pd.Timestamp(meta["training_window"]["end"])
    except (ValueError, KeyError, TypeError):
        return False
    wanted = json.loads(json.dumps(asdict(config), default=str))
    return (trained_until <= limit and meta.get("source") == source.name
            and meta.get("seed") == seed and meta.get("config") == wanted)


def other_data(meta: dict, bars: pd.DataFrame) -> str | None:
    """Why the stored model whose metadata.json is ``meta`` was trained on other bars than
    ``bars`` (its ``data_hash``: a CSV edited or replaced under the same name, data revised
    at the vendor), or None when they agree or it records no hash.

    The hash is of the bars the model trained on, its ``training_window`` (what
    ``stored_or_trained`` saves), so a source read from a later start (Polygon's history is
    counted back from the end date) still matches while it holds that window; a hash of
    every bar up to the training end (stores before that) is accepted too."""
    from models.store import data_hash

    try:
        window = meta["training_window"]
        start, end = pd.Timestamp(window["start"]), pd.Timestamp(window["end"])
    except (ValueError, KeyError, TypeError):
        return None
    stored = meta.get("data_hash")
    if not stored:
        return None
    trained = bars[(bars.index >= start) & (bars.index <= end)]
    if data_hash(trained) == stored or data_hash(bars[bars.index <= end]) == stored:
        return None
    if len(bars) and bars.index[0] > start:
        return (f"trained on bars from {start:%Y-%m-%d}, before this source's first bar "
                f"{bars.index[0]:%Y-%m-%d}: whether they are the same cannot be checked")
    return (f"trained on other bars than this source's up to {end:%Y-%m-%d} (its data hash "
            "differs: the data changed since)")


def trained_bars(model, bars: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``bars`` a fitted model trained on (its ``training_window``: the last
    ``max_train_bars`` plus warm-up), whose hash the store records."""
    info = model.fit_info_
    return bars[(bars.index >= info["train_start"]) & (bars.index <= info["train_end"])]


def stored_or_trained(symbol: str, bars: pd.DataFrame, source, settings: MLTradingSettings):
    """The stored model of this symbol, source and configuration trained on the latest data
    that is not after the last of ``bars`` (``newest_first``), else a new one trained on ``bars`` and stored. Returns the
    model and a note saying which."""
    from models.direction_store import direction_dir, load_direction_model, save_direction_model
    from models.store import other_symbol

    limit, config = bars.index[-1], settings.model
    folder = direction_dir(symbol, settings.models_dir)
    skipped = []
    if not settings.retrain and folder.is_dir():
        for stamp in newest_first(folder):
            try:  # read once: the checks below all ask it
                meta = json.loads((stamp / "metadata.json").read_text())
            except (OSError, ValueError) as exc:
                skipped.append(f"skipped {stamp}: its metadata.json cannot be read "
                               f"({type(exc).__name__})")
                continue
            trained = other_symbol(meta, symbol)
            if trained:  # a folder copied in
                skipped.append(f"skipped {stamp}: a model of {trained.upper()}, not "
                               f"{symbol.upper()}")
                continue
            if not stored_fits(meta, limit, source, settings.seed, config):
                continue
            other = other_data(meta, bars)
            if other:
                skipped.append(f"skipped {stamp}: {other}")
                continue
            try:
                model = load_direction_model(stamp)
            except DataError as exc:  # a corrupt folder: say so, try the next older one
                skipped.append(f"skipped {exc}")
                continue
            _say_skipped(symbol, skipped, settings.quiet)
            return model, "; ".join([f"stored model {stamp} (trained until "
                                     f"{pd.Timestamp(model.trained_until):%Y-%m-%d})",
                                     *skipped])
    _say_skipped(symbol, skipped, settings.quiet)  # why no stored model was taken
    model = train_model(symbol, bars, config, settings.quiet)
    saved = save_direction_model(model, symbol, root=settings.models_dir,
                                 training_bars=trained_bars(model, bars),
                                 metadata={"source": source.name, "seed": settings.seed,
                                           "source_description": source.describe()})
    return model, "; ".join([f"new model trained until "
                             f"{pd.Timestamp(model.trained_until):%Y-%m-%d}, saved to {saved}",
                             *skipped])


def reuse_note(symbol: str, note: str, model, last: pd.Timestamp) -> str | None:
    """What a run says before its results when ``stored_or_trained`` took a stored model
    (``note`` its note): which one and, when its training stops before ``last`` (the last
    bar the run scores from), by how many sessions, since a stored model is reused however
    old it is; None for a model trained in the run (that run said so as it trained)."""
    if not note.startswith("stored model "):
        return None
    from feeds.calendar import CALENDAR_END, sessions

    trained = pd.Timestamp(model.trained_until)
    behind = len(sessions(trained + pd.Timedelta(days=1),
                          min(pd.Timestamp(last), pd.Timestamp(CALENDAR_END))))
    text = f"{symbol} scores with the {note.split('; ')[0]}"
    if behind:
        text += (f", {behind} sessions before {pd.Timestamp(last):%Y-%m-%d} (--retrain "
                 "trains one on the data up to it)")
    return text


def _say_skipped(symbol: str, skipped: list[str], quiet: bool) -> None:
    """Each stored model passed over, on stderr (not with -q): a folder the user put there
    is not ignored without a word."""
    if not quiet:
        for reason in skipped:
            print(f"note: {symbol}: {reason}", file=sys.stderr)


def newest_first(folder: Path) -> list[Path]:
    """The stored model folders of a symbol, the one trained on the latest data first
    (metadata's ``training_window.end``), then the one saved last (``saved_at``, else the
    folder name), never ``latest/`` or a ``.partial``: of the models that fit a date, the
    one that saw the most of its history wins, whenever it was saved."""
    def order(stamp: Path) -> tuple[str, float, str]:
        try:
            meta = json.loads((stamp / "metadata.json").read_text())
            end = str((meta.get("training_window") or {}).get("end", ""))
            return end, saved_instant(meta.get("saved_at")), stamp.name
        except (OSError, ValueError, AttributeError):
            return "", 0.0, stamp.name

    stamps = [d for d in folder.iterdir() if d.is_dir() and d.name[:1].isdigit()]
    return sorted(stamps, key=order, reverse=True)
