"""Seed 003's names for the direction models in the store (``models.store``):
``Trained_Models/direction/<SYMBOL>/<YYYY-MM-DD_HH-MM-SS>-<random>/`` and ``latest/``, each
folder as written by ``DirectionModel.save``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from models import store
from models.direction_model import DirectionModel

MODE = "direction"


def direction_dir(symbol: str, root: Path | str = store.DEFAULT_ROOT) -> Path:
    """The store folder of one symbol's direction models."""
    return store.model_dir(MODE, symbol, root)


def save_direction_model(model: DirectionModel, symbol: str,
                         root: Path | str = store.DEFAULT_ROOT, metadata: dict | None = None,
                         training_bars: pd.DataFrame | None = None,
                         stamp: dt.datetime | None = None) -> Path:
    """``store.save_model`` under the ``direction`` mode."""
    return store.save_model(model, MODE, symbol, root, metadata, training_bars, stamp)


def load_direction_model(spec_or_dir: Path | str, symbol: str | None = None,
                         root: Path | str = store.DEFAULT_ROOT) -> DirectionModel:
    """``store.load_model`` of a ``DirectionModel`` (a folder path, or with ``symbol``
    ``latest`` or a timestamp name)."""
    return store.load_model(DirectionModel, spec_or_dir, MODE, symbol, root)
