"""The whole strategy model of seed 000 as one estimator: features, HMM regime
probabilities, a scaler fitted on training rows only, and a head that turns them into
hold / call / put probabilities.

Two heads (``head``):

* ``"regime"`` (the default): a logistic regression on the five filtered regime
  probabilities of the scored bar (``models.regime_head``). It wins the walk-forward on the
  benchmark world (``docs/models/regimes-lstm.md``).
* ``"lstm"``: an LSTM over windows of every input (``models.lstm``; its architecture is
  ``lstm_config.architecture``: the compact network by default, or seed 000's stack).

``fit(bars, labels)`` trains on the bars it is given and nothing else (walk-forward code
hands it only the past). Samples are the bars with a full window and a known label; the
last ``validation_fraction`` of them are held out to validate early stopping. With a
``calibration_fraction`` (0 by default) the last part of those is a calibration block
instead, on which the LSTM's temperature is fitted (``split_windows``); by default the
temperature is 1: out of sample the temperatures tried raised the LSTM's log loss in most
data sets and lowered it in none beyond the seeds' spread (``docs/models/evaluation.md``,
Calibration). Every sample whose label window
(``label_end``) reaches the next part's first bar, plus an ``embargo`` of bars before it, is
purged, so neither the validation loss nor a temperature is flattered by overlapping
labels. The regime head has no early stopping and no temperature: every labelled bar
trains it.

``predict_proba(bars)`` (``predict_frame`` in the ``models.contract.SignalModel`` terms)
scores every bar that has a full window, causally: the value at t uses bars <= t.
``stream()`` gives the same numbers one bar at a time for live use (the class probabilities
within 1e-5: an LSTM runs as a numpy forward pass, ``models.numpy_net``; the regime head
is one numpy expression on both paths). ``save(directory)`` /
``StrategyModel.load(directory)`` write and read the files of a seed-000 store folder
(``models.store``).

**The call.** Beside the probabilities the model gives each action's expected return on
risk, ``ev_hold, ev_call, ev_put = p @ m.T``, where ``m[a, c]`` is the mean realized return
of action ``a`` over the training bars labelled ``c`` (``models.evaluation.action_returns``,
fitted with the head on the training labels only). The call is the action with the highest
expected return (``decision = "expected_pnl"``, the default), what a trader who believes
``p`` would do: a spread loses about as much when it is wrong as it earns when it is right,
so the most probable class can still be a losing bet, and then the call is hold.
``decision = "probability"`` calls the most probable class (the seed's rule; the expected
returns are then NaN). On the benchmark world the expected-return call earns +0.099 a call
against +0.057 for the most probable class, with the same probabilities
(``docs/models/regimes-lstm.md``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.domain import REGIME_NAMES, STRATEGY_HEADS
from core.errors import DataError
from models.evaluation import action_returns, apply_temperature, fit_temperature
from models.features import (
    GROUP_INPUTS,
    INPUT_COLUMNS,
    LOOKBACK,
    BarWindow,
    available_groups,
    build_features,
    check_finite,
    check_finite_row,
    lacks,
    newest_features,
)
from models.lstm import LSTMConfig, LSTMModel
from models.regime_head import RegimeHead, RegimeHeadConfig
from models.regimes import (
    HMM_FILE,
    MIN_FIT_BARS,
    HMMConfig,
    MarketStateClassifier,
    RegimeFilter,
)
from models.store import (
    METADATA_FILE,
    check_features,
    described_training,
    jsonable,
    library_versions,
    pickle_to,
    read_metadata,
    require_files,
    unpickle,
    write_metadata,
)

PROBA_COLUMNS = ("p_hold", "p_call", "p_put")
REGIME_COLUMNS = tuple(f"p_{name}" for name in REGIME_NAMES)
#: each action's expected return on risk under the bar's probabilities (module docstring)
EV_COLUMNS = ("ev_hold", "ev_call", "ev_put")
#: how the call is made: the best expected return, or the most probable class
DECISIONS = ("expected_pnl", "probability")
NETWORK_FILE, SCALER_FILE, MODEL_FILE = "model.keras", "lstm_scaler.pkl", "strategy_model.pkl"
#: the files of a store folder (an LSTM head's; a regime head has no network file)
FILES = (NETWORK_FILE, SCALER_FILE, HMM_FILE, MODEL_FILE, METADATA_FILE)
REGIME_HEAD_FILES = tuple(f for f in FILES if f != NETWORK_FILE)
#: the shape of what ``save`` writes; a folder of another format is refused on ``load``
#: (2: ``LSTMConfig.architecture``, the compact default network)
MODEL_FORMAT = 2


#: validation windows below which none is set aside for the temperature (T = 1): a block
#: of a few windows would fit it to noise
MIN_CALIBRATION_SPLIT = 20


def known_before(ends: np.ndarray, label_end, index: pd.DatetimeIndex, first: int,
                 embargo: int) -> np.ndarray:
    """The windows of ``ends`` whose label ended ``embargo`` bars before bar ``first``
    (row positions in ``index``; ``label_end`` per row): what may train or validate a model
    scored from ``first`` on without its overlapping labels flattering it."""
    cutoff = index[max(first - embargo, 0)]
    return ends[pd.DatetimeIndex(np.asarray(label_end)[ends]) < cutoff]


def split_windows(ends: np.ndarray, n_val: int, calibration_fraction: float, label_end,
                  index: pd.DatetimeIndex, embargo: int):
    """``ends`` (labelled windows' last rows, in time order) cut into training, early-stopping
    and calibration windows, and how many were purged.

    The last ``n_val`` validate: the first part stops the training early, the last
    ``calibration_fraction`` of them fits the temperature. Each part's labels end
    ``embargo`` bars before the next part starts (``known_before``), so no part is scored on
    labels overlapping the one before. The temperature needs windows that did not choose
    the epoch: fitted on the early-stopping windows it raised the out-of-sample log loss
    (``docs/models/evaluation.md``, Calibration). Under ``MIN_CALIBRATION_SPLIT``
    validation windows, or when the purge would leave early stopping fewer than half that,
    there is no calibration block (and the temperature is 1)."""
    train, val = ends[: len(ends) - n_val], ends[len(ends) - n_val:]
    if not n_val:
        return train, val, val, 0
    n_cal = int(round(n_val * calibration_fraction)) if n_val >= MIN_CALIBRATION_SPLIT else 0
    stop, cal = val[: n_val - n_cal], val[n_val - n_cal:]
    kept = known_before(train, label_end, index, val[0], embargo)
    purged, train = len(train) - len(kept), kept
    kept = known_before(stop, label_end, index, cal[0], embargo) if n_cal else stop
    if n_cal and len(kept) < MIN_CALIBRATION_SPLIT // 2:
        return train, val, val[:0], purged
    return train, kept, cal, purged + len(stop) - len(kept)


#: labelled windows ``permutation_importance`` needs at least (a walk-forward's last test
#: block is where ``run.py train`` measures it)
MIN_IMPORTANCE_BARS = 5


@dataclass
class FitReport:
    """What a fit saw: windows, class counts, purged samples, training history."""

    train_start: pd.Timestamp | None = None
    train_end: pd.Timestamp | None = None
    n_train: int = 0
    n_validation: int = 0
    #: windows the temperature was fitted on (after the early-stopping ones, purged from them)
    n_calibration: int = 0
    n_purged: int = 0
    class_counts: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)


def regime_features(bars: pd.DataFrame, groups) -> pd.DataFrame:
    """The features the regime classifier fits on: those of ``bars`` after their warm-up;
    a history too short for the warm-up and the classifier's least fit is refused with
    the numbers (its own message would only count the rows left)."""
    need = LOOKBACK - 1 + MIN_FIT_BARS
    if len(bars) < need:
        raise DataError(f"{len(bars)} bars up to {bars.index[-1]:%Y-%m-%d} are too short a "
                        f"history: the regime classifier needs at least {need} "
                        f"({LOOKBACK - 1} warm its features up, then {MIN_FIT_BARS} to fit)")
    return build_features(bars, groups).iloc[LOOKBACK - 1:]


class StrategyModel:
    """Features -> filtered regime probabilities -> scaler -> head -> hold/call/put."""

    #: what ``predict_frame`` and ``stream`` give per bar
    output_columns = PROBA_COLUMNS + REGIME_COLUMNS + EV_COLUMNS
    #: bar columns the model reads (those a feed has)
    input_columns = INPUT_COLUMNS

    def __init__(self, lstm_config: LSTMConfig | None = None,
                 hmm_config: HMMConfig | None = None, feature_groups=None,
                 validation_fraction: float = 0.2, embargo: int = 5,
                 calibration_fraction: float = 0.0,
                 head: str = STRATEGY_HEADS[0], head_config: RegimeHeadConfig | None = None,
                 decision: str = DECISIONS[0]):
        if head not in STRATEGY_HEADS:
            raise DataError(f"strategy model head must be one of {', '.join(STRATEGY_HEADS)} "
                            f"(got {head!r})")
        if decision not in DECISIONS:
            raise DataError(f"strategy model decision must be one of {', '.join(DECISIONS)} "
                            f"(got {decision!r})")
        self.head = head
        self.decision = decision
        self.head_config = head_config or RegimeHeadConfig()
        self.lstm_config = lstm_config or LSTMConfig()
        self.hmm_config = hmm_config or HMMConfig()
        self.feature_groups = tuple(feature_groups) if feature_groups else None
        self.validation_fraction = validation_fraction
        self.embargo = embargo
        self.calibration_fraction = calibration_fraction

    @property
    def sequence_length(self) -> int:
        """Bars per scored window (1 for the regime head)."""
        return 1 if self.head == "regime" else self.lstm_config.sequence_length

    @property
    def name(self) -> str:
        """The model's row in score tables: its head (``lstm`` or ``regime``)."""
        return self.head

    @property
    def warmup_bars(self) -> int:
        """Bars before the first bar that gets a score."""
        return LOOKBACK - 1 + self.sequence_length - 1

    # ------------------------------------------------------------------ inputs
    def features(self, bars: pd.DataFrame) -> pd.DataFrame:
        """The feature frame of the fitted feature groups (NaN during warm-up)."""
        self._check_inputs(bars)
        return build_features(bars, self.groups_)

    def _check_inputs(self, columns) -> None:
        """Refuse bars (a frame, or a stream's numpy columns) that lack a column the
        fitted feature groups read (``models.features.lacks``: a frame's column without one
        value too, as the groups are chosen at training by ``available_groups``)."""
        missing = [c for g in self.groups_ for c in GROUP_INPUTS[g] if lacks(columns, c)]
        if missing:
            raise DataError(f"this model was trained on the feature groups "
                            f"{', '.join(self.groups_)}; the data lacks "
                            f"{', '.join(missing)} (a different source or feature set)")

    def model_inputs(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Features plus the HMM's filtered regime probabilities, per bar (warm-up NaN).
        The regime filter starts at the first bar with features."""
        feats = self.features(bars)
        inputs = pd.DataFrame(np.nan, index=bars.index,
                              columns=list(feats.columns) + list(REGIME_COLUMNS))
        ready = feats.index[LOOKBACK - 1:]
        if len(ready):
            body = feats.loc[ready]
            check_finite(body, "model features")
            probs = self.hmm_.filtered_state_probabilities(body).to_numpy()
            inputs.loc[ready] = np.hstack([body.to_numpy(), probs])
        return inputs

    def _windows(self, scaled: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Windows of ``sequence_length`` rows ending at each row index in ``ends``."""
        L = self.sequence_length
        view = np.lib.stride_tricks.sliding_window_view(scaled, (L, scaled.shape[1]))[:, 0]
        return view[ends - (L - 1)]

    # ------------------------------------------------------------------ fitting
    def fit(self, bars: pd.DataFrame, labels: pd.DataFrame,
            hmm: MarketStateClassifier | None = None,
            hmm_bars: pd.DataFrame | None = None) -> StrategyModel:
        """Train on ``bars`` with ``labels`` (``training.labels.strategy_labels``). The HMM is
        ``hmm`` if given (already fitted), else fitted on ``hmm_bars`` (a longer history,
        as the seed does) or on ``bars``."""
        self.groups_ = self.feature_groups or available_groups(bars)
        if hmm is None:
            source = hmm_bars if hmm_bars is not None else bars
            hmm_features = regime_features(source, self.groups_)
            hmm = MarketStateClassifier(self.hmm_config).fit(hmm_features)
        self.hmm_ = hmm
        inputs = self.model_inputs(bars)
        self.feature_names_ = tuple(inputs.columns)
        labels = labels.reindex(bars.index)
        first = LOOKBACK - 1 + self.sequence_length - 1
        ends = np.arange(first, len(bars))
        label_end = pd.DatetimeIndex(labels["label_end"])
        known = np.isfinite(labels["label"].to_numpy()) & (label_end <= bars.index[-1])
        ends = ends[known[ends]]  # a label reading bars after the training data is purged
        if len(ends) < 10:
            raise DataError(f"too little history to train the LSTM: {len(bars)} bars give "
                            f"{len(ends)} labelled windows (need at least 10; warm-up is "
                            f"{first} bars for features and sequence_length "
                            f"{self.sequence_length})")
        n_val = (int(round(len(ends) * self.validation_fraction))
                 if len(ends) >= 20 and self.head == "lstm" else 0)
        train_ends, val_ends, cal_ends, purged = split_windows(
            ends, n_val, self.calibration_fraction, labels["label_end"].to_numpy(),
            bars.index, self.embargo)
        rows = inputs.to_numpy(dtype=float)
        first_train_row = train_ends[0] - (self.sequence_length - 1)
        from sklearn.preprocessing import StandardScaler  # on use: slow to import

        self.scaler_ = StandardScaler().fit(rows[first_train_row: train_ends[-1] + 1])
        scaled = np.nan_to_num(self.scaler_.transform(rows)).astype(np.float32)
        y = labels["label"].to_numpy()
        self.head_ = self._new_head(scaled.shape[1])
        X_val = self._windows(scaled, val_ends) if n_val else None
        self.head_.fit(self._windows(scaled, train_ends), y[train_ends], X_val,
                       y[val_ends] if n_val else None)
        # only on a calibration block, which neither trained the network nor chose its
        # epoch, and only when it lowers that block's loss; none by default (T = 1): out of
        # sample neither that block's temperature nor one fitted on the early-stopping
        # windows lowered the log loss beyond the seeds' spread, and both mostly raised it
        # (docs/models/evaluation.md#calibration)
        self.temperature_ = (fit_temperature(self.head_.predict_proba(
            self._windows(scaled, cal_ends)), y[cal_ends].astype(int))
            if len(cal_ends) else 1.0)
        # what each action returned on the training bars of each label: the expected
        # returns the call is made from (labels without returns: the most probable class)
        self.action_returns_ = (
            action_returns(y[ends].astype(int), labels["put_return"].to_numpy()[ends],
                           labels["call_return"].to_numpy()[ends])
            if {"put_return", "call_return"} <= set(labels.columns) else None)
        self.report_ = FitReport(
            train_start=bars.index[first_train_row], train_end=bars.index[-1],
            n_train=len(train_ends), n_validation=len(val_ends),
            n_calibration=len(cal_ends), n_purged=purged,
            class_counts={int(k): int(v) for k, v in zip(*np.unique(y[train_ends],
                                                                      return_counts=True),
                                                         strict=True)},
            history=self.head_.history_)
        return self

    def _new_head(self, n_inputs: int):
        if self.head == "regime":
            first = len(self.feature_names_) - len(REGIME_COLUMNS)
            return RegimeHead(range(first, n_inputs), self.head_config)
        return LSTMModel(config=self.lstm_config, sequence_length=self.sequence_length,
                         num_features=n_inputs)

    def __setstate__(self, state: dict) -> None:
        # a model pickled before heads existed: its LSTM was ``lstm_``
        if "lstm_" in state:
            state["head_"] = state.pop("lstm_")
        state.setdefault("head", "lstm")
        state.setdefault("head_config", RegimeHeadConfig())
        # stored before the expected-return call: the most probable class, as it was
        state.setdefault("decision", DECISIONS[1])
        state.setdefault("action_returns_", None)
        # stored before the calibration block: it keeps its stored temperature (fitted on
        # the early-stopping windows); a refit fits none, as a new model does
        state.setdefault("calibration_fraction", 0.0)
        self.__dict__.update(state)

    @property
    def lstm_(self) -> LSTMModel:
        """The LSTM head (seed 000's name for it); AttributeError for a regime head."""
        head = self.__dict__.get("head_")
        if not isinstance(head, LSTMModel):
            raise AttributeError(f"this strategy model's head is {self.name!r}, not an LSTM")
        return head

    # ------------------------------------------------------------------ scoring
    @property
    def trained_until(self) -> pd.Timestamp:
        """The last session whose bars (and labels) went into training: a backtest scored
        with this model must start after it."""
        self._check_fitted()
        return self.report_.train_end

    def _check_fitted(self) -> None:
        if "head_" not in self.__dict__:
            raise RuntimeError("StrategyModel is not fitted: call fit(bars, labels) first")

    def predict_proba(self, bars: pd.DataFrame, calibrated: bool = True) -> pd.DataFrame:
        """``p_hold, p_call, p_put``, the regime probabilities and the expected returns
        ``ev_*`` per bar (NaN until a full window exists, and ``ev_*`` NaN when the model
        calls the most probable class); temperature-scaled unless ``calibrated`` is False
        (the network's raw softmax)."""
        self._check_fitted()
        inputs = self.model_inputs(bars)
        self._check_columns(inputs.columns)
        out = pd.DataFrame(np.nan, index=bars.index, columns=list(PROBA_COLUMNS))
        ends = np.arange(self.warmup_bars, len(bars))
        if len(ends):
            scaled = self.scaler_.transform(inputs.to_numpy(dtype=float)).astype(np.float32)
            proba = self.head_.predict_proba(self._windows(scaled, ends))
            out.iloc[ends] = self.calibrate(proba) if calibrated else proba
        expected = pd.DataFrame(self.expected_returns(out.to_numpy()), index=bars.index,
                                columns=list(EV_COLUMNS))
        return pd.concat([out, inputs.loc[:, list(REGIME_COLUMNS)], expected], axis=1)

    @property
    def action_returns(self) -> np.ndarray | None:
        """``m[a, c]`` the expected returns come from (module docstring); None when the
        model calls the most probable class."""
        return (getattr(self, "action_returns_", None) if self.decision == DECISIONS[0]
                else None)

    def expected_returns(self, proba: np.ndarray) -> np.ndarray:
        """Each action's expected return on risk for rows of ``p_hold, p_call, p_put``
        (NaN without ``action_returns``). An elementwise product summed per row, so one
        row gives the same bits alone as in a batch (the stream's and the batch's calls
        agree)."""
        proba = np.asarray(proba, dtype=float)
        m = self.action_returns
        if m is None:
            return np.full(proba.shape, np.nan)
        return (proba[:, None, :] * m[None]).sum(axis=2)

    @property
    def temperature(self) -> float:
        """The temperature fitted on the validation windows (1.0: scaling did not help,
        or a model stored before calibration existed)."""
        return getattr(self, "temperature_", 1.0)

    def calibrate(self, proba: np.ndarray) -> np.ndarray:
        """The network's probabilities scaled by ``temperature``."""
        return proba if self.temperature == 1.0 else apply_temperature(proba, self.temperature)

    def predict_frame(self, bars: pd.DataFrame) -> pd.DataFrame:
        """``predict_proba``: the batch path of the ``SignalModel`` contract."""
        return self.predict_proba(bars)

    def permutation_importance(self, bars: pd.DataFrame, labels: pd.DataFrame, start,
                               seed: int = 42) -> pd.Series:
        """Accuracy drop when one input column is shuffled across the labelled windows
        scored from ``start`` on (validation data the model did not train on)."""
        self._check_fitted()
        inputs = self.model_inputs(bars)
        scaled = self.scaler_.transform(inputs.to_numpy(dtype=float)).astype(np.float32)
        y = labels["label"].reindex(bars.index).to_numpy()
        ends = np.arange(self.warmup_bars, len(bars))
        ends = ends[(bars.index[ends] >= pd.Timestamp(start)) & np.isfinite(y[ends])]
        if len(ends) < MIN_IMPORTANCE_BARS:
            raise DataError("too few labelled bars to measure feature importance")
        X, target = self._windows(scaled, ends).copy(), y[ends].astype(int)
        base = float((self.head_.predict(X) == target).mean())
        rng = np.random.default_rng(seed)
        drops = {}
        for j, name in enumerate(self.feature_names_):
            shuffled = X.copy()
            shuffled[:, :, j] = X[rng.permutation(len(X)), :, j]
            drops[name] = base - float((self.head_.predict(shuffled) == target).mean())
        return pd.Series(drops, name="importance").sort_values(ascending=False)

    def _check_columns(self, columns) -> None:
        if tuple(columns) != self.feature_names_:
            raise DataError("this model was trained on the features "
                            f"{', '.join(self.feature_names_)}; the data gives "
                            f"{', '.join(columns)} (a different source or feature set)")

    def stream(self) -> SignalStream:
        """Bar-by-bar scoring with the same numbers as ``predict_proba``."""
        self._check_fitted()
        return SignalStream(self)

    # ------------------------------------------------------------------ storage
    def metadata(self) -> dict:
        """What ``metadata.json`` says about the fitted model."""
        self._check_fitted()
        report = self.report_
        return {
            **described_training(report.train_start, report.train_end, self.feature_names_,
                                 self.groups_),
            "model_format": MODEL_FORMAT,
            "head": self.name,
            "lstm_config": jsonable(asdict(self.lstm_config)),
            "head_config": jsonable(asdict(self.head_config)),
            "hmm_config": jsonable(asdict(self.hmm_config)),
            "hmm_features": list(self.hmm_.features_),
            "regime_names": list(self.hmm_.state_names_),
            "temperature": self.temperature,
            "decision": self.decision,
            "action_returns": (None if self.action_returns is None
                               else self.action_returns.tolist()),
            "samples": {"train": report.n_train, "validation": report.n_validation,
                        "calibration": report.n_calibration,  # 0 in a report pickled before it
                        "purged": report.n_purged, "class_counts": report.class_counts},
            "libraries": library_versions(),
        }

    def save(self, directory: Path | str) -> None:
        """Write ``model.keras`` (an LSTM head's network), ``lstm_scaler.pkl``,
        ``hmm_model.pkl``, ``strategy_model.pkl`` (everything but the network) and
        ``metadata.json``."""
        meta = self.metadata()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.head == "lstm":
            self.lstm_.model_.save(directory / NETWORK_FILE)
        pickle_to(self.scaler_, directory / SCALER_FILE)
        self.hmm_.save(directory)
        pickle_to(self, directory / MODEL_FILE)
        write_metadata(directory, meta)

    @classmethod
    def load(cls, directory: Path | str) -> StrategyModel:
        """A model written by ``save``; DataError if files are missing or disagree."""
        folder = require_files(directory, REGIME_HEAD_FILES)
        metadata = read_metadata(folder)
        check_format(folder, metadata, MODEL_FORMAT)
        lstm = metadata.get("head", "lstm") == "lstm"
        if lstm:
            require_files(folder, FILES)
        model = unpickle(folder / MODEL_FILE)
        if lstm:
            import keras

            model.head_.model_ = keras.models.load_model(folder / NETWORK_FILE)
            model.head_._infer = model.head_._net = None
        model.metadata_ = metadata
        check_features(folder, model.metadata_, model.feature_names_)
        return model


def check_format(folder: Path, metadata: dict, expected: int) -> None:
    """Refuse a store folder written in another format (before unpickling it, whose
    classes may have changed shape) with the way out: retrain."""
    found = metadata.get("model_format", 1)
    if found != expected:
        raise DataError(f"{folder}: this model was saved in store format {found}; this "
                        f"version reads format {expected} (retrain it, e.g. `python run.py "
                        "train --symbol SYMBOL --save`)")


class SignalStream:
    """Feeds one bar at a time (a dict or Series of bar columns) and returns the class and
    regime probabilities of that bar (NaN during warm-up). The regime probabilities equal the
    batch's; the class probabilities come from the head's live path (an LSTM's numpy forward
    pass, ``LSTMModel.predict_proba_live``, equal to the batch's within 1e-5; the regime
    head's one expression, equal bit for bit)."""

    def __init__(self, model: StrategyModel):
        self.model = model
        self.bars = BarWindow(INPUT_COLUMNS)
        self.window: deque = deque(maxlen=model.sequence_length)
        self.regimes = RegimeFilter(model.hmm_)

    def update(self, date, bar) -> np.ndarray:
        """Probabilities ``p_hold, p_call, p_put``, the five regime ones and the expected
        returns ``ev_*`` (``StrategyModel.output_columns``)."""
        out = np.full(len(StrategyModel.output_columns), np.nan)
        if not self.bars.append(date, bar):
            return out
        # the newest bar's features from the window's numpy columns: the numbers of
        # ``model.features(bars.frame())``'s last row, without pandas frames per bar
        col = self.bars.arrays()
        self.model._check_inputs(col)
        feats = newest_features(col, self.bars.dates, self.model.groups_)
        values = np.fromiter(feats.values(), dtype=float, count=len(feats))
        check_finite_row(values, feats, self.bars.dates[-1], "model features")
        regimes = self.regimes.update_features(feats, self.bars.dates[-1])
        row = np.concatenate([values, regimes])
        self.model._check_columns(list(feats) + list(REGIME_COLUMNS))
        scaler = self.model.scaler_  # StandardScaler.transform's arithmetic, without its checks
        self.window.append(((row - scaler.mean_) / scaler.scale_).astype(np.float32))
        n, r = len(PROBA_COLUMNS), len(REGIME_COLUMNS)
        out[n: n + r] = regimes
        if len(self.window) == self.model.sequence_length:
            out[:n] = self.model.calibrate(self.model.head_.predict_proba_live(
                np.stack(self.window)[None]))[0]
            out[n + r:] = self.model.expected_returns(out[None, :n])[0]
        return out


def decided_class(proba: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """The call per row: the action with the highest expected return where the row has
    them (``EV_COLUMNS``), else the most probable class (``PROBA_COLUMNS``); hold on a
    tie."""
    proba, expected = np.asarray(proba, dtype=float), np.asarray(expected, dtype=float)
    by_return = np.isfinite(expected).all(axis=1)
    return np.where(by_return, np.where(by_return[:, None], expected, 0.0).argmax(axis=1),
                    np.nan_to_num(proba, nan=-np.inf).argmax(axis=1))
