"""What an ml-trading run prints and writes: the notes and the results summary (with
``run.py backtest``'s metrics table in backtest mode), then the report folder (backtest) or
the signal files (premarket, trading)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from core.atomic import atomic_write_bytes, atomic_write_file
from core.csv_format import CSV_FLOAT_FORMAT
from engine.ml_trading.outcome import Notes, Outcome
from engine.ml_trading.settings import MLTradingSettings


def report(settings: MLTradingSettings, outcomes: list[Outcome], notes: Notes) -> int:
    """Print the notes (unless quiet) and the results; write the report or signal files.
    Returns the exit code: 1 when any symbol failed, else 0."""
    lines = ["Results Summary:", *(o.summary_line() for o in outcomes)]
    ok = [o for o in outcomes if not o.error]
    if settings.mode == "backtest" and ok:
        lines += ["", _metrics_table(settings, ok), "", direction_check(ok)]
    elif ok and not settings.quiet:
        lines += ["", CALL_LEGEND]
    text = "\n".join(lines) + "\n"
    if not settings.quiet:
        text = "".join(f"{line}\n" for line in notes.lines()) + "\n" + text
    print(text, end="")
    if settings.mode == "backtest":
        _backtest_report(settings, ok, text)
    elif ok:
        _save_signals(settings, outcomes)
    return 1 if len(ok) < len(outcomes) else 0


#: under a premarket or trading summary (not with -q): the call is not the most probable
#: class, which surprises a reader of the saved probabilities
CALL_LEGEND = ("Direction is the class most likely relative to its share of the training "
               "rows (p / prior: the call a class-balanced model makes, so the rarer BUY and "
               "SELL are called where the models see them coming), Confidence that ratio "
               "normalised; the calibrated p_sell, p_neutral, p_buy are in the signal files")


def _header(settings: MLTradingSettings, ok: list[Outcome]) -> dict:
    results = [o.result for o in ok]
    return {"command": "ml-trading --mode backtest", "strategy": "equity",
            "signals": "direction", "symbols": ",".join(o.symbol for o in ok),
            "source": ",".join(sorted({o.source for o in ok})),
            "source_description": "; ".join(f"{o.symbol} {o.source}" for o in ok),
            "start": min(r.metrics["start"] for r in results),
            "end": max(r.metrics["end"] for r in results), "cash": settings.cash,
            "commission": settings.commission, "seed": settings.seed,
            "models": {o.symbol: o.model_note for o in ok}}


def _metrics_table(settings: MLTradingSettings, ok: list[Outcome]) -> str:
    """run.py backtest's metrics table for these results and its warnings (the last blocks
    of its summary)."""
    from engine.summary import format_summary

    blocks = format_summary([o.result for o in ok], _header(settings, ok)).rstrip(
        "\n").split("\n\n")
    first = next(i for i, block in enumerate(blocks) if block.startswith("symbol"))
    return "\n\n".join(blocks[first:])  # the table, and the warnings after it


#: the rows of the direction model's walk-forward table printed after a backtest
CHECK_ROWS = ("meta", "logistic", "majority", "oracle", "foresight")


def direction_check(ok: list[Outcome]) -> str:
    """Each symbol's direction model scored out of sample in its training walk-forward,
    beside the majority class, a logistic regression and (sample market) the oracle and
    perfect foresight: does the model know anything the baselines do not? (the whole table
    is the report's ``direction_evaluation.csv``). With ``--seeds N`` every cell is the mean
    +- std over the N seeds' tables."""
    rows, seeds = [], max(len(o.seed_evaluations) for o in ok)
    for o in ok:
        tables = o.seed_evaluations or [o.model.evaluation_]
        for name in CHECK_ROWS:
            if name not in tables[0].index:
                continue
            cells = pd.DataFrame([t.loc[name] for t in tables])
            rows.append([f"{o.symbol} {name}", f"{int(cells['n'].iloc[0])}",
                         *(_cell(cells[column], form) for column, form in CHECK_COLUMNS)])
    title = "direction model (walk-forward)" + (
        f", mean +- std over {seeds} seeds" if seeds > 1 else "")
    head = [title, "bars", "accuracy", "log loss", "side loss", "P&L/call", "edge loss",
            "edge P&L"]
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    table = "\n".join("  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)
                                for i, (x, w) in enumerate(zip(line, widths, strict=True)))
                      for line in [head, *rows])
    from models.evaluation import EDGE_MIN_STANDARD_ERRORS

    legend = ("edge loss / edge P&L: (score - majority) / (oracle - majority), 1 = the "
              "oracle's edge, 0 = none; '-' where there is no oracle (the source does not know "
              "the true regime) or it does not beat the majority class by "
              f"{EDGE_MIN_STANDARD_ERRORS:g} paired standard errors (a share of noise)")
    return "\n".join([table, legend, *filter(None, (_against_majority(o) for o in ok))])


#: the table's columns after the bars, and how each number is written
CHECK_COLUMNS = (("accuracy", "{:.3f}"), ("log_loss", "{:.3f}"), ("side_log_loss", "{:.3f}"),
                 ("mean_pnl", "{:+.2%}"), ("edge_log_loss", "{:+.2f}"), ("edge_pnl", "{:+.2f}"))


def _cell(values: pd.Series, form: str) -> str:
    """One number, or mean +- std over seeds; "-" where there is none."""
    values = values.astype(float).dropna()
    if values.empty:
        return "-"
    if len(values) == 1:
        return form.format(values.iloc[0])
    spread = form.format(values.std(ddof=1)).lstrip("+")
    return f"{form.format(values.mean())} +- {spread}"


def _against_majority(outcome: Outcome) -> str:
    """One line: the meta-model's log loss minus the majority class's, in standard errors."""
    versus = outcome.model.fit_info_.get("meta_vs_majority") or {}
    first = " (first seed)" if len(outcome.seed_evaluations) > 1 else ""
    diff, se = versus.get("log_loss_difference"), versus.get("standard_error")
    if diff is None or se is None or not se > 0:
        return ""
    side = "better" if diff < 0 else "worse"
    return (f"{outcome.symbol}: meta log loss minus majority's {diff:+.3f}{first}, paired "
            f"standard error {se:.3f} over {versus['bars']} bars ({abs(diff) / se:.1f} "
            f"standard errors {side}; overlapping labels make the true error larger)")


def _backtest_report(settings: MLTradingSettings, ok: list[Outcome], summary: str) -> None:
    if settings.no_report or not ok:
        return
    from analyzers.report import write_report
    from engine.backtest import realized_direction

    header = _header(settings, ok)
    folder = settings.report or Path("reports") / (
        f"ml_backtest_{header['start'].replace('-', '')}_{header['end'].replace('-', '')}")
    closes = {o.symbol: o.result.bars["close"] for o in ok}
    def model_tables(tmp: Path) -> None:  # inside the report, before it is swapped in
        for o in ok:
            model = o.model
            model.evaluation_.to_csv(tmp / o.symbol / "direction_evaluation.csv",
                                     float_format=CSV_FLOAT_FORMAT)
            if len(o.seed_evaluations) > 1:  # every seed's table, one after the other
                pd.concat(o.seed_evaluations, keys=range(len(o.seed_evaluations)),
                          names=["seed", "model"]).to_csv(
                    tmp / o.symbol / "direction_evaluation_seeds.csv",
                    float_format=CSV_FLOAT_FORMAT)
            model.importance_.rename("importance").to_csv(
                tmp / o.symbol / "feature_importance.csv", index_label="feature",
                float_format=CSV_FLOAT_FORMAT)

    write_report(folder, [o.result for o in ok], summary, header,
                 lambda result: realized_direction(closes[result.symbol]), extra=model_tables)
    if not settings.quiet:
        print(f"\nReport written to {folder}/ (open {folder}/index.html)")


def _save_signals(settings: MLTradingSettings, outcomes: list[Outcome]) -> None:
    """``<dir>/<mode>_<as-of>.csv`` and ``.json`` (and, trading, ``_changes.csv``)."""
    ok = [o for o in outcomes if not o.error]
    folder = settings.report or Path("signals")
    folder.mkdir(parents=True, exist_ok=True)
    as_of = max(o.signal["as_of"] for o in ok)[:10]
    stem = folder / f"{settings.mode}_{as_of}"
    rows = pd.DataFrame([o.signal for o in ok])
    # each file whole or not at all: an interrupt never leaves an empty or half signal file
    atomic_write_file(stem.with_suffix(".csv"), lambda tmp: rows.to_csv(tmp, index=False,
                                                                        float_format=CSV_FLOAT_FORMAT))
    payload = {"mode": settings.mode, "as_of": as_of,
               "created_at": pd.Timestamp.now(tz="America/New_York").isoformat(timespec="seconds"),
               "signals": [o.signal for o in ok],
               "errors": {o.symbol: o.error for o in outcomes if o.error}}
    atomic_write_bytes(stem.with_suffix(".json"),
                       (json.dumps(payload, indent=2) + "\n").encode())
    written = [stem.with_suffix(".csv"), stem.with_suffix(".json")]
    if settings.mode == "trading":
        changes = folder / f"{stem.name}_changes.csv"
        table = pd.DataFrame([c for o in ok for c in o.changes]).sort_values(
            ["as_of", "symbol"], kind="stable")
        atomic_write_file(changes, lambda tmp: table.to_csv(tmp, index=False,
                                                            float_format=CSV_FLOAT_FORMAT))
        written.append(changes)
    if not settings.quiet:
        print(f"\nSignals saved to {', '.join(str(p) for p in written)}")
