"""The regime head: hold / call / put from the HMM's five filtered regime probabilities alone.

A multinomial logistic regression on the regime columns of the scored bar (scaled by the
strategy model's scaler), trained on every labelled bar of the training data. It is the
default head of ``models.strategy_model.StrategyModel`` because it wins the walk-forward
on the benchmark world: the regimes carry the market's edge, and a regression on five
numbers learns it from a few hundred labelled bars where an LSTM on every feature does not
(``docs/models/regimes-lstm.md`` has the seed-averaged tables, ``bench/bench_regime_edge.py``
the evidence). Its probabilities need no temperature: a logistic regression fitted by
log loss is calibrated on its own training data.

It takes the same windows as the LSTM head (``(n, sequence_length, n_features)``; its
sequence length is 1) and scores them with one numpy expression, row by row, so the batch path and
the live path (``predict_proba_live``, one window per bar) give the same numbers bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.domain import CLASS_NAMES
from core.errors import DataError

N_CLASSES = 3


@dataclass(frozen=True)
class RegimeHeadConfig:
    """Settings of the regime head's regression."""

    #: inverse L2 regularisation strength (scikit-learn's ``C``)
    C: float = 1.0
    seed: int = 42

    def __post_init__(self):
        from models.config import refuse_values

        refuse_values("model", self, [("C", self.C > 0, "above 0")])


class RegimeHead:
    """Logistic regression on ``columns`` of the last row of each window.

    Learned attributes: ``coef_`` (3, len(columns)), ``intercept_`` (3,), a class never seen
    in training gets probability 0; ``history_`` is empty (no epochs).
    """

    sequence_length = 1

    def __init__(self, columns, config: RegimeHeadConfig | None = None):
        self.columns = np.asarray(columns, dtype=int)
        self.config = config or RegimeHeadConfig()
        self.history_: dict = {}

    def _rows(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3:
            raise ValueError(f"expected windows of shape (n, length, n_features), got {X.shape}")
        rows = X[:, -1, self.columns]
        if not np.isfinite(rows).all():
            raise ValueError("regime columns contain NaN or infinite values")
        return rows

    def fit(self, X: np.ndarray, y: np.ndarray, X_val=None, y_val=None) -> RegimeHead:
        """Fit on the windows ``X`` (and ``X_val`` if given: nothing here needs a held-out
        part, so every labelled window trains)."""
        rows, y = self._rows(X), np.asarray(y).astype(int)
        if X_val is not None and len(X_val):
            rows = np.vstack([rows, self._rows(X_val)])
            y = np.concatenate([y, np.asarray(y_val).astype(int)])
        if len(np.unique(y)) < 2:
            only = CLASS_NAMES[int(y[0])] if len(y) else "none"
            raise DataError(f"the regime head needs at least two classes among the labels; "
                            f"the training labels are all {only} (too short a history, or "
                            "labels whose spreads never earn the minimum edge)")
        from sklearn.linear_model import LogisticRegression  # on use: slow to import

        clf = LogisticRegression(C=self.config.C, max_iter=1000,
                                 random_state=self.config.seed).fit(rows, y)
        self.coef_ = np.zeros((N_CLASSES, len(self.columns)))
        self.intercept_ = np.full(N_CLASSES, -np.inf)
        classes = clf.classes_.astype(int)
        if len(classes) == 2:  # scikit-learn's binary form: one row for the second class
            self.coef_[classes[1]], self.intercept_[classes[1]] = clf.coef_[0], clf.intercept_[0]
            self.intercept_[classes[0]] = 0.0
        else:
            self.coef_[classes], self.intercept_[classes] = clf.coef_, clf.intercept_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 3): the softmax of the regression's scores."""
        if not hasattr(self, "coef_"):
            raise RuntimeError("RegimeHead is not fitted: call fit(X, y) first")
        # an elementwise product summed per row, not a matrix product: BLAS sums a batch
        # and a single row in different orders, this gives every row the same bits
        z = (self._rows(X)[:, None, :] * self.coef_[None]).sum(axis=2) + self.intercept_
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict_proba_live(self, X: np.ndarray) -> np.ndarray:
        """The live path: the same expression as ``predict_proba``."""
        return self.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable class per window (0 hold, 1 call credit spread, 2 put credit)."""
        return self.predict_proba(X).argmax(axis=1)
