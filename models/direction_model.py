"""Seed 003's multi-model direction system as one estimator: features -> triple-barrier
labels -> six members (XGBoost, random forest, gradient boosting, LSTM, GRU, TCN) -> a
meta-model fitted on their out-of-fold probabilities -> BUY / SELL / NEUTRAL + confidence.

``fit(bars)`` reads those bars and nothing else:

1. features (``models.direction_features``) and triple-barrier labels
   (``models.triple_barrier``) with ``label_end``, the bar where each label became known;
2. purged walk-forward: the bars after an initial training block (``min_train_fraction``)
   are cut into ``n_folds`` consecutive blocks by bar position; for each block every member
   is trained on the samples before it whose label was known ``embargo`` bars before the
   block starts (``models.folds``) and predicts the block: out-of-fold probabilities;
3. the meta-model of block k is fitted on the out-of-fold probabilities of blocks < k (again
   purged) and predicts block k, so the evaluation table (every member, both meta-models,
   majority-class and always-BUY baselines over the blocks >= 2) is out of sample throughout;
4. the final members are trained on all samples, and the final meta-model on all
   out-of-fold probabilities (never on the final members' in-sample ones).

``predict_frame(bars)`` scores every bar after the warm-up; row t uses bars <= t only, and
``stream()`` gives the same numbers one bar at a time (within 1e-5: it scores through the
members' live paths, numpy forward passes for the keras members).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from core.cores import available_cores
from core.domain import DIRECTION_NAMES as DIRECTION_NAME_OF
from core.domain import MAX_SEED
from core.errors import DataError
from models.config import config_table, override, value_problems
from models.direction_features import (
    available_groups,
    direction_columns,
    feature_names,
    input_columns,
)
from models.direction_members import (
    MEMBERS,
    SEQUENCE,
    GradientBoostingMember,
    RandomForestMember,
    XGBoostMember,
)
from models.direction_scores import direction_oracle, direction_scores, logistic_baseline
from models.evaluation import paired_log_loss_difference
from models.features import LOOKBACK, BarWindow, check_finite, check_finite_row, feature_frame
from models.folds import block_bounds, known_before
from models.meta_model import META_MODELS, BayesianWeighting, StackingMeta
from models.store import (
    METADATA_FILE,
    check_features,
    described_training,
    library_versions,
    pickle_to,
    read_metadata,
    require_files,
    unpickle,
    write_metadata,
)
from models.triple_barrier import BUY, triple_barrier_labels

#: names by class 0, 1, 2 (direction = class - 1), from the one vocabulary in core.domain
DIRECTION_NAMES = tuple(DIRECTION_NAME_OF[c - 1] for c in range(3))
PROBA_COLUMNS = ("p_sell", "p_neutral", "p_buy")
OUTPUT_COLUMNS = ("direction", "confidence", *PROBA_COLUMNS)
MODEL_FILE = "direction_model.pkl"
#: the shape of what ``save`` writes; a folder of another format is refused on ``load``
#: (2: sequence members with purged early stopping and optional weight decay;
#: implied-volatility features)
MODEL_FORMAT = 2


@dataclass(frozen=True)
class DirectionConfig:
    """Everything the direction model is built with; the defaults are the sizes run.py
    trains (tests pass tiny ones)."""

    #: member models, any of xgboost, random_forest, gradient_boosting, lstm, gru, tcn
    members: tuple[str, ...] = tuple(MEMBERS)
    #: feature groups (None: every default group the bars have; see direction_features)
    feature_groups: tuple[str, ...] | None = None
    #: triple barrier: bars until the time barrier
    horizon: int = 10
    #: profit-take / stop-loss barriers in trailing volatility x sqrt(horizon)
    profit_take: float = 1.0
    stop_loss: float = 1.0
    #: bars of the trailing volatility that scales the barriers
    volatility_window: int = 20
    #: walk-forward blocks after the initial training block (at least 2: the meta-model
    #: of block k learns from blocks < k)
    n_folds: int = 4
    #: share of the labelled bars in the initial training block
    min_train_fraction: float = 0.5
    #: bars between a training label's end and the next validation block
    embargo: int = 5
    #: fewest training samples of the first block (fewer: "too little history")
    min_train_samples: int = 100
    #: train on at most this many bars (after the warm-up) at the end of the data; 0 = all
    max_train_bars: int = 1260
    #: the meta-model that makes the output: "stack" (logistic) or "bayes" (weighting)
    meta: str = "stack"
    #: inverse L2 strength of the stacking regression
    meta_c: float = 0.01
    #: fit the stacking regression with balanced class weights (its probabilities then
    #: lean away from the base rates: the fit before issue 13, kept for comparison)
    meta_balanced: bool = False
    #: evidence discount per row of the Bayesian weighting
    bayes_forgetting: float = 0.98
    #: trees of each tree member
    n_estimators: int = 200
    #: depth of the boosted trees (xgboost, gradient boosting)
    max_depth: int = 3
    #: depth of the random forest's trees (0 = unlimited)
    rf_max_depth: int = 6
    #: learning rate of the boosted trees
    learning_rate: float = 0.05
    #: fewest samples in a leaf (random forest, gradient boosting)
    min_samples_leaf: int = 5
    #: feature rows in a window of the sequence members
    sequence_length: int = 20
    #: units of the LSTM / GRU layer and filters of the TCN's convolutions
    units: int = 32
    #: TCN kernel width and dilations (one residual block each)
    tcn_kernel_size: int = 3
    tcn_dilations: tuple[int, ...] = (1, 2, 4, 8)
    #: dropout of the sequence members
    dropout: float = 0.2
    #: most training epochs of the sequence members
    epochs: int = 20
    #: early stopping: epochs without a lower loss on the latest 15% of the training windows
    #: before training stops (best weights kept); 0 trains every epoch. The training windows
    #: are purged and embargoed against those validation windows like every other split
    patience: int = 3
    batch_size: int = 32
    nn_learning_rate: float = 0.001
    #: decoupled weight decay (AdamW) of the sequence members (0 = plain Adam): 1.0 by the
    #: long evaluation and the leak test (docs/models/direction.md)
    nn_weight_decay: float = 1.0
    #: seed of every member and the meta-model
    seed: int = 42
    #: keras fit verbosity
    verbose: int = 0

    def __post_init__(self):
        problems = []
        unknown = [m for m in self.members if m not in MEMBERS]
        if unknown or not self.members or len(set(self.members)) != len(self.members):
            problems.append(f"members must be distinct names of {', '.join(MEMBERS)} "
                            f"(got {', '.join(self.members) or 'none'})")
        if self.meta not in META_MODELS:
            problems.append(f"meta must be one of {', '.join(META_MODELS)}")
        if not self.meta_c > 0 or not 0.0 < self.bayes_forgetting <= 1.0:
            problems.append("meta_c must be above 0 and bayes_forgetting in (0, 1]")
        if self.n_folds < 2:
            problems.append("n_folds must be at least 2")
        if not 0.0 < self.min_train_fraction < 1.0:
            problems.append("min_train_fraction must be between 0 and 1")
        if min(self.horizon, self.sequence_length, self.volatility_window - 1) < 1:
            problems.append("horizon and sequence_length must be >= 1, volatility_window >= 2")
        if self.embargo < 0 or self.patience < 0:
            problems.append("embargo and patience must be >= 0")
        if min(self.epochs, self.batch_size, self.n_estimators, self.units) < 1:
            problems.append("epochs, batch_size, n_estimators and units must be >= 1")
        problems += value_problems(self, self._value_checks())
        if problems:
            raise DataError("direction config: " + "; ".join(problems))


    def _value_checks(self) -> list[tuple[str, bool, str]]:
        """``(field, holds, what it must be)`` of the fields a model cannot train with (a
        negative barrier, a dropout of 1.5, a learning rate of 0: XGBoost's and keras's own
        tracebacks after other members had trained)."""
        return [
            ("profit_take", self.profit_take > 0, "above 0 (volatilities to the upper barrier)"),
            ("stop_loss", self.stop_loss > 0, "above 0 (volatilities to the lower barrier)"),
            ("max_train_bars", self.max_train_bars >= 0, "0 (all bars) or more"),
            ("min_train_samples", self.min_train_samples >= 1, "at least 1"),
            ("max_depth", self.max_depth >= 1, "at least 1"),
            ("rf_max_depth", self.rf_max_depth >= 0, "0 (unlimited) or more"),
            ("min_samples_leaf", self.min_samples_leaf >= 1, "at least 1"),
            ("learning_rate", self.learning_rate > 0, "above 0"),
            ("nn_learning_rate", self.nn_learning_rate > 0, "above 0"),
            ("nn_weight_decay", self.nn_weight_decay >= 0, "0 or more"),
            ("dropout", 0 <= self.dropout < 1, "from 0 to below 1"),
            ("tcn_kernel_size", self.tcn_kernel_size >= 1, "at least 1"),
            ("tcn_dilations", bool(self.tcn_dilations) and min(self.tcn_dilations) >= 1,
             "a list of whole numbers of at least 1"),
            ("seed", 0 <= self.seed <= MAX_SEED, f"from 0 to {MAX_SEED}"),
            ("verbose", self.verbose in (0, 1, 2), "0, 1 or 2"),
        ]


def make_direction_config(config_file: str | Path | None = None,
                          epochs: int | None = None) -> DirectionConfig:
    """The defaults, overridden by the ``[direction]`` table of a TOML or YAML file (keys as
    the fields of DirectionConfig; unknown keys are a DataError naming them) and by
    ``epochs``, which a model without network members refuses (it would change nothing)."""
    config = DirectionConfig()
    if config_file is not None:
        config = override(config, config_table(config_file, "direction"), str(config_file),
                          "direction")
    if epochs is not None:
        if not any(MEMBERS[m].kind == SEQUENCE for m in config.members):
            networks = "/".join(n for n, member in MEMBERS.items() if member.kind == SEQUENCE)
            raise DataError(f"--epochs trains the {networks} members; the model's members "
                            f"({', '.join(config.members)}) have none: drop it")
        config = override(config, {"epochs": int(epochs)}, "--epochs")
    return config


PRICE_COLUMNS = ("open", "high", "low", "close")


def _check_prices(prices: np.ndarray, dates) -> None:
    """Refuse NaN or non-positive prices (rows of ``PRICE_COLUMNS`` on ``dates``), naming
    the first."""
    bad = ~np.isfinite(prices) | (prices <= 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"NaN or non-positive prices: {PRICE_COLUMNS[col]} is "
                        f"{prices[row, col]} on {dates[row]:%Y-%m-%d}")


class DirectionModel:
    """Members + meta-model -> direction (-1/0/1) and confidence (module docstring).

    Learned: ``groups_``, ``feature_names_``, ``input_columns_`` (bar columns read),
    ``members_`` (name -> fitted member), ``meta_``, ``evaluation_`` (walk-forward table),
    ``evaluation_folds_`` (per block), ``oof_`` (labels and out-of-fold probabilities of the
    members, the meta-models and the references: ``majority_``, ``logistic_``, ``oracle_``),
    ``importance_`` (XGBoost gain, descending), ``fit_info_``.
    """

    #: what ``predict_frame`` and ``stream`` give per bar
    output_columns = OUTPUT_COLUMNS

    def __init__(self, config: DirectionConfig | None = None):
        self.config = config or DirectionConfig()

    # ------------------------------------------------------------------ shape
    @property
    def sequence_length(self) -> int:
        """Feature rows a score reads (1 when no sequence member is used)."""
        uses_windows = any(MEMBERS[m].kind == SEQUENCE for m in self.config.members)
        return self.config.sequence_length if uses_windows else 1

    @property
    def warmup_bars(self) -> int:
        """Bars before the first scored bar (features, then a full window of them)."""
        return LOOKBACK - 1 + self.sequence_length - 1

    @property
    def trained_until(self) -> pd.Timestamp:
        """The last session whose bars (labels included) went into training."""
        self._check_fitted()
        return self.fit_info_["train_end"]

    @property
    def input_columns(self) -> tuple[str, ...]:
        """The bar columns the fitted feature set reads."""
        self._check_fitted()
        return tuple(self.input_columns_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "meta_"):
            raise RuntimeError("DirectionModel is not fitted: call fit(bars) first")

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def _check_bars(bars: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(bars.index, pd.DatetimeIndex) or not bars.index.is_monotonic_increasing \
                or bars.index.has_duplicates:
            raise DataError("bars need an ascending, unique DatetimeIndex of sessions")
        lacking = [c for c in PRICE_COLUMNS if c not in bars]
        if lacking:
            raise DataError(f"bars lack the price columns {', '.join(lacking)}")
        _check_prices(bars[list(PRICE_COLUMNS)].to_numpy(dtype=float), bars.index)
        return bars

    def _features(self, bars: pd.DataFrame, from_row: int = 0) -> np.ndarray:
        """The fitted feature set of ``bars`` as an array (checked, warm-up rows NaN); rows
        before ``from_row`` may stay NaN (``direction_features``: a stream's newest row)."""
        self._check_bars(bars)
        col = {c: bars[c].to_numpy(dtype=float) for c in self.input_columns_ if c in bars}
        frame = feature_frame(self._feature_columns(col, bars.index, from_row), bars.index,
                              self.feature_names_)
        check_finite(frame.iloc[max(LOOKBACK - 1, from_row):], "direction features")
        return frame.to_numpy(dtype=float)

    def _newest_features(self, col: dict[str, np.ndarray], dates) -> np.ndarray:
        """``_features``' last row for a stream's window of bars held as numpy columns
        (``BarWindow.arrays``), with the same checks, without a pandas frame per bar."""
        if any(a >= b for a, b in pairwise(dates)):
            raise DataError("bars need an ascending, unique DatetimeIndex of sessions")
        _check_prices(np.stack([col[c] for c in PRICE_COLUMNS], axis=1), dates)
        f = self._feature_columns(col, dates, len(dates) - 1)
        row = np.array([f[name][-1] for name in self.feature_names_], dtype=float)
        check_finite_row(row, self.feature_names_, dates[-1], "direction features")
        return row

    def _feature_columns(self, col: dict[str, np.ndarray], dates, from_row: int) -> dict:
        """Every fitted feature from the bar columns ``col``, refusing bars that lack a
        column the model was trained on."""
        lacking = [c for c in self.input_columns_ if c not in col or np.isnan(col[c]).all()]
        if lacking:
            have = available_groups(pd.DataFrame(col), None)
            raise DataError(
                f"this direction model was trained on the feature set [{', '.join(self.groups_)}]"
                f" ({len(self.feature_names_)} features); the bars give "
                f"[{', '.join(have)}] ({len(feature_names(have))} features): they lack the "
                f"columns {', '.join(lacking)} (a different source? retrain on this one)")
        computed = feature_names(self.groups_)
        if computed != self.feature_names_:
            raise DataError(f"feature set differs: trained on {', '.join(self.feature_names_)};"
                            f" computed {', '.join(computed)}")
        return direction_columns(col, dates, self.groups_, from_row)

    def _inputs(self, kind: str, X: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Feature rows (tabular) or windows of ``sequence_length`` rows (sequence)."""
        if kind != SEQUENCE:
            return X[ends]
        L = self.sequence_length
        view = np.lib.stride_tricks.sliding_window_view(X, (L, X.shape[1]))[:, 0]
        return view[ends - (L - 1)]

    def _make_member(self, name: str):
        c = self.config
        if name == "xgboost":
            return XGBoostMember(c.n_estimators, c.max_depth, c.learning_rate, c.seed)
        if name == "random_forest":
            return RandomForestMember(c.n_estimators, c.rf_max_depth or None,
                                      c.min_samples_leaf, c.seed)
        if name == "gradient_boosting":
            return GradientBoostingMember(c.n_estimators, c.max_depth, c.learning_rate,
                                          c.min_samples_leaf, c.seed)
        return MEMBERS[name](units=c.units, dropout=c.dropout, epochs=c.epochs,
                             batch_size=c.batch_size, learning_rate=c.nn_learning_rate,
                             seed=c.seed, verbose=c.verbose, kernel_size=c.tcn_kernel_size,
                             dilations=c.tcn_dilations, patience=c.patience,
                             embargo=c.embargo, weight_decay=c.nn_weight_decay)

    def _make_meta(self, name: str):
        if name == "stack":
            return StackingMeta(self.config.meta_c, self.config.seed,
                                self.config.meta_balanced)
        return BayesianWeighting(self.config.bayes_forgetting)

    # ------------------------------------------------------------------ fitting
    def fit(self, bars: pd.DataFrame, *, progress: bool = False) -> DirectionModel:
        """Train members and meta-model on ``bars`` (daily, ascending; OHLCV and any extra
        columns). DataError on NaN prices or too little history."""
        cfg = self.config
        self._check_bars(bars)
        if cfg.max_train_bars and len(bars) > cfg.max_train_bars + self.warmup_bars:
            bars = bars.iloc[-(cfg.max_train_bars + self.warmup_bars):]
        self.groups_ = available_groups(bars, cfg.feature_groups)
        self.input_columns_ = input_columns(self.groups_)
        self.feature_names_ = feature_names(self.groups_)
        X = self._features(bars)
        labels = triple_barrier_labels(bars["close"], cfg.horizon, cfg.profit_take,
                                       cfg.stop_loss, cfg.volatility_window)
        y, end_row = labels["label"].to_numpy(), labels["end_row"].to_numpy()
        T = len(bars)
        rows = np.arange(self.warmup_bars, T)
        rows = rows[np.isfinite(y[rows])]
        folds = self._folds(T, rows, end_row)
        names = cfg.members
        fits = tqdm(total=(len(folds) + 1) * len(names), desc="direction members",
                    unit="fit", disable=not progress)
        oof = np.full((T, len(names), 3), np.nan)
        fold_of = np.zeros(T, dtype=int)
        priors = np.full((T, 3), np.nan)
        logistic = np.full((T, 3), np.nan)  # the baseline of the evaluation table
        # one instance per member, refitted block after block: a keras member then reuses
        # its compiled training step (a refit equals a fresh fit, see SequenceMember.fit)
        members = {name: self._make_member(name) for name in names}
        trained, splits = [], []
        for k, (lo, hi) in enumerate(folds, start=1):
            train = rows[known_before(rows, end_row[rows], lo, cfg.embargo)]
            test = rows[(rows >= lo) & (rows <= hi)]
            fold_of[test] = k
            trained.append({"n_train": int(len(train)),
                            "n_purged": int((rows < lo).sum() - len(train)),
                            "last_label_end": f"{bars.index[end_row[train].max()]:%Y-%m-%d}",
                            "n_test": int(len(test))})
            priors[test] = np.bincount(y[train].astype(int), minlength=3) / len(train)
            if len(test):
                logistic[test] = logistic_baseline(X[train], y[train], X[test], cfg.seed)
            splits.append((train, test))

        def block_fits(name: str) -> None:
            j, member = names.index(name), members[name]
            for train, test in splits:
                member.fit(self._inputs(member.kind, X, train), y[train], train, end_row[train])
                if len(test):
                    oof[test, j] = member.predict_proba(self._inputs(member.kind, X, test))
                fits.update()

        lanes = member_lanes(members)
        in_lanes(block_fits, lanes)
        meta_oof = {name: np.full((T, 3), np.nan) for name in META_MODELS}
        meta_calls = {name: np.zeros(T, dtype=int) for name in META_MODELS}
        for k, (lo, _) in enumerate(folds[1:], start=2):
            past = rows[(fold_of[rows] >= 1) & (fold_of[rows] < k)
                        & known_before(rows, end_row[rows], lo, cfg.embargo)]
            test = rows[fold_of[rows] == k]
            if len(past) < 10 or not len(test):
                continue
            for name in META_MODELS:
                meta = self._make_meta(name).fit(oof[past], y[past])
                meta_oof[name][test] = meta.predict_proba(oof[test])
                meta_calls[name][test] = meta.decide(meta_oof[name][test])
        def final_fit(name: str) -> None:
            member = members[name]
            member.fit(self._inputs(member.kind, X, rows), y[rows], rows, end_row[rows])
            fits.update()

        in_lanes(final_fit, lanes)
        self.members_ = dict(members)
        fits.close()
        stacked = rows[fold_of[rows] >= 1]
        self.meta_ = self._make_meta(cfg.meta).fit(oof[stacked], y[stacked])
        self._record(bars, labels, rows, folds, fold_of, oof, meta_oof, meta_calls,
                     {"priors": priors, "logistic": logistic})
        for fold, info in zip(self.fit_info_["folds"], trained, strict=True):
            fold.update(info)
        return self

    def _folds(self, T: int, rows: np.ndarray, end_row: np.ndarray) -> list[tuple[int, int]]:
        cfg = self.config
        need = cfg.min_train_samples
        message = (f"too little history to train the direction model: {T} bars give "
                   f"{len(rows)} labelled samples after a warm-up of {self.warmup_bars} bars")
        if len(rows) < 2 * cfg.n_folds:
            raise DataError(f"{message} (need at least {need} before the walk-forward blocks)")
        lo = rows[0] + int(np.ceil(cfg.min_train_fraction * (T - rows[0])))
        bounds = block_bounds(lo, T, cfg.n_folds)
        first = rows[known_before(rows, end_row[rows], lo, cfg.embargo)]
        if len(first) < need:
            raise DataError(f"{message}; the first training block has {len(first)} (need "
                            f"{need}; {1 - cfg.min_train_fraction:.0%} of the bars are held "
                            f"out for {cfg.n_folds} walk-forward blocks)")
        return [(int(bounds[k]), int(bounds[k + 1]) - 1) for k in range(cfg.n_folds)]

    def _record(self, bars, labels, rows, folds, fold_of, oof, meta_oof, meta_calls,
                baselines) -> None:
        """Fill oof_, evaluation_, evaluation_folds_, importance_ and fit_info_."""
        cfg, names = self.config, self.config.members
        y = labels["label"].to_numpy()
        scored = rows[fold_of[rows] >= 1]
        frame = {"fold": fold_of[scored], "label": y[scored],
                 "label_end": labels["label_end"].to_numpy()[scored],
                 "ret": labels["ret"].to_numpy()[scored]}
        for j, name in enumerate(names):
            for c, col in enumerate(PROBA_COLUMNS):
                frame[f"{name}_{col}"] = oof[scored, j, c]
        for meta_name, values in meta_oof.items():
            for c, col in enumerate(PROBA_COLUMNS):
                frame[f"meta_{meta_name}_{col}"] = values[scored, c]
            frame[f"meta_{meta_name}_call"] = meta_calls[meta_name][scored]
        oracle = (self._oracle(bars, labels, rows, folds, fold_of) if "true_regime" in bars
                  else None)  # the sample market: the oracle's ceiling is known
        references = {"majority": baselines["priors"], "logistic": baselines["logistic"]}
        if oracle is not None:
            references["oracle"] = oracle[1]
        for ref_name, values in references.items():
            for c, col in enumerate(PROBA_COLUMNS):
                frame[f"{ref_name}_{col}"] = values[scored, c]
        self.oof_ = pd.DataFrame(frame, index=bars.index[scored])
        other = next(m for m in META_MODELS if m != cfg.meta)
        evaluated = rows[(fold_of[rows] >= 2) & np.isfinite(meta_oof[cfg.meta][rows, 0])]
        candidates = {name: (None, oof[:, j]) for j, name in enumerate(names)}
        candidates |= {"meta": (meta_calls[cfg.meta], meta_oof[cfg.meta]),
                       f"meta_{other}": (meta_calls[other], meta_oof[other]),
                       "majority": (None, baselines["priors"]),
                       "logistic": (None, baselines["logistic"]),
                       "always_buy": (np.full(len(y), BUY), None)}
        if oracle is not None:
            candidates["oracle"] = oracle
        candidates["foresight"] = (np.nan_to_num(y).astype(int),
                                   np.eye(3)[np.nan_to_num(y).astype(int)])
        ret = labels["ret"].to_numpy()

        def table_of(idx):
            return direction_scores(y[idx], ret[idx], {
                name: (None if pred is None else pred[idx], None if proba is None
                       else proba[idx]) for name, (pred, proba) in candidates.items()})

        self.evaluation_ = table_of(evaluated)
        per_fold = [{"fold": int(k), "model": name, **row}
                    for k in np.unique(fold_of[evaluated])
                    for name, row in table_of(evaluated[fold_of[evaluated] == k]).iterrows()]
        self.evaluation_.index.name = "model"
        self.evaluation_folds_ = pd.DataFrame(per_fold)
        xgb = self.members_.get("xgboost")
        self.importance_ = (pd.Series(xgb.feature_importances_, index=list(self.feature_names_),
                                      name="importance").sort_values(ascending=False,
                                                                     kind="stable")
                            if xgb is not None else pd.Series(dtype=float, name="importance"))
        index = bars.index
        self.fit_info_ = {
            "train_start": index[0], "train_end": index[-1], "first_sample": index[rows[0]],
            "n_samples": int(len(rows)), "n_evaluated": int(len(evaluated)),
            "class_counts": {DIRECTION_NAMES[c]: int((y[rows] == c).sum()) for c in range(3)},
            "folds": [{"fold": k, "test_start": f"{index[lo]:%Y-%m-%d}",
                       "test_end": f"{index[hi]:%Y-%m-%d}"}
                      for k, (lo, hi) in enumerate(folds, start=1)],
            "meta_vs_majority": self._against_majority(y, evaluated, meta_oof[cfg.meta],
                                                       baselines["priors"]),
        }

    @staticmethod
    def _against_majority(y, evaluated, proba, priors) -> dict:
        """The meta-model's log loss minus the majority class's on the evaluated bars, with
        the paired standard error of that mean: is the difference bigger than the bars'
        noise? (Consecutive labels overlap, so the true error is larger than this one.)"""
        if len(evaluated) < 2:
            return {"log_loss_difference": None, "standard_error": None, "bars": 0}
        diff, se = paired_log_loss_difference(y[evaluated].astype(int), proba[evaluated],
                                              priors[evaluated])
        return {"log_loss_difference": diff, "standard_error": se, "bars": int(len(evaluated))}

    def _oracle(self, bars, labels, rows, folds, fold_of) -> tuple[np.ndarray, np.ndarray]:
        """Per block, the regime oracle learned from the labels known before it."""
        y, ret = labels["label"].to_numpy(), labels["ret"].to_numpy()
        end_row, regime = labels["end_row"].to_numpy(), bars["true_regime"].to_numpy()
        pred, proba = np.zeros(len(y), dtype=int), np.full((len(y), 3), np.nan)
        for k, (lo, _) in enumerate(folds, start=1):
            past = rows[known_before(rows, end_row[rows], lo, self.config.embargo)]
            test = rows[fold_of[rows] == k]
            if len(past) and len(test):
                pred[test], proba[test] = direction_oracle(regime, y, ret, past, test)
        return pred, proba

    # ------------------------------------------------------------------ scoring
    def _score(self, X: np.ndarray, ends: np.ndarray, live: bool = False) -> np.ndarray:
        """[direction, confidence, p_sell, p_neutral, p_buy] for the rows ``ends``; ``live``
        scores through each member's ``predict_proba_live`` (one bar: numpy forward passes
        instead of TensorFlow calls, equal within 1e-5)."""
        # the networks' batches start first, on the core threads; the trees score here
        # meanwhile (the same numbers as one member after another)
        started = {name: m.start_predict_proba(self._inputs(m.kind, X, ends))
                   for name, m in self.members_.items() if m.kind == SEQUENCE and not live}
        P = np.stack([started[name]() if name in started else
                      (m.predict_proba_live if live else m.predict_proba)(
                          self._inputs(m.kind, X, ends))
                      for name, m in self.members_.items()], axis=1)
        proba = self.meta_.predict_proba(P)
        weighed = self.meta_.call_proba(proba)  # the classes weighed equally
        winner = weighed.argmax(axis=1)
        return np.column_stack([winner - 1.0, weighed[np.arange(len(proba)), winner], proba])

    def predict_frame(self, bars: pd.DataFrame) -> pd.DataFrame:
        """direction (-1/0/1), confidence (the call's probability with the three classes
        weighed equally: ``models.meta_model``), p_sell,
        p_neutral, p_buy per bar; NaN for the first ``warmup_bars`` bars."""
        self._check_fitted()
        X = self._features(bars)
        out = np.full((len(bars), len(OUTPUT_COLUMNS)), np.nan)
        ends = np.arange(self.warmup_bars, len(bars))
        if len(ends):
            out[ends] = self._score(X, ends)
        return pd.DataFrame(out, index=bars.index, columns=list(OUTPUT_COLUMNS))

    def stream(self) -> DirectionStream:
        """Bar-by-bar scoring with the same numbers as ``predict_frame``."""
        self._check_fitted()
        return DirectionStream(self)

    # ------------------------------------------------------------------ storage
    def metadata(self) -> dict:
        self._check_fitted()
        info = self.fit_info_
        return {
            **described_training(info["train_start"], info["train_end"], self.feature_names_,
                                 self.groups_),
            "model_format": MODEL_FORMAT,
            "input_columns": list(self.input_columns_), "members": list(self.members_),
            "meta": self.config.meta, "config": asdict(self.config),
            "samples": {k: v for k, v in info.items() if k not in ("train_start", "train_end",
                                                                    "first_sample")},
            "evaluation": json.loads(self.evaluation_.to_json(orient="index")),
            "importance": {k: float(v) for k, v in self.importance_.items()},
        }

    def save(self, directory: Path | str) -> None:
        """Write ``direction_model.pkl`` (everything but the keras networks),
        ``<member>.keras`` per sequence member and ``metadata.json`` into ``directory``."""
        meta = self.metadata() | {"libraries": library_versions(("xgboost-cpu",))}
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, member in self.members_.items():
            if member.kind == SEQUENCE:
                member.model_.save(directory / f"{name}.keras")
        pickle_to(self, directory / MODEL_FILE)
        write_metadata(directory, meta)

    @classmethod
    def load(cls, directory: Path | str) -> DirectionModel:
        """A model written by ``save``; DataError if files are missing or disagree."""
        import keras

        directory = require_files(directory, (MODEL_FILE, METADATA_FILE),
                                  hint="train one with the ml-trading command")
        found = read_metadata(directory).get("model_format", 1)
        if found != MODEL_FORMAT:
            raise DataError(f"{directory}: this direction model was saved in store format "
                            f"{found}; this version reads format {MODEL_FORMAT} (retrain it "
                            "with the ml-trading command)")
        model = unpickle(directory / MODEL_FILE)
        for name, member in model.members_.items():
            if member.kind == SEQUENCE:
                path = directory / f"{name}.keras"
                if not path.exists():
                    raise DataError(f"direction model in {directory} lacks {path.name}")
                member.model_ = keras.models.load_model(path)
                member._infer = member._net = None
        model.metadata_ = read_metadata(directory)
        check_features(directory, model.metadata_, model.feature_names_)
        return model


class DirectionStream:
    """One bar at a time (a dict or Series of bar columns) -> the row ``predict_frame``
    gives that bar: [direction, confidence, p_sell, p_neutral, p_buy] (NaN in warm-up),
    through the members' live paths (probabilities equal to the batch's within 1e-5)."""

    def __init__(self, model: DirectionModel):
        self.model = model
        self.bars = BarWindow(model.input_columns_)
        self.rows: deque = deque(maxlen=model.sequence_length)

    def update(self, date, bar) -> np.ndarray:
        out = np.full(len(OUTPUT_COLUMNS), np.nan)
        if not self.bars.append(date, bar):
            return out
        self.rows.append(self.model._newest_features(self.bars.arrays(), list(self.bars.dates)))
        if len(self.rows) < self.model.sequence_length:
            return out
        L = self.model.sequence_length
        return self.model._score(np.stack(self.rows), np.array([L - 1]), live=True)[0]

    def peek(self, date, bar) -> np.ndarray:
        """What ``update(date, bar)`` returns, without keeping the bar: a bar still forming
        (the minute replay's partial session) is scored again and again on the same past."""
        kept = self.bars.state(), deque(self.rows, self.rows.maxlen)
        try:
            return self.update(date, bar)
        finally:
            self.bars.restore(kept[0])
            self.rows = kept[1]


def member_lanes(members: dict[str, object]) -> list[list[str]]:
    """The members in two lanes that may train side by side: the tree members, then the
    keras members, each in the members' order. Two lanes share nothing: the trees are
    seeded through their own ``random_state`` and never touch a global generator, while
    only the keras members set the global seeds (``keras.utils.set_random_seed``), so each
    keras fit sees the same seeds in the same order as when every member trained in turn.
    No tree member sizes an OpenMP pool (whose thread count is set per thread): XGBoost and
    the forest run one job, gradient boosting uses none, so a lane thread computes what the
    main thread would. (The regime classifier's k-means does use one: its HMM restarts gave
    other numbers on threads, and are not run side by side.)"""
    lanes = [[name for name, m in members.items() if m.kind != SEQUENCE],
             [name for name, m in members.items() if m.kind == SEQUENCE]]
    return [lane for lane in lanes if lane]


def in_lanes(work: Callable[[str], None], lanes: list[list[str]]) -> None:
    """``work(name)`` for every name of every lane, a lane's names in order, the lanes side
    by side on two threads where the machine has two cores (gradient boosting, about 40 %
    of a default fit on one core, builds its trees while TensorFlow trains the networks:
    the same numbers, a default fit about 1.3x faster on 2 cores). The first error stops
    both lanes at their next name and is raised here; Ctrl-C waits for the fits running."""
    if len(lanes) < 2 or available_cores() < 2:
        for lane in lanes:
            for name in lane:
                work(name)
        return
    stop = threading.Event()

    def run(lane: list[str]) -> None:
        for name in lane:
            if stop.is_set():
                return
            try:
                work(name)
            except BaseException:
                stop.set()
                raise

    with ThreadPoolExecutor(len(lanes), thread_name_prefix="member-lane") as pool:
        futures = [pool.submit(run, lane) for lane in lanes]
        try:
            for future in futures:
                future.result()
        except BaseException:
            stop.set()
            raise
