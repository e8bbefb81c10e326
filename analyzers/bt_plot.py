"""backtrader's own ``cerebro.plot()`` figure, saved headless.

Importing ``backtrader.plot`` selects the TkAgg backend, which needs a screen; on a server
(or in CI) the plot then fails. ``save_backtrader_plot`` switches matplotlib to Agg after
that import and saves each strategy's figure instead of showing it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib


def save_backtrader_plot(strategies: list, path: Path | str, dpi: int = 100,
                         **plot_options) -> list[Path]:
    """Save the figure backtrader draws for each finished strategy (``cerebro.run()``'s
    result) to ``path`` (``name_1.png``, ``name_2.png`` ... when there are several).
    ``plot_options`` go to backtrader's plotter (``style="candle"``, ``volume=False``)."""
    import backtrader.plot  # noqa: F401 - selects TkAgg on import; Agg replaces it below

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = []
    for k, strategy in enumerate(strategies, start=1):
        plotter = backtrader.plot.Plot(**plot_options)
        target = path if len(strategies) == 1 else path.with_name(f"{path.stem}_{k}{path.suffix}")
        for figure in plotter.plot(strategy, iplot=False):
            figure.set_size_inches(14, 9)
            figure.savefig(target, dpi=dpi, bbox_inches="tight")
            plt.close(figure)
        saved.append(target)
    return saved
