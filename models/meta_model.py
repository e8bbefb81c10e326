"""The meta-model ("model integration framework" of seed 003): combines the members'
SELL / NEUTRAL / BUY probabilities into one.

Both combiners are fitted only on *out-of-fold* member probabilities: for each training row
the members' probabilities come from models trained on bars before that row's walk-forward
fold (``models.direction_model``), so the meta-model learns how much to trust each member
out of sample, never from in-sample fits that would flatter the members that overfit most.

Inputs are arrays ``P`` of shape (n rows, m members, 3 classes).

* ``StackingMeta``: multinomial logistic regression on the log-probabilities of all members
  (3 x m inputs), L2-regularized (``C``), balanced class weights.
* ``BayesianWeighting``: a mixture ``sum_m w_m p_m`` whose weights are posterior model
  probabilities. Starting from equal prior weights, each out-of-fold row in time order
  updates them by Bayes' rule with the probability each member gave the class that
  happened, ``w_m <- w_m^forgetting * p_m(y_t)`` (then normalized): a member that keeps
  putting mass on what happens gains weight. ``forgetting`` < 1 discounts old evidence
  exponentially (an effective memory of about 1 / (1 - forgetting) rows), so the weights
  track members whose skill changes and never collapse on one member for good. The
  weights reached at the end of the training data are the ones used to predict.

Predictions are computed row by row (no matrix product whose blocking could change the
last bit with the number of rows), so a series at once and one bar at a time agree.
"""

from __future__ import annotations

import numpy as np

from models.lstm import N_CLASSES, class_weights

#: probabilities are clipped here before logs (a member's 0 must not give -inf)
FLOOR = 1e-6


def _check(P: np.ndarray) -> np.ndarray:
    P = np.asarray(P, dtype=float)
    if P.ndim != 3 or P.shape[2] != N_CLASSES or not np.isfinite(P).all():
        raise ValueError(f"expected finite member probabilities (n, members, 3), got {P.shape}")
    return P


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class StackingMeta:
    """Multinomial logistic regression on the members' log-probabilities."""

    name = "stack"

    def __init__(self, C: float = 1.0, seed: int = 42):
        self.C, self.seed = C, seed

    @staticmethod
    def _inputs(P: np.ndarray) -> np.ndarray:
        return np.log(np.clip(P, FLOOR, 1.0)).reshape(len(P), -1)

    def fit(self, P: np.ndarray, y: np.ndarray) -> StackingMeta:
        from sklearn.linear_model import LogisticRegression

        P, y = _check(P), np.asarray(y).astype(int)
        X = self._inputs(P)
        self.n_members_ = P.shape[1]
        self.coef_ = np.zeros((N_CLASSES, X.shape[1]))
        present = np.unique(y)
        self.intercept_ = np.full(N_CLASSES, -np.inf)
        if len(present) == 1:  # nothing to weigh: the one class seen
            self.intercept_[present[0]] = 0.0
            return self
        weights = class_weights(y)
        clf = LogisticRegression(C=self.C, max_iter=1000, random_state=self.seed,
                                 class_weight=weights)
        clf.fit(X, y)
        coef, intercept = clf.coef_, clf.intercept_
        if len(present) == 2:  # sklearn keeps one row for two classes: logit of the second
            coef = np.vstack([-coef / 2.0, coef / 2.0])
            intercept = np.array([-intercept[0] / 2.0, intercept[0] / 2.0])
        self.coef_[present] = coef
        self.intercept_[present] = intercept
        return self

    def predict_proba(self, P: np.ndarray) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise RuntimeError("StackingMeta is not fitted: call fit(P, y) first")
        X = self._inputs(_check(P))
        z = (X[:, None, :] * self.coef_[None, :, :]).sum(axis=2) + self.intercept_[None, :]
        return softmax(z)


class BayesianWeighting:
    """Posterior-weighted mixture of the members (module docstring)."""

    name = "bayes"

    def __init__(self, forgetting: float = 0.98):
        if not 0.0 < forgetting <= 1.0:
            raise ValueError("forgetting must be in (0, 1]")
        self.forgetting = forgetting

    def fit(self, P: np.ndarray, y: np.ndarray) -> BayesianWeighting:
        P, y = _check(P), np.asarray(y).astype(int)
        log_w = np.zeros(P.shape[1])  # equal prior
        history = []
        for t in range(len(P)):
            log_w = self.forgetting * log_w + np.log(np.clip(P[t, :, y[t]], FLOOR, 1.0))
            log_w -= log_w.max()
            history.append(np.exp(log_w) / np.exp(log_w).sum())
        self.weights_ = np.exp(log_w) / np.exp(log_w).sum()
        self.weight_history_ = np.array(history)
        return self

    def predict_proba(self, P: np.ndarray) -> np.ndarray:
        if not hasattr(self, "weights_"):
            raise RuntimeError("BayesianWeighting is not fitted: call fit(P, y) first")
        P = _check(P)
        out = np.zeros((len(P), N_CLASSES))
        for m, w in enumerate(self.weights_):  # members in a fixed order, row by row
            out += w * P[:, m, :]
        return out / out.sum(axis=1, keepdims=True)


META_MODELS = {"stack": StackingMeta, "bayes": BayesianWeighting}
