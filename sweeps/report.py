"""The report of a sweep: parameter sets ranked, overfitting statistics, a Sharpe heatmap.

A *trial* is one parameter set on one symbol. Its full-window figures come from its folds'
daily returns joined end to end (each fold starts with the full cash, as its run did); its
mean fold Sharpe is the mean of its finished folds' Sharpe ratios, an idle fold's 0.
Per symbol, the best trial by full-window Sharpe gets the deflated Sharpe ratio given the
number of trials, and the trials' daily returns give the probability of backtest
overfitting (CSCV with the folds as the splits, each half scored by the Sharpe of its
returns joined). Trials with a failed fold are left out of
both and counted. A trial whose account fell to 0 or below in a fold has no Sharpe (n/a,
as the backtest's is once its account touched 0: the daily returns from then on are
returns on a value of 0 or less, a loss on a negative value reads as a gain): it is
ranked last, is not the best trial the deflated Sharpe tests (whose trials are those with
a Sharpe), and is last in each PBO half that holds that fold. Layout::

    REPORT/results.parquet|csv     one row per run (written by the runner)
    REPORT/parameter_sets.csv      one row per trial: Sharpe, return, failed folds
    REPORT/best_runs.csv           the best trials by Sharpe
    REPORT/overfitting.json        per symbol: the best trial, its DSR, PBO and its logits
    REPORT/sharpe_heatmap.png|csv  mean full-window Sharpe over two parameters, per symbol
    REPORT/walk_forward.csv|png    the set chosen on the folds before, traded on the next
    REPORT/summary.txt             what the command printed
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analyzers.window import daily_returns  # noqa: E402
from core.csv_format import CSV_FLOAT_FORMAT
from core.domain import TRADING_DAYS  # noqa: E402
from engine.backtest import first_at_or_below_zero  # noqa: E402
from sweeps.overfitting import (  # noqa: E402
    deflated_sharpe,
    fell_to_zero,
    probability_of_overfitting,
    sharpe_ratio,
)
from sweeps.walk_forward import full_window_best, full_window_sharpes  # noqa: E402
from sweeps.walk_forward_report import (  # noqa: E402
    plot_walk_forward,
    summary_lines,
    walk_forward_rows,
)

PERIODS_PER_YEAR = TRADING_DAYS


def trials(outcome) -> tuple[pd.DataFrame, dict]:
    """The per-trial table and, per trial index, its fold returns (None for a failed fold)."""
    groups: dict[tuple, list] = {}
    for run in outcome.plan.runs:
        groups.setdefault((run.symbol, run.params), []).append(run)
    rows, fold_returns = [], {}
    for i, ((symbol, params), runs) in enumerate(groups.items()):
        results = [outcome.results[r.key] for r in runs]
        folds = [_series(r["returns"]) for r in results]
        errors = [r["row"].get("error") for r in results if r["row"].get("error")]
        # (fold, the first session its account closed at 0 or below) of each such fold
        fell = [(run.fold, on) for run, f in zip(runs, folds, strict=True)
                if f is not None and (on := first_at_or_below_zero(f)) is not None]
        row = {"symbol": symbol, **{k: _label(v) for k, v in params}, "folds": len(runs),
               "failed_folds": len(errors), "sharpe": math.nan, "total_return": math.nan,
               # from the returns: an idle fold (no trade, constant returns) has Sharpe 0,
               # it is not left out of the mean; a fold whose account fell to 0 has none
               "fold_sharpe_mean": math.nan if fell else _mean(
                   sharpe_ratio(f) * math.sqrt(PERIODS_PER_YEAR) for f in folds if f is not None),
               "trades": sum(int(r["row"].get("trades") or 0) for r in results),
               "account_at_or_below_zero_on": fell[0][1] if fell else None,
               "account_at_or_below_zero_fold": fell[0][0] if fell else None,
               "first_error": errors[0] if errors else None}
        if not errors:
            joined = pd.concat(folds)
            if not fell:  # n/a (NaN), ranked last, once the account touched 0
                row["sharpe"] = sharpe_ratio(joined) * math.sqrt(PERIODS_PER_YEAR)
            row["total_return"] = float((1.0 + joined).prod() - 1.0)
        rows.append(row)
        fold_returns[i] = folds
    return pd.DataFrame(rows).astype({"account_at_or_below_zero_fold": "Int64"}), fold_returns


def overfitting(table: pd.DataFrame, fold_returns: dict, param_names) -> dict:
    """Per symbol: the best complete trial with its deflated Sharpe, and PBO by CSCV."""
    out = {}
    for symbol, group in table.groupby("symbol", sort=False):
        complete = group[group["failed_folds"] == 0]
        fell = complete["account_at_or_below_zero_on"].notna()
        entry = {"trials": int(len(group)), "complete_trials": int(len(complete)),
                 "account_at_or_below_zero_trials": int(fell.sum()),
                 "best": None, "deflated_sharpe": None, "pbo": None, "pbo_note": None}
        if len(complete) and fell.all():
            entry["note"] = ("the account of every complete parameter set fell to 0 or below "
                             "in a fold: no Sharpe to rank")
            entry["pbo_note"] = "not computed: no parameter set has a Sharpe"
        elif len(complete):
            joined = {i: pd.concat(fold_returns[i]) for i in complete.index}
            per_period = full_window_sharpes({i: fold_returns[i] for i in complete.index})
            best = full_window_best(per_period)
            # the trials are those with a Sharpe: a wiped-out one has none to spread SR0
            dsr = deflated_sharpe(joined[best].to_numpy(),
                                  [v for v in per_period.values() if np.isfinite(v)])
            entry["best"] = {name: _plain(complete.at[best, name]) for name in param_names}
            entry["deflated_sharpe"] = {
                "sharpe_annual": dsr.sharpe * math.sqrt(PERIODS_PER_YEAR),
                "expected_max_sharpe_annual": dsr.expected_max_sharpe * math.sqrt(PERIODS_PER_YEAR),
                "sharpe_per_period": dsr.sharpe,
                "expected_max_sharpe_per_period": dsr.expected_max_sharpe,
                "dsr": _plain(dsr.deflated_sharpe), "n_trials": dsr.n_trials,
                "n_observations": dsr.n_observations, "skewness": dsr.skewness,
                "kurtosis": dsr.kurtosis, "dsr_note": _dsr_note(joined[best], dsr)}
            try:
                matrix, sizes = _returns_matrix(fold_returns, complete.index)
                pbo = probability_of_overfitting(
                    matrix, sizes, wiped=_fell_matrix(fold_returns, complete.index))
                entry["pbo"] = pbo.pbo
                entry["pbo_combinations"] = pbo.n_combinations
                entry["pbo_tied_splits"] = pbo.tied_splits
                entry["pbo_groups"] = pbo.n_splits
                entry["pbo_folds_per_group"] = pbo.folds_per_group
                entry["pbo_logits"] = list(pbo.logits)
                entry["pbo_logit_weights"] = list(pbo.weights)
            except ValueError as exc:
                entry["pbo_note"] = f"not computed: {exc}"
        out[symbol] = entry
    return out


def _returns_matrix(fold_returns: dict, trials) -> tuple[np.ndarray, list[int]]:
    """The (days x trials) matrix of the trials' daily returns, fold after fold, and each
    fold's number of days, for CSCV. The trials of one symbol trade the same sessions in a
    fold; a fold whose trials hold different days cannot be compared row by row."""
    first = fold_returns[trials[0]]
    columns = []
    for i in trials:
        folds = fold_returns[i]
        if any(not f.index.equals(g.index) for f, g in zip(folds, first, strict=True)):
            raise ValueError("the parameter sets' folds hold different sessions")
        columns.append(np.concatenate([f.to_numpy(dtype=float) for f in folds]))
    return np.column_stack(columns), [len(f) for f in first]


def _fell_matrix(fold_returns: dict, trials) -> np.ndarray:
    """The rows of ``_returns_matrix`` marking, per trial, each fold in which its account
    fell to 0 or below (every row of that fold)."""
    return np.column_stack([np.concatenate([np.full(len(f), fell_to_zero(f))
                                            for f in fold_returns[i]]) for i in trials])


def plot_heatmap(table: pd.DataFrame, x: str, y: str | None, order: dict,
                 path: Path) -> pd.DataFrame:
    """Mean full-window Sharpe over ``x`` (columns) and ``y`` (rows), one panel per
    symbol, averaged over the other parameters, on one colour scale shared by the panels
    (a colour means the same Sharpe in each); returns the numbers plotted, a row per
    symbol and cell (``symbol``, ``y``, ``x``, ``sharpe``: the CSV names both parameters)."""
    frames = []
    symbols = list(dict.fromkeys(table["symbol"]))
    fig, axes = plt.subplots(1, len(symbols), figsize=(4.2 * len(symbols) + 1, 3.6),
                             squeeze=False)
    grids = {}
    for symbol in symbols:
        part = table[table["symbol"] == symbol]
        rows = part[y] if y else pd.Series("all", index=part.index)
        grids[symbol] = (part.assign(_row=rows)
                         .pivot_table(index="_row", columns=x, values="sharpe", aggfunc="mean",
                                      dropna=False)
                         .reindex(index=order.get(y, ["all"]), columns=order[x]))
    every = np.concatenate([g.to_numpy(dtype=float).ravel() for g in grids.values()])
    finite = np.abs(every[np.isfinite(every)])
    # centred on zero: a negative Sharpe is red however the others compare
    limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    for ax, symbol in zip(axes[0], symbols, strict=True):
        grid = grids[symbol]
        values = grid.to_numpy(dtype=float)
        image = ax.imshow(values, cmap="RdYlGn", aspect="auto", vmin=-limit, vmax=limit)
        ax.set_xticks(range(grid.shape[1]), grid.columns)
        ax.set_yticks(range(grid.shape[0]), grid.index)
        ax.set_xlabel(x)
        ax.set_ylabel(y or "")
        ax.set_title(f"{symbol}: Sharpe (annualized)")
        for (r, c), value in np.ndenumerate(grid.to_numpy(dtype=float)):
            ax.text(c, r, "n/a" if np.isnan(value) else f"{value:.2f}", ha="center",
                    va="center", fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8)
        cells = (grid.rename_axis(index=y or "_row", columns=x).stack(future_stack=True)
                 .rename("sharpe").reset_index().drop(columns="_row", errors="ignore"))
        frames.append(cells.assign(symbol=symbol))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    cells = pd.concat(frames, ignore_index=True)
    return cells[["symbol", *([y] if y else []), x, "sharpe"]]


def write_report(folder: Path | str, outcome, header: dict, heatmap: tuple | None = None,
                 top: int = 10) -> str:
    """Write the report files and return the summary text (also ``summary.txt``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(outcome.plan.param_names)
    table, fold_returns = trials(outcome)
    table.to_csv(folder / "parameter_sets.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    best = table.sort_values("sharpe", ascending=False, na_position="last").head(top)
    best.to_csv(folder / "best_runs.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    stats = overfitting(table, fold_returns, names)
    (folder / "overfitting.json").write_text(json.dumps(stats, indent=2, allow_nan=True))
    axes = heatmap or tuple(names[:2])
    if axes:
        order = {n: [_label(v) for v in values] for n, values in header["grid"]}
        plot_heatmap(table, axes[0], axes[1] if len(axes) > 1 else None, order,
                     folder / "sharpe_heatmap.png").to_csv(folder / "sharpe_heatmap.csv",
                                                           index=False,
                                                           float_format=CSV_FLOAT_FORMAT)
    walk = write_walk_forward(folder, outcome, table, fold_returns, names)
    summary = format_summary(outcome, header, best, stats, names, walk, table)
    (folder / "summary.txt").write_text(summary)
    return summary


def write_walk_forward(folder: Path, outcome, table: pd.DataFrame, fold_returns: dict,
                       names) -> list[str]:
    """``walk_forward.csv`` and ``.png`` (none with one fold: nothing to select, and an
    earlier sweep's are removed); returns the summary lines."""
    folds = outcome.plan.folds
    benchmarks = {(run.symbol, run.fold): outcome.results[run.key]["row"].get("benchmark_return")
                  for run in outcome.plan.runs if not outcome.results[run.key]["row"].get("error")}
    rows, curves = walk_forward_rows(table, fold_returns, names, folds, benchmarks)
    for name in ("walk_forward.csv", "walk_forward.png"):
        (folder / name).unlink(missing_ok=True)
    if len(rows):
        rows.to_csv(folder / "walk_forward.csv", index=False, float_format="%.6g")
        plot_walk_forward(curves, len(folds), folder / "walk_forward.png")
    return summary_lines(rows, len(folds), list(dict.fromkeys(table["symbol"])))


def format_summary(outcome, header: dict, best: pd.DataFrame, stats: dict, names,
                   walk_forward: list[str] = (), table: pd.DataFrame | None = None) -> str:
    failed = int(outcome.table["error"].notna().sum())
    lines = [f"Sweep: {header['strategy']} strategy on {header['signals']} signals, "
             f"{header['start']}..{header['end']}, {header['folds']} fold(s), "
             f"source {header['source']}",
             f"runs: {len(outcome.table)} ({outcome.executed} run now, {outcome.skipped} "
             f"already done), failed: {failed}", "", "Best parameter sets (full-window Sharpe):"]
    columns = ["symbol", *names, "sharpe", "total_return", "failed_folds"]
    lines += best[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}",
                                     na_rep="n/a").splitlines()
    lines += fell_to_zero_lines(table, names)
    lines += ["", "Overfitting (per symbol, the best complete parameter set):"]
    for symbol, entry in stats.items():
        dsr = entry["deflated_sharpe"]
        if dsr is None:
            lines.append(f"{symbol}: {entry.get('note') or 'no parameter set finished every fold'}")
            continue
        params = ", ".join(f"{k}={v}" for k, v in entry["best"].items()) or "(defaults)"
        pbo = (f"PBO {entry['pbo']:.2f} over {entry['pbo_combinations']} CSCV splits"
               if entry["pbo"] is not None else f"PBO {entry['pbo_note']}")
        if entry.get("pbo_folds_per_group", 1) > 1:
            pbo += (f" ({entry['pbo_groups']} groups of {entry['pbo_folds_per_group']} "
                    "consecutive folds)")
        if entry.get("pbo_tied_splits"):
            pbo += (f" ({entry['pbo_tied_splits']} with a tied in-sample best, each tied set "
                    "counted equally)")
        deflated = _fmt(dsr["dsr"]) + (f" ({dsr['dsr_note']})" if dsr.get("dsr_note") else "")
        lines.append(f"{symbol}: best {params}: Sharpe {dsr['sharpe_annual']:.2f}, "
                     f"expected best of {dsr['n_trials']} by luck "
                     f"{dsr['expected_max_sharpe_annual']:.2f}, deflated Sharpe "
                     f"{deflated}; {pbo}")
    if walk_forward:
        lines += ["", *walk_forward]
    return "\n".join(lines) + "\n"


def fell_to_zero_lines(table: pd.DataFrame | None, names) -> list[str]:
    """Per symbol, the parameter sets whose account fell to 0 or below in a fold, with the
    first of them, and what their n/a Sharpe means for the ranking and the selection."""
    if table is None or "account_at_or_below_zero_on" not in table:
        return []
    lines = []
    for symbol, group in table.groupby("symbol", sort=False):
        fell = group[group["account_at_or_below_zero_on"].notna()]
        if not len(fell):
            continue
        first = fell.iloc[0]
        label = ", ".join(f"{n}={first[n]}" for n in names) or "(defaults)"
        more = f"; {len(fell) - 1} more in parameter_sets.csv" if len(fell) > 1 else ""
        lines.append(f"{symbol}: the account of {len(fell)} of {len(group)} parameter sets "
                     f"fell to 0 or below in a fold ({label}: fold "
                     f"{first['account_at_or_below_zero_fold']} on "
                     f"{first['account_at_or_below_zero_on']}{more}): Sharpe n/a (the daily "
                     "returns from then on are returns on a value of 0 or less), ranked last; "
                     "not chosen by the walk-forward selection on folds that hold it, and "
                     "last in every PBO half that holds them")
    return lines


def _dsr_note(returns: pd.Series, dsr) -> str | None:
    """Why the deflated Sharpe is missing, in words (None when it is there)."""
    if math.isfinite(dsr.deflated_sharpe):
        return None
    if len(returns) > 1 and returns.std() == 0:
        return "its daily returns never change: it never traded, so it has no Sharpe to test"
    if len(returns) < 2:
        return "fewer than 2 daily returns"
    return ("the skewness and kurtosis of its returns leave its Sharpe no positive "
            "variance")


def _series(returns: dict | None) -> pd.Series | None:
    """A fold's daily returns without its first session, the fold's starting point (0 by
    construction, ``analyzers.window``), as the backtest's own figures read them: counted
    as a day, each fold's 0 diluted its Sharpe and the joined returns' by one idle day."""
    if returns is None:
        return None
    return daily_returns(pd.Series(returns["values"], index=pd.DatetimeIndex(returns["dates"]),
                                   dtype=float))


def _mean(values) -> float:
    finite = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return float(np.mean(finite)) if finite else math.nan


def _label(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return "+".join(map(str, value)) or "none"
    return str(value)


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
