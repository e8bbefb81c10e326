"""Folds and purging: which bars a model may train on when it is tested on later ones. The
one home of that logic for every model (seed 000's walk-forward and refits, seed 003's
purged walk-forward inside ``DirectionModel.fit``).

Dates: ``make_folds`` cuts the scored period into ``n_folds`` consecutive test blocks,
``refit_folds`` into blocks of ``every`` sessions (a model refitted every N sessions). A
fold's model sees only bars before its test block, minus an ``embargo`` of sessions;
``window="expanding"`` trains on all history before the block, ``"rolling"`` on the last
``train_bars`` of it; ``training_slice`` adds the model's warm-up bars before them.

Rows: ``block_bounds`` cuts row positions into equal blocks, and ``purge_and_embargo``
keeps only the training samples whose label window ``[t, label_end]`` stays clear of a
test block and an embargo around it (Lopez de Prado, *Advances in Financial Machine
Learning*, 7.4); ``known_before`` is its one-sided form for samples before the block.
Labels that read bars past the training data are purged by the model's ``fit``, which
drops every label whose ``label_end`` lies after the last bar it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataError


@dataclass(frozen=True)
class Fold:
    number: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def make_folds(index: pd.DatetimeIndex, first_test: pd.Timestamp, n_folds: int,
               embargo: int = 5, window: str = "expanding",
               train_bars: int | None = None) -> list[Fold]:
    """``n_folds`` consecutive test blocks from ``first_test`` to the end of ``index``."""
    _check_window(window)
    first = int(np.searchsorted(index, pd.Timestamp(first_test)))
    if first - embargo < 2 or first >= len(index):
        raise DataError(f"walk-forward needs history before {first_test:%Y-%m-%d} and bars "
                        "after it")
    bounds = block_bounds(first, len(index), n_folds)
    return _folds(index, bounds, embargo, window, train_bars)


def refit_folds(index: pd.DatetimeIndex, first_test: pd.Timestamp, every: int,
                embargo: int = 0, window: str = "expanding", train_bars: int | None = None,
                train_start: pd.Timestamp | None = None) -> list[Fold]:
    """Test blocks of ``every`` sessions from ``first_test`` to the end of ``index`` (the
    last block may be shorter): a model refitted every ``every`` sessions. ``train_start``
    is the first training bar of an expanding window (default: the first of ``index``);
    a rolling window holds the last ``train_bars`` sessions before each block."""
    if every < 1:
        raise DataError(f"refit every {every} sessions: needs at least 1")
    _check_window(window)
    first = int(np.searchsorted(index, pd.Timestamp(first_test)))
    if first - embargo < 2 or first >= len(index):
        raise DataError(f"walk-forward needs history before {first_test:%Y-%m-%d} and bars "
                        "after it")
    bounds = np.append(np.arange(first, len(index), every), len(index))
    lowest = int(np.searchsorted(index, pd.Timestamp(train_start))) if train_start else 0
    return _folds(index, bounds, embargo, window, train_bars, lowest)


def _check_window(window: str) -> None:
    if window not in ("expanding", "rolling"):
        raise ValueError("window must be 'expanding' or 'rolling'")


def _folds(index, bounds, embargo, window, train_bars, lowest: int = 0) -> list[Fold]:
    """Folds whose test blocks start at ``bounds[k]`` and end before ``bounds[k + 1]``."""
    folds = []
    for k in range(len(bounds) - 1):
        test_lo, test_hi = bounds[k], bounds[k + 1] - 1
        if test_hi < test_lo:
            continue
        train_hi = test_lo - 1 - embargo
        train_lo = lowest
        if window == "rolling" and train_bars:
            train_lo = max(train_hi - train_bars + 1, lowest)
        if train_lo > train_hi:
            raise DataError(f"no training bars before {index[test_lo]:%Y-%m-%d} from "
                            f"{index[lowest]:%Y-%m-%d} on")
        folds.append(Fold(len(folds) + 1, index[train_lo], index[train_hi], index[test_lo],
                          index[test_hi]))
    return folds


def training_slice(frame: pd.DataFrame, fold: Fold, warmup: int = 0) -> pd.DataFrame:
    """The rows a fold's model may train on: from ``warmup`` rows before the fold's first
    training bar (feature and window warm-up) through its last training bar, never later."""
    first = max(int(np.searchsorted(frame.index, fold.train_start)) - warmup, 0)
    frame = frame.iloc[first:]
    return frame[frame.index <= fold.train_end]


def block_bounds(first: int, stop: int, n_blocks: int) -> np.ndarray:
    """Row positions that cut ``first .. stop - 1`` into ``n_blocks`` near-equal blocks:
    block k is ``bounds[k] .. bounds[k + 1] - 1``."""
    return np.linspace(first, stop, n_blocks + 1).round().astype(int)


def purge_and_embargo(rows: np.ndarray, end_rows: np.ndarray, test_lo: int, test_hi: int,
                      embargo: int) -> np.ndarray:
    """Which training samples to keep when testing on rows ``test_lo .. test_hi``.

    A sample at row t with label window ``[t, end_rows[t]]`` is purged when that window
    reaches into ``[test_lo - embargo, test_hi + embargo]``: a sample before the block must
    have its label known ``embargo`` rows before the block starts; one after the block must
    start ``embargo`` rows after it ends. Samples with unknown labels (end row < 0) go too.
    """
    rows, end_rows = np.asarray(rows), np.asarray(end_rows)
    known = end_rows >= 0
    before = end_rows < test_lo - embargo
    after = rows > test_hi + embargo
    return known & (before | after)


def known_before(rows: np.ndarray, end_rows: np.ndarray, test_lo: int,
                 embargo: int) -> np.ndarray:
    """The samples before a block starting at ``test_lo`` that ``purge_and_embargo`` keeps:
    those whose label was known ``embargo`` rows before the block."""
    rows = np.asarray(rows)
    return (rows < test_lo) & purge_and_embargo(rows, end_rows, test_lo, test_lo, embargo)
