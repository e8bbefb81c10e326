"""Percent axes label each tick apart: pyfolio's "%.0f%%" gave "0%, -0%, -1%, -1%" on
the underwater plot of a small drawdown."""

from __future__ import annotations

import contextlib
import io
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analyzers.percent_ticks import PercentTicks, decimals_for, readable_percents  # noqa: E402


@pytest.mark.parametrize(("locs", "labels"), [
    ([-1.5, -1.0, -0.5, 0.0], ["-1.5%", "-1.0%", "-0.5%", "0.0%"]),
    ([-40, -20, 0, 20], ["-40%", "-20%", "0%", "20%"]),
    ([-0.25, 0.0, 0.25], ["-0.25%", "0.00%", "0.25%"]),
    ([-1e-17, 1.0], ["0%", "1%"]),  # a tick computed a hair below zero is no "-0%"
])
def test_labels_show_the_decimals_the_ticks_need(locs, labels):
    assert PercentTicks().format_ticks(locs) == labels


def test_decimals_stop_at_four():
    assert decimals_for(np.array([0.0, 1 / 3])) == 4


def test_the_underwater_plot_of_a_small_drawdown_labels_each_tick_apart():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyfolio as pf

    index = pd.bdate_range("2024-01-02", periods=120, tz="UTC")
    returns = pd.Series(np.where(np.arange(120) % 10 == 3, -0.004, 0.0005), index=index)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = pf.create_returns_tear_sheet(returns, return_fig=True)
    underwater = next(ax for ax in fig.axes if ax.get_title() == "Underwater plot")

    def labels():
        fig.canvas.draw()
        return [t.get_text() for t in underwater.get_yticklabels() if t.get_text()]

    assert len(set(labels())) < len(labels())  # pyfolio's own labels repeat
    readable_percents(fig)
    shown = labels()
    assert len(set(shown)) == len(shown) > 2 and "-0%" not in shown
    assert all(label.endswith("%") for label in shown)
    plt.close(fig)
