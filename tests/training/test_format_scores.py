"""The train report's text: a model no different from the majority class (a paired
standard error of 0) is printed, not a division by zero."""

from types import SimpleNamespace

import pandas as pd

from models.evaluation import SCORE_COLUMNS
from training.evaluation import format_scores


def test_a_zero_standard_error_prints_without_a_ratio():
    rows = ["regime", "majority"]
    mean = pd.DataFrame(0.5, index=rows, columns=list(SCORE_COLUMNS))
    report = SimpleNamespace(n_bars=10, seeds=[42], folds=[1], mean=mean,
                             std=mean * 0.0, model_name="regime",
                             log_loss_vs_majority=lambda: (0.0, 0.0),
                             pnl_vs_majority=lambda: (0.0, 0.0))
    text = format_scores(report)
    assert "minus the majority class's: +0.000, paired standard error" in text
    assert "standard errors;" not in text
    report.log_loss_vs_majority = lambda: (-0.076, 0.016)
    assert "(4.8 standard errors; overlapping" in format_scores(report)
    report.pnl_vs_majority = lambda: (0.0386, 0.0140)
    assert ("P&L/call of the regime model minus the majority class's: +0.0386, paired "
            "standard error over the first seed's bars 0.0140 (2.8 standard errors"
            in format_scores(report))


def _report(rows):
    mean = pd.DataFrame(0.5, index=rows, columns=list(SCORE_COLUMNS))
    return SimpleNamespace(n_bars=10, seeds=[42], folds=[1], mean=mean, std=mean * 0.0,
                           model_name="regime", log_loss_vs_majority=lambda: (0.0, 0.0),
                           pnl_vs_majority=lambda: (0.0, 0.0))


def test_the_edge_note_says_why_a_source_without_an_oracle_has_no_edge():
    """Real data (bundled, csv, polygon) knows no true regime, so there is no oracle row
    and every edge cell is '-': the note said the oracle did not beat the majority class
    by 2 paired standard errors, an oracle that was never there."""
    text = format_scores(_report(["regime", "majority", "foresight"]))
    assert ("'-' where there is no oracle (the source does not know the true regime) or it "
            "does not beat the majority class by 2 paired standard errors" in text)
    assert "no oracle" in format_scores(_report(["regime", "majority", "oracle"]))
