"""The walk-forward part of a sweep's report: ``walk_forward.csv``, ``walk_forward.png`` and
a summary line per symbol.

Per symbol, the rows of ``walk_forward.csv`` (``line`` says which):

* ``fold``: fold k (1..K-1, numbered as in ``results.csv``), the set(s) chosen on folds
  0..k-1 with that in-sample score, and their out-of-sample figures on fold k;
* ``walk-forward``: those folds stitched end to end, the honest out-of-sample result;
* beside it, over the same folds 1..K-1: ``in-sample best`` (the report's best set, chosen
  on every fold, these included: what trading the sweep's winner looked like in hindsight),
  ``median set`` (the median over the complete sets of each figure, a typical set, not one
  set; a set's n/a annual return or Sharpe, its account fell to 0 or below, ranks last), ``first set`` (the grid's first set; without ``--grid`` the defaults) and ``buy and
  hold`` (the symbol's own return over those folds; no daily series, so no Sharpe).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sweeps.walk_forward import (  # noqa: E402
    PERIODS_PER_YEAR,
    full_window_best,
    full_window_sharpes,
    performance,
    select,
    stitched,
)

FIGURES = ("total_return", "annual_return", "sharpe", "max_drawdown")


def walk_forward_rows(table: pd.DataFrame, fold_returns: dict, names, folds,
                      benchmarks: dict) -> tuple[pd.DataFrame, dict]:
    """The rows of ``walk_forward.csv`` and, per symbol, the equity curves to plot
    (walk-forward and in-sample best over folds 1..K-1). ``benchmarks[(symbol, fold)]``
    is the symbol's buy-and-hold return on that fold."""
    rows, curves = [], {}
    for symbol, group in table.groupby("symbol", sort=False):
        complete = [i for i in group.index if group.at[i, "failed_folds"] == 0]
        if len(folds) < 2 or not complete:
            continue
        sets = [fold_returns[i] for i in complete]
        choices = select(sets)
        span = {"fold_start": f"{folds[1][0]:%Y-%m-%d}", "fold_end": f"{folds[-1][1]:%Y-%m-%d}"}
        for choice in choices:
            start, end = folds[choice.fold]
            rows.append({"symbol": symbol, "line": "fold", "fold": choice.fold,
                         "fold_start": f"{start:%Y-%m-%d}", "fold_end": f"{end:%Y-%m-%d}",
                         "sets": " | ".join(_label(group, names, complete[i])
                                            for i in choice.chosen),
                         "tied_sets": len(choice.chosen),
                         "in_sample_sharpe": choice.in_sample_sharpe,
                         **performance(choice.returns)})
        walk = stitched(choices)
        out_of_sample = {i: pd.concat(fold_returns[i][1:]) for i in complete}
        best = full_window_best(full_window_sharpes({i: fold_returns[i] for i in complete}))
        each = _ranked_last(pd.DataFrame([performance(r) for r in out_of_sample.values()]))
        first = group.index[0]
        lines = [("walk-forward", "chosen on the folds before each fold", performance(walk)),
                 ("in-sample best", _label(group, names, best),
                  performance(out_of_sample[best])),
                 ("median set", f"median of {len(complete)} sets",
                  each.median().replace(-math.inf, math.nan).to_dict()),
                 ("first set", _label(group, names, first),
                  performance(out_of_sample[first]) if first in out_of_sample
                  else dict.fromkeys(FIGURES, math.nan)),
                 ("buy and hold", symbol, _held(benchmarks, symbol, range(1, len(folds)),
                                                len(walk)))]
        rows += [{"symbol": symbol, "line": line, "fold": None, **span, "sets": sets_,
                  "tied_sets": None, "in_sample_sharpe": None, **figures}
                 for line, sets_, figures in lines]
        curves[symbol] = {"walk-forward (out of sample)": walk,
                          f"in-sample best ({_label(group, names, best)})": out_of_sample[best]}
    columns = ["symbol", "line", "fold", "fold_start", "fold_end", "sets", "tied_sets",
               "in_sample_sharpe", *FIGURES]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"fold": "Int64", "tied_sets": "Int64"}), curves


def _ranked_last(figures: pd.DataFrame) -> pd.DataFrame:
    """A set's n/a annual return or Sharpe (its account fell to 0 or below) as -inf, so the
    median ranks it below every figure instead of leaving it out."""
    return figures.fillna({"annual_return": -math.inf, "sharpe": -math.inf})


def plot_walk_forward(curves: dict, n_folds: int, path: Path) -> None:
    """Growth of 1 out of sample (walk-forward) against the in-sample best's over the same
    folds, one panel per symbol."""
    fig, axes = plt.subplots(1, len(curves), figsize=(5.0 * len(curves) + 1, 3.6),
                             squeeze=False)
    for ax, (symbol, lines) in zip(axes[0], curves.items(), strict=True):
        for (name, returns), style in zip(lines.items(), ("-", "--"), strict=True):
            ax.plot(returns.index, (1.0 + returns).cumprod(), style, label=name)
        ax.axhline(1.0, color="grey", linewidth=0.6)
        ax.set_title(f"{symbol}, {_traded_folds(n_folds)}", fontsize=10)
        ax.set_ylabel("growth of 1")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _traded_folds(n_folds: int) -> str:
    """The folds the selection trades, 1 to K-1: 'folds 1-3', or 'fold 1' of two."""
    return "fold 1" if n_folds == 2 else f"folds 1-{n_folds - 1}"


def summary_lines(rows: pd.DataFrame, n_folds: int, symbols) -> list[str]:
    """One line per symbol: the walk-forward Sharpe and return beside the others'."""
    head = "Walk-forward selection (set chosen on the folds before, traded on the next):"
    if n_folds < 2:
        return [head, "1 fold: nothing to select (--walk-forward 2 or more chooses on the "
                      "folds before each fold)"]
    lines = [head]
    for symbol in symbols:
        by = rows[rows["symbol"] == symbol].set_index("line")
        if not len(by):
            lines.append(f"{symbol}: no parameter set finished every fold")
            continue
        walk = by.loc["walk-forward"]
        others = ", ".join(f"{name} {_fmt(by.at[name, 'sharpe'])} "
                           f"({_pct(by.at[name, 'total_return'])})"
                           for name in ("in-sample best", "median set", "first set"))
        lines.append(f"{symbol}, {_traded_folds(n_folds)} ({walk['fold_start']}.."
                     f"{walk['fold_end']}): walk-forward Sharpe {_fmt(walk['sharpe'])} "
                     f"({_pct(walk['total_return'])}); same folds: {others}; buy and hold "
                     f"{_pct(by.at['buy and hold', 'total_return'])}")
    return lines


def _held(benchmarks: dict, symbol, folds, sessions: int) -> dict:
    parts = [benchmarks.get((symbol, f)) for f in folds]
    parts = [math.nan if p is None else float(p) for p in parts]
    total = float(np.prod([1.0 + p for p in parts]) - 1.0)
    annual = (1.0 + total) ** (PERIODS_PER_YEAR / sessions) - 1.0 if sessions else math.nan
    return {"total_return": total, "annual_return": annual, "sharpe": math.nan,
            "max_drawdown": math.nan}


def _label(group: pd.DataFrame, names, index: int) -> str:
    return ", ".join(f"{n}={group.at[index, n]}" for n in names) or "(defaults)"


def _pct(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:+.2%}"


def _fmt(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.2f}"
