"""Whole-series model scores, cached per model object and per data bytes.

Reports, sweeps and the engine settings of one run score the same bars with the same model
more than once. Entries hang off the model object itself (a weak reference), so a model that
is garbage-collected takes its scores with it and a new model can never be handed the scores
of an old one that happened to live at the same address.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pandas as pd

#: series kept per model (most recent first out)
PER_MODEL = 8
_BY_MODEL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def data_digest(bars: pd.DataFrame) -> str:
    """A digest of the values, dates and column names of ``bars``."""
    digest = hashlib.sha1(bars.to_numpy(dtype=float).tobytes())
    digest.update(bars.index.asi8.tobytes())
    digest.update(",".join(map(str, bars.columns)).encode())
    return digest.hexdigest()


def cached_scores(model, bars: pd.DataFrame,
                  score: Callable[[pd.DataFrame], pd.DataFrame]) -> np.ndarray:
    """``score(bars)`` as a float array, computed once per model and data."""
    entries = _BY_MODEL.setdefault(model, OrderedDict())
    key = data_digest(bars)
    if key not in entries:
        entries[key] = score(bars).to_numpy(dtype=float)
        if len(entries) > PER_MODEL:
            entries.popitem(last=False)
    return entries[key]


def clear() -> None:
    """Forget every cached score (benchmarks time the inference too)."""
    _BY_MODEL.clear()
