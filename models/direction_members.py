"""The member models of the direction ensemble: each predicts SELL / NEUTRAL / BUY
probabilities (classes 0, 1, 2).

* tabular members read the feature row of bar t: ``XGBoostMember`` (xgboost, ``hist`` trees),
  ``RandomForestMember`` and ``GradientBoostingMember`` (scikit-learn);
* sequence members read the window of the last ``sequence_length`` feature rows ending at t,
  standardized by a scaler fitted on their training windows: ``LSTMMember``, ``GRUMember``
  and ``TCNMember`` (a temporal convolutional network: residual blocks of two dilated causal
  ``Conv1D`` layers, dilations 1, 2, 4, ... so the receptive field covers the window; written
  with plain keras layers, so a saved ``.keras`` file needs no custom objects).

All follow the estimator contract (``__init__`` stores hyper-parameters, ``fit(X, y)``
returns self, learned attributes end in ``_``). Every member is seeded (``random_state``,
``keras.utils.set_random_seed``) and runs single-threaded where that matters, so two fits
give identical predictions. Classes missing from a training set get probability 0, and
training weights classes as ``n / (k * count)`` so a rare class is not ignored.

A row's probabilities never depend on the other rows scored with it: trees score rows one
by one, and the keras members run one compiled function over fixed batches of
``models.lstm.INFER_BATCH`` windows (single windows padded, as ``models.lstm`` does), so
scoring a series at once and one bar at a time give the same numbers. A live decision uses
``predict_proba_live`` instead (every member has it): the keras members as a numpy forward
pass (``models.numpy_net``), equal to the batch path within 1e-5, because a TensorFlow call
per bar costs more than the whole decision may.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.folds import known_before
from models.forest_arrays import BoostingArrays, ForestArrays
from models.lstm import (
    N_CLASSES,
    class_weights,
    compile_inference,
    live_proba,
    start_inference,
)

TABULAR, SEQUENCE = "tabular", "sequence"


def full_proba(classes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Probabilities over the classes seen in training spread onto all three columns."""
    out = np.zeros((len(proba), N_CLASSES))
    out[:, np.asarray(classes, dtype=int)] = proba
    return out


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Per-sample weights n / (k * count of the sample's class)."""
    weights = class_weights(y)
    return np.array([weights[int(c)] for c in y])


class TabularMember:
    """Base of the tree members: encodes the classes present, fits, spreads back to 3."""

    kind = TABULAR
    name = ""
    #: the live path's padded-arrays class from ``models.forest_arrays`` (None: the library)
    live_arrays: type | None = None

    def fit(self, X: np.ndarray, y: np.ndarray, rows: np.ndarray | None = None,
            end_rows: np.ndarray | None = None) -> TabularMember:
        """Fit on rows ``X`` and classes ``y`` (``rows``/``end_rows``, the label windows,
        only matter to members that hold out validation data; trees hold out none)."""
        X, y = np.asarray(X, dtype=float), np.asarray(y).astype(int)
        if len(X) != len(y) or len(X) < 2:
            raise ValueError(f"{self.name}: need matching X and y with at least 2 rows")
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        self._arrays = None  # a live path's copy of the previous fit
        if len(self.classes_) == 1:
            self.model_ = None  # one class only: it gets probability 1
        else:
            encoded = np.searchsorted(self.classes_, y)
            self.model_ = self._fit(X, encoded, balanced_weights(y))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "classes_"):
            raise RuntimeError(f"{self.name} member is not fitted: call fit(X, y) first")
        X = np.asarray(X, dtype=float)
        if self.model_ is None:
            return full_proba(self.classes_, np.ones((len(X), 1)))
        return full_proba(self.classes_, self._model_proba(X))

    def _model_proba(self, X: np.ndarray) -> np.ndarray:
        """The fitted library model's class probabilities of rows ``X``."""
        return self.model_.predict_proba(X)

    def predict_proba_live(self, X: np.ndarray) -> np.ndarray:
        """The live path of one or a few rows: ``predict_proba``, or where the member
        has ``live_arrays`` (a class of ``models.forest_arrays``) its fitted trees as
        padded node arrays that a row descends all at once, built on first use: the
        library's one-row call costs ms (the forest's 200 per-tree calls about 9 ms,
        gradient boosting's checks and stage loop about 1 ms), equal within 1e-5."""
        if self.live_arrays is None or getattr(self, "model_", None) is None:
            return self.predict_proba(X)
        if getattr(self, "_arrays", None) is None:
            self._arrays = self.live_arrays(self.model_)
        return full_proba(self.classes_, self._arrays.predict_proba(np.asarray(X, dtype=float)))

    def _fit(self, X, y, weights):
        raise NotImplementedError

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_arrays", None)  # a live path's arrays, rebuilt from the model on first use
        return state


class XGBoostMember(TabularMember):
    """Gradient-boosted trees (xgboost ``hist``, softprob), one thread, seeded."""

    name = "xgboost"

    def __init__(self, n_estimators: int = 200, max_depth: int = 3,
                 learning_rate: float = 0.05, seed: int = 42):
        self.n_estimators, self.max_depth = n_estimators, max_depth
        self.learning_rate, self.seed = learning_rate, seed

    def _fit(self, X, y, weights):
        from xgboost import XGBClassifier

        model = XGBClassifier(n_estimators=self.n_estimators, max_depth=self.max_depth,
                              learning_rate=self.learning_rate, tree_method="hist",
                              subsample=0.9, colsample_bytree=0.8, n_jobs=1,
                              random_state=self.seed, importance_type="gain")
        return model.fit(X, y, sample_weight=weights)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Gain importance per input column (zeros if it had one class only)."""
        if self.model_ is None:
            return np.zeros(self.n_features_in_)
        return np.asarray(self.model_.feature_importances_, dtype=float)


class RandomForestMember(TabularMember):
    """scikit-learn random forest, balanced class weights, one job, seeded."""

    name = "random_forest"
    live_arrays = ForestArrays

    def __init__(self, n_estimators: int = 200, max_depth: int | None = 6,
                 min_samples_leaf: int = 5, seed: int = 42):
        self.n_estimators, self.max_depth = n_estimators, max_depth
        self.min_samples_leaf, self.seed = min_samples_leaf, seed

    def _fit(self, X, y, weights):
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                       min_samples_leaf=self.min_samples_leaf, n_jobs=1,
                                       random_state=self.seed)
        return model.fit(X, y, sample_weight=weights)

    def _model_proba(self, X: np.ndarray) -> np.ndarray:
        """scikit-learn's ``predict_proba`` without its per-tree dispatch: each tree's
        probabilities are added in tree order into one array and divided by the number of
        trees, the additions scikit-learn makes with one job, so the result is the same bits
        (test) in about a quarter of the time (26 -> 7 ms of CPU for the direction model's
        200 trees on 752 rows, on the 2-core cloud machine). Rows scikit-learn would refuse
        or treat specially (the wrong width, NaN, values beyond float32) go through its
        own call."""
        forest = self.model_
        rows = np.ascontiguousarray(X, dtype=np.float32)  # what the trees were fitted on
        if (rows.ndim != 2 or rows.shape[1] != forest.n_features_in_
                or not np.isfinite(rows).all()):
            return forest.predict_proba(X)
        total = np.zeros((len(rows), forest.n_classes_))
        for tree in forest.estimators_:
            total += tree.predict_proba(rows, check_input=False)
        total /= len(forest.estimators_)
        return total


class GradientBoostingMember(TabularMember):
    """scikit-learn gradient boosting (multinomial deviance), seeded."""

    name = "gradient_boosting"
    live_arrays = BoostingArrays

    def __init__(self, n_estimators: int = 200, max_depth: int = 3,
                 learning_rate: float = 0.05, min_samples_leaf: int = 5, seed: int = 42):
        self.n_estimators, self.max_depth = n_estimators, max_depth
        self.learning_rate, self.min_samples_leaf, self.seed = (learning_rate,
                                                                min_samples_leaf, seed)

    def _fit(self, X, y, weights):
        from sklearn.ensemble import GradientBoostingClassifier

        model = GradientBoostingClassifier(n_estimators=self.n_estimators,
                                           max_depth=self.max_depth,
                                           learning_rate=self.learning_rate,
                                           min_samples_leaf=self.min_samples_leaf,
                                           subsample=0.9, random_state=self.seed)
        return model.fit(X, y, sample_weight=weights)


class SequenceMember:
    """Base of the keras members: scaler, seeded training, compiled fixed-batch inference."""

    kind = SEQUENCE
    name = ""

    def __init__(self, units: int = 32, dropout: float = 0.2, epochs: int = 20,
                 batch_size: int = 32, learning_rate: float = 0.001, seed: int = 42,
                 verbose: int = 0, kernel_size: int = 3, dilations: tuple[int, ...] = (1, 2, 4, 8),
                 patience: int = 0, validation_fraction: float = 0.15, embargo: int = 5,
                 weight_decay: float = 0.0):
        self.units, self.dropout, self.epochs = units, dropout, epochs
        self.patience, self.validation_fraction = patience, validation_fraction
        self.embargo, self.weight_decay = embargo, weight_decay
        self.batch_size, self.learning_rate, self.seed = batch_size, learning_rate, seed
        self.verbose, self.kernel_size, self.dilations = verbose, kernel_size, tuple(dilations)

    def _body(self, inputs):
        raise NotImplementedError

    def _network(self, length: int, n_features: int):
        import keras
        from keras import layers

        inputs = keras.Input(shape=(length, n_features), name="windows")
        x = layers.Dropout(self.dropout)(self._body(inputs))
        x = layers.Dense(max(self.units // 2, 2), activation="relu")(x)
        outputs = layers.Dense(N_CLASSES, activation="softmax", name="direction")(x)
        model = keras.Model(inputs, outputs, name=f"{self.name}_direction")
        optimizer = (keras.optimizers.AdamW(self.learning_rate, weight_decay=self.weight_decay)
                     if self.weight_decay else keras.optimizers.Adam(self.learning_rate))
        model.compile(optimizer=optimizer,
                      loss="sparse_categorical_crossentropy", jit_compile=False)
        return model

    def fit(self, X: np.ndarray, y: np.ndarray, rows: np.ndarray | None = None,
            end_rows: np.ndarray | None = None) -> SequenceMember:
        """Train from the seeded initial weights. Fitting the same member again (the next
        walk-forward block) reuses its network, reset to those initial weights, dropout seeds
        and a fresh optimizer state, so keras traces the training step once per member
        instead of once per block; the result equals a fit of a new member.

        With ``patience`` > 0 the latest ``validation_fraction`` of the windows (in time
        order) validate early stopping, and the training windows are purged as every other
        split is (``models.folds.known_before``): a window stays only if its label was known
        ``embargo`` rows before the first validation window, so no training label overlaps
        the validation period. ``rows`` are the samples' bar positions and ``end_rows`` the
        bars where their labels became known (default: consecutive rows whose labels are
        known at once, so only the embargo separates the two)."""
        import keras
        from sklearn.preprocessing import StandardScaler

        X, y = self._check(X), np.asarray(y).astype(int)
        if len(X) != len(y) or len(X) < 2:
            raise ValueError(f"{self.name}: need matching windows and labels, at least 2")
        keras.utils.set_random_seed(self.seed)
        if getattr(self, "model_", None) is not None and X.shape[1:] == (
                self.sequence_length_, self.n_features_in_):
            for variable, value in zip(self._variables(), self._initial, strict=True):
                variable.assign(value)
        else:
            self.sequence_length_, self.n_features_in_ = X.shape[1], X.shape[2]
            self.model_ = self._network(X.shape[1], X.shape[2])
            self.model_.optimizer.build(self.model_.trainable_variables)
            self._initial = [v.numpy() for v in self._variables()]
            self._infer = None
        self.scaler_ = StandardScaler().fit(X.reshape(-1, X.shape[2]))
        weights = {c: 1.0 for c in range(N_CLASSES)} | class_weights(y)
        X, fit_args = self._scale(X), {}
        n_val = int(len(X) * self.validation_fraction) if self.patience > 0 else 0
        rows = np.arange(len(X)) if rows is None else np.asarray(rows)
        end_rows = rows if end_rows is None else np.asarray(end_rows)
        keep = known_before(rows, end_rows, rows[-n_val], self.embargo) if n_val else None
        if n_val >= 10 and keep.sum() >= 2:
            # early stopping on the latest windows of the training data (in time order, so
            # the check is on the most recent past, never on the period being scored),
            # training only on windows whose labels end before it (purged, embargoed)
            fit_args = dict(validation_data=(X[-n_val:], y[-n_val:]), callbacks=[
                keras.callbacks.EarlyStopping("val_loss", patience=self.patience,
                                              restore_best_weights=True)])
            self.n_purged_ = int(len(X) - n_val - keep.sum())
            X, y = X[keep], y[keep]
        history = self.model_.fit(X, y, epochs=self.epochs, batch_size=self.batch_size,
                                  class_weight=weights, shuffle=True, verbose=self.verbose,
                                  **fit_args)
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self._net = None  # the numpy copy of the weights is rebuilt from the new ones
        return self

    def _variables(self) -> list:
        """Every state a fit changes: weights, dropout seed states, optimizer slots."""
        return list(self.model_.variables) + list(self.model_.optimizer.variables)

    def _check(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3 or not np.isfinite(X).all():
            raise ValueError(f"{self.name}: expected finite windows (n, length, features), "
                             f"got shape {X.shape}")
        return X

    def _scale(self, X: np.ndarray) -> np.ndarray:
        mean = self.scaler_.mean_.astype(np.float32)
        scale = self.scaler_.scale_.astype(np.float32)
        return ((X - mean) / scale).astype(np.float32)

    def _compiled(self):
        if getattr(self, "_infer", None) is None:
            self._infer = compile_inference(self.model_, self.sequence_length_,
                                            self.n_features_in_)
        return self._infer

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.start_predict_proba(X)()

    def start_predict_proba(self, X: np.ndarray) -> Callable[[], np.ndarray]:
        """``predict_proba`` started on the core threads (``models.lstm.start_inference``):
        call the returned function for the probabilities, the same bits."""
        if not hasattr(self, "model_"):
            raise RuntimeError(f"{self.name} member is not fitted: call fit(X, y) first")
        return start_inference(self._compiled(), self._scale(self._check(X)))

    def predict_proba_live(self, X: np.ndarray) -> np.ndarray:
        """``predict_proba`` of a few windows through the numpy forward pass
        (``models.numpy_net``): the live path, equal to the batch path within 1e-5."""
        if not hasattr(self, "model_"):
            raise RuntimeError(f"{self.name} member is not fitted: call fit(X, y) first")
        return live_proba(self, self._scale(self._check(X)))

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_infer", None)
        state.pop("_net", None)
        state.pop("_initial", None)
        state.pop("model_", None)  # the store saves the network as <name>.keras
        return state


class LSTMMember(SequenceMember):
    """One LSTM layer over the window, then dense layers."""

    name = "lstm"

    def _body(self, inputs):
        from keras import layers

        return layers.LSTM(self.units)(inputs)


class GRUMember(SequenceMember):
    """One GRU layer over the window, then dense layers."""

    name = "gru"

    def _body(self, inputs):
        from keras import layers

        return layers.GRU(self.units)(inputs)


class TCNMember(SequenceMember):
    """Residual blocks of two dilated causal convolutions (relu, dropout) per dilation, a
    1x1 convolution on the skip path where the width changes; the last time step (which
    sees the whole receptive field) feeds the dense layers."""

    name = "tcn"

    def _body(self, inputs):
        from keras import layers

        x = inputs
        for dilation in self.dilations:
            skip = x
            for _ in range(2):
                x = layers.Conv1D(self.units, self.kernel_size, padding="causal",
                                  dilation_rate=dilation, activation="relu")(x)
                x = layers.Dropout(self.dropout)(x)
            if skip.shape[-1] != self.units:
                skip = layers.Conv1D(self.units, 1)(skip)
            x = layers.Activation("relu")(layers.Add()([x, skip]))
        # the last time step, the one whose receptive field is the whole window
        return layers.Flatten()(layers.Cropping1D((x.shape[1] - 1, 0))(x))


MEMBERS = {cls.name: cls for cls in (XGBoostMember, RandomForestMember, GradientBoostingMember,
                                     LSTMMember, GRUMember, TCNMember)}
