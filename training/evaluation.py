"""The strategy model's walk-forward evaluation over several network seeds, from training
data (bars, labels, the rule signal computed by its indicator).

One seed's score says little: a small LSTM's out-of-sample accuracy moves by several
points between seeds, and the regime head follows what the HMM's restarts found.
``evaluate_seeds`` runs ``models.walk_forward.walk_forward`` once per seed on the same
folds and reports every cell of the score table (``models.evaluation``) as mean and
standard deviation over the seeds. The seed is the model's source of chance: the network's
for an LSTM head, the HMM's for the regime head (whose regression has none). Baselines
that do not depend on it (majority, rule, oracle, foresight) have std 0; with one seed every
std is NaN (nothing to measure a spread from).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from models.evaluation import (
    CLASSES,
    EDGE_MIN_STANDARD_ERRORS,
    paired_log_loss_difference,
    paired_pnl_difference,
)
from models.walk_forward import WalkForwardReport, walk_forward
from training.baselines import rule_signal_series

#: how the score table's columns are printed: header, width, format
_COLUMNS = (("accuracy", "acc", "{:.3f}"), ("balanced_accuracy", "bal.acc", "{:.3f}"),
            ("macro_f1", "macro-F1", "{:.3f}"), ("log_loss", "log loss", "{:.3f}"),
            ("brier", "Brier", "{:.3f}"), ("ic", "IC", "{:+.3f}"),
            ("rank_ic", "rank IC", "{:+.3f}"), ("mean_pnl", "P&L/call", "{:+.4f}"),
            ("edge_log_loss", "edge LL", "{:+.2f}"), ("edge_pnl", "edge P&L", "{:+.2f}"))


@dataclass
class SeedsReport:
    """Walk-forward reports of every seed, and their score tables' mean and std."""

    seeds: list[int]
    reports: list[WalkForwardReport]
    mean: pd.DataFrame
    std: pd.DataFrame
    extra: dict = field(default_factory=dict)

    @property
    def first(self) -> WalkForwardReport:
        return self.reports[0]

    @property
    def folds(self):
        return self.first.folds

    @property
    def models(self) -> list:
        """The fold models of the first seed."""
        return self.first.models

    @property
    def predictions(self) -> pd.DataFrame:
        """The first seed's out-of-sample predictions (plots, returns vs market)."""
        return self.first.predictions

    @property
    def table(self) -> pd.DataFrame:
        """Per-fold score rows of every seed (column ``seed``)."""
        return pd.concat([r.table.assign(seed=s) for s, r in
                          zip(self.seeds, self.reports, strict=True)], ignore_index=True)

    @property
    def model_name(self) -> str:
        """The trained model's row: its head, ``regime`` or ``lstm``."""
        return self.models[0].name

    @property
    def overall_confusion(self) -> list:
        """The model's confusion matrix summed over the seeds."""
        return sum(confusion_matrix(r.predictions["label"], r.predictions[self.model_name],
                                    labels=list(CLASSES)) for r in self.reports).tolist()

    def log_loss_vs_majority(self) -> tuple[float, float]:
        """The first seed's mean per-bar log-loss difference, model minus majority class,
        and its standard error (``models.evaluation.paired_log_loss_difference``)."""
        frame = self.predictions
        columns = [f"_p_{c}" for c in ("hold", "call", "put")]
        return paired_log_loss_difference(
            frame["label"], frame[[self.model_name + c for c in columns]],
            frame[["majority" + c for c in columns]])

    def pnl_vs_majority(self) -> tuple[float, float]:
        """The first seed's mean per-bar P&L difference, model minus majority class (the
        same bars, each predictor's own calls), and its standard error
        (``models.evaluation.paired_pnl_difference``)."""
        frame = self.predictions
        return paired_pnl_difference(frame[self.model_name], frame["majority"],
                                     frame["put_return"], frame["call_return"])

    @property
    def n_bars(self) -> int:
        return int(len(self.predictions))

    def summary(self) -> dict:
        """What ``training_summary.json`` says about the evaluation."""
        def table(frame: pd.DataFrame) -> dict:
            return {name: {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
                    for name, row in frame.to_dict(orient="index").items()}
        return {"walk_forward": table(self.mean), "walk_forward_std": table(self.std),
                "seeds": self.seeds, "out_of_sample_bars": self.n_bars,
                "folds": len(self.folds),
                "log_loss_vs_majority": dict(zip(("difference", "standard_error"),
                                                 self.log_loss_vs_majority(), strict=True)),
                "pnl_vs_majority": dict(zip(("difference", "standard_error"),
                                            self.pnl_vs_majority(), strict=True)),
                "temperatures": [r.temperatures for r in self.reports]}


def evaluate_seeds(data, spec, folds: list, seeds: int, progress: bool = False) -> SeedsReport:
    """``walk_forward`` on ``data`` (``training.pipeline.TrainingData``) with ``spec``'s
    model for ``seeds`` seeds counted up from the config's seed (the network's for an
    LSTM head, the HMM's ``random_state`` for the regime head)."""
    rule = rule_signal_series(data.bars)
    lstm = spec.head == "lstm"
    first_seed = spec.lstm.seed if lstm else spec.hmm.random_state
    seed_list = [first_seed + i for i in range(seeds)]
    reports = []
    for seed in seed_list:
        seeded = (replace(spec, lstm=replace(spec.lstm, seed=seed)) if lstm
                  else replace(spec, hmm=replace(spec.hmm, random_state=seed)))
        reports.append(walk_forward(data.bars, data.labels, seeded.make_model, folds,
                                    hmm_bars=data.hmm_bars, rule_signal=rule, seed=seed,
                                    progress=progress))
    stacked = np.stack([r.scores.to_numpy(dtype=float) for r in reports])
    index, columns = reports[0].scores.index, reports[0].scores.columns
    mean = pd.DataFrame(stacked.mean(axis=0), index=index, columns=columns)
    # one seed has no spread to measure: NaN (blank in scores_std.csv, null in the JSON),
    # not a 0 that reads as "no variance"
    std = pd.DataFrame(stacked.std(axis=0, ddof=1) if len(reports) > 1
                       else np.full_like(stacked[0], np.nan), index=index, columns=columns)
    return SeedsReport(seed_list, reports, mean, std)


def format_scores(report: SeedsReport) -> str:
    """The score table as text, mean +- std per cell, with the sample size it rests on."""
    n, seeds = report.n_bars, len(report.seeds)
    mean, std = report.mean, report.std
    width = 18 if seeds > 1 else 10
    first = max(11, *(len(str(name)) + 1 for name in mean.index))
    lines = ["", f"Walk-forward, out of sample: {n} labelled bars in {len(report.folds)} "
                 f"folds, {seeds} seed{'s' if seeds > 1 else ''}"
                 + (" (mean +- std over seeds)" if seeds > 1 else ""),
             f"{'predictor':<{first}}" + "".join(f"{h:>{width}}" for _, h, _ in _COLUMNS)]
    for name in mean.index:
        cells = []
        for column, _, fmt in _COLUMNS:
            value = mean.loc[name, column]
            if pd.isna(value):
                cells.append(f"{'-':>{width}}")
                continue
            text = fmt.format(value)
            if seeds > 1:
                text += " +- " + fmt.format(std.loc[name, column]).lstrip("+")
            cells.append(f"{text:>{width}}")
        lines.append(f"{name:<{first}}" + "".join(cells))
    se = mean.loc[report.model_name, "pnl_se"]
    lines += ["",
              f"P&L/call: realized return on risk of the spread chosen (hold = 0); standard "
              f"error of the {report.model_name} model's mean over the {n} bars: {se:.4f} "
              "(labels overlap in time, so the true error is larger).",
              "edge: (score - majority) / (oracle - majority), 1 = the oracle's edge, "
              "0 = none; '-' where there is no oracle (the source does not know the true "
              f"regime) or it does not beat the majority class by "
              f"{EDGE_MIN_STANDARD_ERRORS:g} paired standard errors (its margin is the bars' "
              "noise, and a share of it would read anything)."]
    diff, se = report.log_loss_vs_majority()
    errors = f"{abs(diff) / se:.1f} standard errors; " if se > 0 else ""
    lines.append(f"log loss of the {report.model_name} model minus the majority class's: "
                 f"{diff:+.3f}, paired standard error over the first seed's bars {se:.3f} "
                 f"({errors}overlapping labels make the true error larger)")
    diff, se = report.pnl_vs_majority()
    errors = f"{abs(diff) / se:.1f} standard errors; " if se > 0 else ""
    lines.append(f"P&L/call of the {report.model_name} model minus the majority class's: "
                 f"{diff:+.4f}, paired standard error over the first seed's bars {se:.4f} "
                 f"({errors}overlapping labels make the true error larger)")
    return "\n".join(lines)
