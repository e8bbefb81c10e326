"""Report tables and plots say what they show (issue 18's plot fixes)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analyzers.spread_trades import spread_summaries  # noqa: E402
from core.domain import REGIME_NAMES  # noqa: E402


def test_spreads_by_regime_are_named_not_coded():
    spreads = pd.DataFrame({
        "status": ["closed"] * 4, "kind": ["put_credit"] * 4, "pnl": [10.0, -5.0, 3.0, 1.0],
        "entry_credit": [1.0] * 4, "dte_at_entry": [35] * 4,
        "short_delta_at_entry": [-0.3] * 4, "regime_at_entry": [0.0, 3.0, 3.0, np.nan]})
    table = spread_summaries(spreads)["by_regime"]
    assert sorted(table.index) == sorted([REGIME_NAMES[0], REGIME_NAMES[3], "n/a"])
    assert table.loc[REGIME_NAMES[3], "spreads"] == 2


def test_the_sweep_heatmap_is_centred_on_zero(tmp_path, monkeypatch):
    """All-negative Sharpes must not show green: the colour scale is symmetric about 0."""
    from matplotlib.axes import Axes

    from sweeps.report import plot_heatmap

    limits = []
    real_imshow = Axes.imshow

    def recording_imshow(self, *args, **kwargs):
        image = real_imshow(self, *args, **kwargs)
        limits.append(image.get_clim())
        return image

    monkeypatch.setattr(Axes, "imshow", recording_imshow)
    table = pd.DataFrame({"symbol": ["SPY"] * 2, "width": [5, 10], "sharpe": [-0.9, -0.2]})
    plot_heatmap(table, "width", None, {"width": [5, 10]}, tmp_path / "h.png")
    (low, high), = limits
    assert low == -high and high >= 0.9
