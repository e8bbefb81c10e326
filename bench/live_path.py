"""The path a live decision took before the numpy live path, for the benches to time beside
today's in one run: every ``predict_proba_live`` of a model's networks and members swapped
for the batch ``predict_proba`` (the compiled TensorFlow function over a padded batch, and
scikit-learn's per-tree forest)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def live_scorers(model) -> list:
    """The objects of ``model`` that have a live path: a StrategyModel's LSTM, each segment's
    LSTM of a RefitModel, every member of a DirectionModel."""
    if hasattr(model, "members_"):
        return list(model.members_.values())
    if hasattr(model, "models"):
        return [m.lstm_ for m in model.models]
    return [model.lstm_]


@contextmanager
def batch_path(model) -> Iterator[None]:
    """Within the block, ``model``'s live path is its batch path (the old single-bar path)."""
    scorers = live_scorers(model)
    for scorer in scorers:
        scorer.predict_proba_live = scorer.predict_proba
    try:
        yield
    finally:
        for scorer in scorers:
            del scorer.predict_proba_live


@contextmanager
def batches_one_after_another() -> Iterator[None]:
    """Within the block, keras batch inference scores its batches one after another in
    this thread, and a DirectionModel's networks one after another after its trees (the
    path before the batches ran on the core threads): the same numbers."""
    import models.lstm as lstm

    threads = lstm.core_threads
    lstm.core_threads = lambda: None
    try:
        yield
    finally:
        lstm.core_threads = threads
