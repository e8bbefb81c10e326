"""How a backtest's ML signal called the sessions it traded, beside the baselines ``run.py
train`` scores a model against: the majority class, the rule signal, the true-regime oracle
(where the source knows the truth) and perfect foresight.

A return alone says little about a model (the sample market's rule signal earns too), so a
``--signals ml`` backtest also scores the signal's calls, out of sample, against the truth
the model was trained for: the strategy labels (which spread, if any, would have paid) of
each traded session. The majority class and the oracle learn only from labels that ended
before the window; the labels of the window's own sessions are read only to score, and only
those that end by the window's last session: a spread whose outcome comes after
``--end-date`` is not known in the window (scored, it made the table depend on how far the
source's data happens to run).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: the signal's lines as ``LineRecorder`` names them
SIGNAL = "StrategySignal"
#: fewer scored sessions than this make no table
MIN_SCORED = 5
#: how far before the window labels are priced for the majority class and the oracle
PAST_YEARS = 2


def window_scores(source, symbol: str, bars: pd.DataFrame, lines: pd.DataFrame,
                  start: pd.Timestamp, end: pd.Timestamp, label_config,
                  cache=None) -> pd.DataFrame | None:
    """The score table (``models.evaluation.score_table``) of the ML signal's calls on the
    labelled sessions of ``start`` .. ``end``; None when fewer than ``MIN_SCORED`` sessions
    have a label or no label ended before ``start``. ``bars`` are the run's bars (warm-up
    included), ``lines`` its recorded lines."""
    from models.evaluation import class_frequencies, regime_oracle, score_table
    from training.baselines import rule_signal_series
    from training.label_cache import cached_strategy_labels
    from training.pipeline import option_chain_of

    proba_columns = [f"{SIGNAL}.p_hold", f"{SIGNAL}.p_call", f"{SIGNAL}.p_put"]
    if not set(proba_columns) <= set(lines.columns):
        return None
    calls = lines[lines["symbol"] == symbol].assign(date=lambda f: pd.to_datetime(f["date"]))
    calls = calls.set_index("date")
    calls = calls[(calls.index >= start) & (calls.index <= end)].dropna(subset=proba_columns)
    history = source.bars(symbol)
    first = max(history.index[0], start - pd.DateOffset(years=PAST_YEARS))
    labels = cached_strategy_labels(option_chain_of(source, symbol), label_config,
                                    start=first, end=min(end, history.index[-1]), cache=cache,
                                    source_name=source.name)
    label_end = pd.DatetimeIndex(labels["label_end"]).tz_localize(None)
    past = labels[(labels.index < start) & labels["label"].notna() & (label_end < start)]
    known = labels[labels["label"].notna() & (label_end <= end)]
    scored = known.reindex(calls.index).dropna(subset=["label"])
    if len(scored) < MIN_SCORED or past.empty:
        return None
    y = scored["label"].astype(int).to_numpy()
    n = len(y)
    predictors = {"model": (calls.loc[scored.index, f"{SIGNAL}.signal"].astype(int).to_numpy(),
                            calls.loc[scored.index, proba_columns].to_numpy(dtype=float))}
    priors = class_frequencies(past["label"].astype(int).to_numpy())
    predictors["majority"] = (np.full(n, int(np.argmax(priors))), np.tile(priors, (n, 1)))
    rule = rule_signal_series(bars).reindex(scored.index).fillna(0).astype(int).to_numpy()
    predictors["rule"] = (rule, None)
    if "true_regime" in history:
        truth = history["true_regime"]
        known = past.assign(true_regime=truth.reindex(past.index).to_numpy())
        predictors["oracle"] = regime_oracle(known, truth.reindex(scored.index).to_numpy())
    predictors["foresight"] = (y, np.eye(3)[y])
    return score_table(y, scored["put_return"].to_numpy(float),
                       scored["call_return"].to_numpy(float), predictors)


def format_window_scores(tables: dict[str, pd.DataFrame]) -> str:
    """The tables of several symbols as text: one row per symbol and predictor."""
    from models.evaluation import EDGE_MIN_STANDARD_ERRORS

    header = (f"{'symbol':<8}{'predictor':<11}{'bars':>6}{'accuracy':>10}{'log loss':>10}"
              f"{'P&L/call':>10}{'edge P&L':>10}")
    lines = ["", "ML signal on the traded sessions (out of sample; the truth: which spread "
                 "would have paid)", header]
    for symbol, table in tables.items():
        for name, row in table.iterrows():
            cells = [f"{int(row['n']):>6}", _cell(row["accuracy"], "{:.3f}"),
                     _cell(row["log_loss"], "{:.3f}"), _cell(row["mean_pnl"], "{:+.2%}"),
                     _cell(row["edge_pnl"], "{:.2f}")]
            lines.append(f"{symbol:<8}{name:<11}" + "".join(cells))
    lines.append("edge P&L: (P&L/call - majority's) / (oracle's - majority's), 1 = the "
                 "oracle's edge, 0 = none; '-' where there is no oracle (the source does not "
                 "know the true regime) or it does not earn more than the majority class by "
                 f"{EDGE_MIN_STANDARD_ERRORS:g} paired standard errors (a share of noise)")
    return "\n".join(lines)


def _cell(value, fmt: str) -> str:
    return f"{'-':>10}" if pd.isna(value) else f"{fmt.format(value):>10}"
