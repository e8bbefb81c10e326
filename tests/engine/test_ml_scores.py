"""The ML signal's score table of a backtest window reads no outcome after the window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.ml_scores import SIGNAL, window_scores
from training.label_cache import cached_strategy_labels
from training.labels import LabelConfig
from training.pipeline import option_chain_of


def test_sessions_whose_spreads_end_after_the_window_are_not_scored(sample_market):
    """A window ending mid-2024 of a source that runs to 2025: the last sessions' spreads
    end in July, after the window; scored, they made the table depend on how far the data
    ran."""
    start, end = pd.Timestamp("2024-01-02"), pd.Timestamp("2024-06-28")
    bars = sample_market.bars("SPY", "2023-06-01", end)
    days = bars.index[(bars.index >= start) & (bars.index <= end)]
    lines = pd.DataFrame({"symbol": "SPY", "date": days, f"{SIGNAL}.signal": 0,
                          f"{SIGNAL}.p_hold": 0.5, f"{SIGNAL}.p_call": 0.25,
                          f"{SIGNAL}.p_put": 0.25})
    table = window_scores(sample_market, "SPY", bars, lines, start, end, LabelConfig())
    labels = cached_strategy_labels(option_chain_of(sample_market, "SPY"), LabelConfig(),
                                    start=start, end=end)
    label_end = pd.DatetimeIndex(labels["label_end"])
    known = labels["label"].notna() & (label_end <= end)
    assert (labels["label"].notna() & (label_end > end)).sum() > 5  # the case is real
    assert int(table.loc["model", "n"]) == int(known.sum())
    assert np.isclose(table.loc["foresight", "accuracy"], 1.0)
