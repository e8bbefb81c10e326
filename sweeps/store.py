"""The results store of a sweep: one small JSON file per finished run, and the table.

``REPORT/runs/<key>.json`` holds a run's row (parameters, fold, metrics, error) and its
daily returns; it is written atomically (temporary file, then ``os.replace``) the moment the
run finishes, so an interrupted sweep keeps every finished run and a rerun skips them. The
table (``results.parquet`` / ``results.csv``) is rebuilt from those files in plan order, so
the same sweep gives the same table however (and in whatever order) its runs executed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from core.atomic import atomic_write_bytes, atomic_write_file
from core.csv_format import CSV_FLOAT_FORMAT

log = logging.getLogger(__name__)

#: metric columns every table has, in this order (others the runs report follow them);
#: ``account_at_or_below_zero_on``: the session a run's account fell to 0 or below, whose
#: annual return or ratios are then n/a (empty for every other run)
METRIC_COLUMNS = ("sessions", "total_return", "annual_return", "annual_volatility", "sharpe",
                  "sortino", "max_drawdown", "benchmark_return", "final_value", "trades",
                  "open_trades", "win_rate", "net_pnl_closed", "account_at_or_below_zero_on")
RUN_COLUMNS = ("key", "strategy", "signals", "symbol")
FOLD_COLUMNS = ("fold", "fold_start", "fold_end")


class ResultsStore:
    """Finished runs under ``folder/runs``, one JSON file per run key."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder) / "runs"

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def save(self, result: dict) -> Path:
        """Write one run's ``{"row": ..., "returns": ...}`` atomically."""
        path = self.path(result["row"]["key"])
        atomic_write_bytes(path, json.dumps(result, allow_nan=True).encode())
        return path

    def load(self, key: str) -> dict | None:
        """The stored run, or None when absent or unreadable (an unreadable file, e.g. one a
        crash left behind on a file system without atomic rename, is removed and rerun)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            result = json.loads(path.read_text())
            if result["row"]["key"] != key:
                raise ValueError("key mismatch")
            return result
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("sweep result %s is unreadable (%s); the run will be redone", path, exc)
            path.unlink(missing_ok=True)
            return None

    def finished(self, keys: Iterable[str]) -> set[str]:
        return {key for key in keys if self.load(key) is not None}


def results_table(rows: list[dict], param_names: Iterable[str]) -> pd.DataFrame:
    """One row per run, columns: key, strategy, signals, symbol, the swept parameters, fold,
    fold dates, the metrics, error."""
    frame = pd.DataFrame(rows)
    fixed = [*RUN_COLUMNS, *param_names, *FOLD_COLUMNS, *METRIC_COLUMNS]
    for column in (*fixed, "error"):
        if column not in frame.columns:
            frame[column] = None if column == "error" else np.nan
    extra = [c for c in frame.columns if c not in fixed and c != "error"]
    return frame[[*fixed, *extra, "error"]].reset_index(drop=True)


def write_table(table: pd.DataFrame, folder: Path | str) -> tuple[Path, Path]:
    """``results.parquet`` and ``results.csv`` under ``folder``, each written atomically."""
    folder = Path(folder)
    parquet, csv = folder / "results.parquet", folder / "results.csv"
    atomic_write_file(parquet, lambda tmp: table.to_parquet(tmp, index=False))
    atomic_write_file(csv, lambda tmp: table.to_csv(tmp, index=False,
                                                    float_format=CSV_FLOAT_FORMAT))
    return parquet, csv
