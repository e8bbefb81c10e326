"""Where direction models live: ``Trained_Models/direction/<SYMBOL>/<YYYY-MM-DD_HH-MM-SS>/``
and ``.../latest/`` (the layout of ``models.store``), each folder as written by
``DirectionModel.save``: ``direction_model.pkl``, ``lstm.keras`` / ``gru.keras`` /
``tcn.keras`` for the sequence members, and ``metadata.json`` (symbol, training window,
features, config, walk-forward evaluation, XGBoost importance, library versions, data hash).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from core.atomic import publish_folder
from core.errors import DataError
from models.direction_model import METADATA_FILE, DirectionModel
from models.store import DEFAULT_ROOT, data_hash

MODE = "direction"


def direction_dir(symbol: str, root: Path | str = DEFAULT_ROOT) -> Path:
    """The store folder of one symbol's direction models."""
    return Path(root) / MODE / symbol.upper()


def save_direction_model(model: DirectionModel, symbol: str, root: Path | str = DEFAULT_ROOT,
                         metadata: dict | None = None,
                         training_bars: pd.DataFrame | None = None,
                         stamp: dt.datetime | None = None) -> Path:
    """Save a fitted model under a new timestamped folder and refresh ``latest/``; returns
    the timestamped folder. ``metadata`` adds keys (the source, say) to metadata.json."""
    model._check_fitted()
    stamp = stamp or dt.datetime.now()
    extra = {"symbol": symbol.upper(), "saved_at": stamp.isoformat(),
             "data_hash": data_hash(training_bars) if training_bars is not None else None,
             **(metadata or {})}

    def write(folder: Path) -> None:
        model.save(folder)
        path = folder / METADATA_FILE
        path.write_text(json.dumps(json.loads(path.read_text()) | extra, indent=2,
                                   default=str))

    return publish_folder(direction_dir(symbol, root), write, stamp)


def load_direction_model(spec_or_dir: Path | str, symbol: str | None = None,
                         root: Path | str = DEFAULT_ROOT) -> DirectionModel:
    """A stored model from a folder path, or, with ``symbol``, from ``latest`` or a
    timestamp folder name under ``root/direction/<SYMBOL>/``. DataError if absent."""
    folder = Path(spec_or_dir)
    if symbol is not None and not folder.is_dir():
        folder = direction_dir(symbol, root) / str(spec_or_dir)
    if not folder.is_dir():
        where = f" for {symbol.upper()}" if symbol else ""
        raise DataError(f"no direction model folder at {folder}{where} (train and save one "
                        "first)")
    return DirectionModel.load(folder)
