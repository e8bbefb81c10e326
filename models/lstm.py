"""The LSTM strategy classifier: hold / call credit spread / put credit spread.

Two architectures, picked by ``LSTMConfig.architecture``:

* ``"compact"`` (the default): one LSTM layer of ``lstm_units[0]`` units (16), dropout, a
  softmax; AdamW (learning rate 0.001, weight decay 3.0), no class weights, early stopping
  with patience 5.
  About 3,000 weights: sized for the few hundred training windows a symbol's few
  years of daily bars give (``docs/models/regimes-lstm.md`` has the measurements that chose
  it, ``bench/bench_model_size.py`` repeats them).
* ``"seed000"``: seed 000's stack exactly as the seed specifies it (``LSTMConfig.seed000()``
  or ``architecture = "seed000"`` in a config file)::

    Input -> BiLSTM(128) + LayerNorm + Dropout(0.4) -> BiLSTM(64) + LayerNorm + Dropout(0.4)
          -> LSTM(32) + LayerNorm + Dropout(0.3) -> Dense(64) + LayerNorm + Dropout(0.3)
          -> Dense(32) + LayerNorm + Dropout(0.2) -> Dense(3, softmax)

  (about 360,000 weights for seed 000's features and windows of 60 bars).

Both train with early stopping on the validation loss; the seed's with balanced class
weights, the compact one without (``class_weighting``: balanced weights pulled its
probabilities away from the class frequencies, and its log loss with them). Inputs
are windows of ``sequence_length`` already-scaled feature rows, the last row being the bar
scored (``models.strategy_model`` builds them and owns the scaler).

Batch inference runs through one compiled function (``tf.function``) over fixed-size
batches: a batch of windows and a single window (padded to the same batch shape) go through
the same kernels. A live decision scores one window per bar through
``predict_proba_live`` instead: the same network as a numpy forward pass
(``models.numpy_net``), about 1 ms instead of tens, equal to the batch path within 1e-5.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # same numbers whatever the batch

import numpy as np  # noqa: E402

from core.cores import core_threads  # noqa: E402

N_CLASSES = 3
#: windows per compiled inference call; single windows are padded to it
INFER_BATCH = 64


ARCHITECTURES = ("compact", "seed000")


#: how the training loss weighs the classes (``LSTMConfig.class_weighting``)
CLASS_WEIGHTINGS = ("balanced", "none")


@dataclass(frozen=True)
class LSTMConfig:
    """Hyper-parameters of the LSTM and its training. The defaults are the compact
    architecture; ``LSTMConfig.seed000()`` is seed 000's LSTM_CONFIG (module docstring)."""

    #: "compact" (one LSTM layer) or "seed000" (the seed's BiLSTM stack)
    architecture: str = "compact"
    #: bars per input window
    sequence_length: int = 20
    #: informational in the seed; the real count is the number of feature columns
    num_features: int = 50
    #: units of the LSTM layers (seed000: the BiLSTM, BiLSTM and LSTM layers)
    lstm_units: tuple[int, ...] = (16,)
    #: units of the dense hidden layers (seed000: two)
    dense_units: tuple[int, ...] = ()
    #: dropout after each hidden layer (seed000: five), or one rate for every layer
    dropout_rates: tuple[float, ...] = (0.2,)
    learning_rate: float = 0.001
    #: decoupled weight decay of AdamW (0: plain Adam, as the seed); 3.0 and no class
    #: weights were chosen over 3 walk-forward folds x 3 seeds of the sample market's SPY
    #: labels (``bench/bench_model_size.py``, docs/models/regimes-lstm.md)
    weight_decay: float = 3.0
    batch_size: int = 32
    #: at most; early stopping usually ends sooner
    epochs: int = 100
    #: epochs without a better validation loss before stopping
    patience: int = 5
    #: epochs trained before early stopping may stop (a validation loss that is flat for the
    #: first epochs must not end training before the network has moved)
    min_epochs: int = 0
    #: seed of weights, dropout and shuffling
    seed: int = 42
    #: keras fit verbosity
    verbose: int = 0
    #: "balanced": every class weighs alike in the loss (the seed's), so the network's
    #: probabilities lean away from the class frequencies; "none": the plain loss
    class_weighting: str = "none"

    def __post_init__(self):
        from core.errors import DataError

        if self.architecture not in ARCHITECTURES:
            raise DataError(f"lstm architecture must be one of {', '.join(ARCHITECTURES)} "
                            f"(got {self.architecture!r})")
        hidden = len(self.lstm_units) + len(self.dense_units)
        if self.architecture == "seed000" and (len(self.lstm_units) != 3
                                               or len(self.dense_units) != 2):
            raise DataError("the seed000 architecture has 3 lstm_units and 2 dense_units")
        if not self.lstm_units or len(self.dropout_rates) not in (1, hidden):
            raise DataError(f"lstm: {hidden} hidden layers need {hidden} dropout_rates or "
                            f"one for all (got {len(self.dropout_rates)}) and at least one "
                            "LSTM layer")
        from models.config import refuse_values

        refuse_values("lstm", self, [
            ("epochs", self.epochs >= 1, "1 or more (an untrained network would trade)"),
            ("batch_size", self.batch_size >= 1, "1 or more"),
            ("sequence_length", self.sequence_length >= 1, "1 or more"),
            ("patience", self.patience >= 0, "0 or more"),
            ("min_epochs", self.min_epochs >= 0, "0 or more"),
            ("learning_rate", self.learning_rate > 0, "above 0"),
            ("weight_decay", self.weight_decay >= 0, "0 or more"),
            ("lstm_units", min(self.lstm_units + self.dense_units) >= 1, "1 or more each"),
            ("dropout_rates", all(0 <= r < 1 for r in self.dropout_rates),
             "from 0 to below 1 each"),
            ("class_weighting", self.class_weighting in CLASS_WEIGHTINGS,
             " or ".join(CLASS_WEIGHTINGS)),
        ])

    def rates(self) -> tuple[float, ...]:
        """The dropout rate after each hidden layer."""
        hidden = len(self.lstm_units) + len(self.dense_units)
        return tuple(self.dropout_rates) * (hidden if len(self.dropout_rates) == 1 else 1)

    @classmethod
    def seed000(cls, **overrides) -> LSTMConfig:
        """Seed 000's LSTM_CONFIG and architecture, exactly (plus ``overrides``)."""
        return cls(**{**SEED000, **overrides})

    @classmethod
    def for_architecture(cls, architecture: str, **overrides) -> LSTMConfig:
        """The defaults of ``architecture`` (what ``architecture = ...`` in a config file
        starts from), plus ``overrides``."""
        base = SEED000 if architecture == "seed000" else {"architecture": architecture}
        return cls(**{**base, **overrides})


#: seed 000's LSTM_CONFIG (``learning_rate`` 0.001, plain Adam, patience 10, every epoch
#: may stop)
SEED000 = dict(architecture="seed000", sequence_length=60, num_features=50,
               lstm_units=(128, 64, 32), dense_units=(64, 32),
               dropout_rates=(0.4, 0.4, 0.3, 0.3, 0.2), learning_rate=0.001, weight_decay=0.0,
               batch_size=32, epochs=100, patience=10, min_epochs=0,
               class_weighting="balanced")
LSTM_CONFIG = {k: v for k, v in SEED000.items()
               if k in ("sequence_length", "num_features", "lstm_units", "dropout_rates",
                        "learning_rate", "batch_size", "epochs")}


def build_network(sequence_length: int, n_features: int, cfg: LSTMConfig):
    """The layer stack of ``cfg.architecture`` as a compiled keras Model."""
    import keras

    inputs = keras.Input(shape=(sequence_length, n_features), name="windows")
    body = _seed000_body if cfg.architecture == "seed000" else _compact_body
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax", name="strategy")(
        body(inputs, cfg))
    model = keras.Model(inputs, outputs, name="lstm_strategy")
    optimizer = (keras.optimizers.AdamW(cfg.learning_rate, weight_decay=cfg.weight_decay)
                 if cfg.weight_decay else keras.optimizers.Adam(cfg.learning_rate))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _seed000_body(inputs, cfg: LSTMConfig):
    """The seed's stack up to the output layer."""
    from keras import layers

    u1, u2, u3 = cfg.lstm_units
    d1, d2 = cfg.dense_units
    r = cfg.rates()
    x = layers.Bidirectional(layers.LSTM(u1, return_sequences=True))(inputs)
    x = layers.Dropout(r[0])(layers.LayerNormalization()(x))
    x = layers.Bidirectional(layers.LSTM(u2, return_sequences=True))(x)
    x = layers.Dropout(r[1])(layers.LayerNormalization()(x))
    x = layers.LSTM(u3)(x)
    x = layers.Dropout(r[2])(layers.LayerNormalization()(x))
    x = layers.Dense(d1, activation="relu")(x)
    x = layers.Dropout(r[3])(layers.LayerNormalization()(x))
    x = layers.Dense(d2, activation="relu")(x)
    return layers.Dropout(r[4])(layers.LayerNormalization()(x))


def _compact_body(inputs, cfg: LSTMConfig):
    """Stacked plain LSTM layers (the last one returns its final state), then dense layers,
    each followed by its dropout; no normalization layers."""
    from keras import layers

    x, rates = inputs, iter(cfg.rates())
    for i, units in enumerate(cfg.lstm_units):
        last = i == len(cfg.lstm_units) - 1
        x = layers.Dropout(next(rates))(layers.LSTM(units, return_sequences=not last)(x))
    for units in cfg.dense_units:
        x = layers.Dropout(next(rates))(layers.Dense(units, activation="relu")(x))
    return x


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Balanced weights n / (k * count) for the classes present in ``y``."""
    classes, counts = np.unique(y.astype(int), return_counts=True)
    return {int(c): float(len(y) / (len(classes) * n)) for c, n in zip(classes, counts,
                                                                         strict=True)}


def compile_inference(model, sequence_length: int, n_features: int):
    """``model``'s forward pass as one graph over fixed batches of INFER_BATCH windows:
    traced once, and a window scores the same alone (padded) or in a batch. The concrete
    function of that one signature is returned: calling it skips ``tf.function``'s
    argument binding and signature lookup on every batch (about 0.1 ms a call, a tenth
    of a direction member's batch scoring), and runs the same graph, so the numbers are
    the same bits."""
    import tensorflow as tf

    spec = tf.TensorSpec((INFER_BATCH, sequence_length, n_features), tf.float32)
    return tf.function(lambda x: model(x, training=False), input_signature=[spec],
                       reduce_retracing=True,
                       autograph=False).get_concrete_function()  # plain graph


def infer_in_batches(infer, X: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Class probabilities (n, N_CLASSES) of windows ``X`` (float32) through ``infer`` from
    ``compile_inference``, INFER_BATCH windows a call (the last batch zero-padded)."""
    return start_inference(infer, X, dtype)()


def start_inference(infer, X: np.ndarray, dtype=np.float64) -> Callable[[], np.ndarray]:
    """``infer_in_batches`` started on the process's core threads (``core.cores``): the
    batches run side by side (the graph releases the GIL), and the returned function
    waits for them and gives the probabilities. Each batch is the same padded call as one
    after another, so the numbers are the same bits; the caller may do other work (score
    another network) before it waits."""
    out = np.empty((len(X), N_CLASSES), dtype=dtype)

    def score(start: int) -> None:
        chunk = X[start:start + INFER_BATCH]
        padded = np.zeros((INFER_BATCH,) + X.shape[1:], dtype=np.float32)
        padded[: len(chunk)] = chunk
        out[start:start + len(chunk)] = infer(padded).numpy()[: len(chunk)]

    starts = range(0, len(X), INFER_BATCH)
    pool = core_threads() if len(starts) > 1 else None
    if pool is None:
        for start in starts:
            score(start)
        return lambda: out
    futures = [pool.submit(score, start) for start in starts]

    def wait() -> np.ndarray:
        for future in futures:
            future.result()
        return out

    return wait


def live_proba(owner, X: np.ndarray) -> np.ndarray:
    """Probabilities of windows ``X`` through ``owner.model_`` as a numpy forward pass
    (``models.numpy_net``), built once per fit and kept in ``owner._net``; a network with a
    layer the numpy pass lacks keeps the compiled TensorFlow path (``owner._compiled``)."""
    net = getattr(owner, "_net", None)
    if net is None:
        from models.numpy_net import NumpyNetwork

        if not hasattr(owner, "model_"):
            raise RuntimeError(f"{type(owner).__name__} is not fitted: call fit(X, y) first")
        try:
            net = NumpyNetwork.from_keras(owner.model_)
        except ValueError:
            net = False  # not implemented in numpy: the compiled path scores it
        owner._net = net
    if net is False:
        return infer_in_batches(owner._compiled(), X)
    return net(X)


class LSTMModel:
    """Keras LSTM classifier over (n, sequence_length, n_features) windows.

    Learned attributes: ``model_`` (keras), ``history_`` (per-epoch loss and accuracy),
    ``n_features_in_``.
    """

    def __init__(self, sequence_length: int | None = None, num_features: int | None = None,
                 config: LSTMConfig | None = None, **overrides):
        base = asdict(config or LSTMConfig())
        if sequence_length is not None:
            base["sequence_length"] = sequence_length
        if num_features is not None:
            base["num_features"] = num_features
        base.update(overrides)
        self.config = LSTMConfig(**base)

    @property
    def sequence_length(self) -> int:
        return self.config.sequence_length

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> LSTMModel:
        import keras

        X = self._check_windows(X)
        y = np.asarray(y).astype(int)
        if len(X) != len(y):
            raise ValueError(f"{len(X)} windows but {len(y)} labels")
        if len(X) < 2:
            raise ValueError("need at least two training windows")
        keras.utils.set_random_seed(self.config.seed)
        self.n_features_in_ = X.shape[2]
        self.model_ = build_network(X.shape[1], X.shape[2], self.config)
        callbacks, validation = [], None
        if X_val is not None and len(X_val):
            validation = (self._check_windows(X_val), np.asarray(y_val).astype(int))
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=self.config.patience, restore_best_weights=True,
                start_from_epoch=self.config.min_epochs))
        history = self.model_.fit(
            X, y, validation_data=validation, epochs=self.config.epochs,
            batch_size=self.config.batch_size,
            class_weight=class_weights(y) if self.config.class_weighting == "balanced" else None,
            callbacks=callbacks, shuffle=True, verbose=self.config.verbose)
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self._infer = self._net = None
        return self

    def train(self, X_train, y_train, X_val=None, y_val=None) -> dict:
        """Seed 000's call: fit and return the training history."""
        self.fit(X_train, y_train, X_val, y_val)
        return self.history_

    def _check_windows(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3 or X.shape[1] != self.sequence_length:
            raise ValueError(f"expected windows of shape (n, {self.sequence_length}, "
                             f"n_features), got {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("windows contain NaN or infinite values")
        return X

    def _compiled(self):
        if getattr(self, "_infer", None) is None:
            if not hasattr(self, "model_"):
                raise RuntimeError("LSTMModel is not fitted: call fit(X, y) first")
            self._infer = compile_inference(self.model_, self.sequence_length,
                                            self.n_features_in_)
        return self._infer

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 3) through the compiled, fixed-batch path."""
        return infer_in_batches(self._compiled(), self._check_windows(X), np.float32)

    def predict_proba_live(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 3) of a few windows through the numpy forward pass: the
        live path (one window per bar), equal to ``predict_proba`` within 1e-5."""
        return live_proba(self, self._check_windows(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable class per window (0 hold, 1 call credit spread, 2 put credit)."""
        return self.predict_proba(X).argmax(axis=1)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_infer", None)
        state.pop("_net", None)
        state.pop("model_", None)  # keras models are saved as model.keras by the store
        return state
