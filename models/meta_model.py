"""The meta-model ("model integration framework" of seed 003): combines the members'
SELL / NEUTRAL / BUY probabilities into one.

Both combiners are fitted only on *out-of-fold* member probabilities: for each training row
the members' probabilities come from models trained on bars before that row's walk-forward
fold (``models.direction_model``), so the meta-model learns how much to trust each member
out of sample, never from in-sample fits that would flatter the members that overfit most.

Inputs are arrays ``P`` of shape (n rows, m members, 3 classes).

* ``StackingMeta``: multinomial logistic regression on the log-probabilities of all members
  (3 x m inputs), L2-regularized (``C``), fitted without class weights so that its
  probabilities are calibrated (log loss); its call (``decide``) is the class most likely
  *relative to its frequency* in the training rows, ``argmax p_c / prior_c``, the call a
  class-balanced fit would make, so the rarer SELL and BUY are still called where the
  members see them coming; the ``confidence`` of a call is its probability with the
  classes weighed equally (``call_proba``), the scale the balanced fit gave. Balanced
  class weights (``balanced=True``, the fit before issue 13) gave the same kind of calls
  but probabilities pushed away from the base rates: a log loss worse than the majority
  class's everywhere (``docs/models/direction.md``).
* ``BayesianWeighting``: a mixture ``sum_m w_m p_m`` whose weights are posterior model
  probabilities. Starting from equal prior weights, each out-of-fold row in time order
  updates them by Bayes' rule with the probability each member gave the class that
  happened, ``w_m <- w_m^forgetting * p_m(y_t)`` (then normalized): a member that keeps
  putting mass on what happens gains weight. ``forgetting`` < 1 discounts old evidence
  exponentially (an effective memory of about 1 / (1 - forgetting) rows), so the weights
  track members whose skill changes and never collapse on one member for good. The
  weights reached at the end of the training data are the ones used to predict. Its call
  is its most probable class.

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
    """Multinomial logistic regression on the members' log-probabilities (module
    docstring: calibrated probabilities, calls relative to the class frequencies)."""

    name = "stack"

    def __init__(self, C: float = 0.01, seed: int = 42, balanced: bool = False):
        self.C, self.seed, self.balanced = C, seed, balanced

    @staticmethod
    def _inputs(P: np.ndarray) -> np.ndarray:
        return np.log(np.clip(P, FLOOR, 1.0)).reshape(len(P), -1)

    def fit(self, P: np.ndarray, y: np.ndarray) -> StackingMeta:
        from sklearn.linear_model import LogisticRegression

        P, y = _check(P), np.asarray(y).astype(int)
        X = self._inputs(P)
        self.n_members_ = P.shape[1]
        # a class never seen keeps probability 0, and a share of one row for the division
        self.prior_ = np.maximum(np.bincount(y, minlength=N_CLASSES), 1) / len(y)
        self.coef_ = np.zeros((N_CLASSES, X.shape[1]))
        present = np.unique(y)
        self.intercept_ = np.full(N_CLASSES, -np.inf)
        if len(present) == 1:  # nothing to weigh: the one class seen
            self.intercept_[present[0]] = 0.0
            return self
        clf = LogisticRegression(C=self.C, max_iter=1000, random_state=self.seed,
                                 class_weight=class_weights(y) if self.balanced else None)
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

    def call_proba(self, proba: np.ndarray) -> np.ndarray:
        """What the call is made from: each row of ``predict_proba``'s output with the
        classes weighed equally, ``p_c / prior_c`` normalised (a balanced fit, and a model
        stored before the calibrated fit, already weighs them so: unchanged). Its largest
        entry is the call, and the ``confidence`` the strategies threshold, on the scale
        the class-balanced fit gave them."""
        proba = np.asarray(proba, dtype=float)
        if getattr(self, "balanced", True) or not hasattr(self, "prior_"):
            return proba
        weighed = proba / self.prior_
        return weighed / weighed.sum(axis=1, keepdims=True)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """The call of each row of ``predict_proba``'s output: the class most likely
        relative to its training frequency (``call_proba``'s largest entry)."""
        return self.call_proba(proba).argmax(axis=1)


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

    @staticmethod
    def call_proba(proba: np.ndarray) -> np.ndarray:
        """What the call is made from: the mixture's probabilities themselves."""
        return np.asarray(proba, dtype=float)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """The call of each row: its most probable class."""
        return self.call_proba(proba).argmax(axis=1)

    def predict_proba(self, P: np.ndarray) -> np.ndarray:
        if not hasattr(self, "weights_"):
            raise RuntimeError("BayesianWeighting is not fitted: call fit(P, y) first")
        P = _check(P)
        out = np.zeros((len(P), N_CLASSES))
        for m, w in enumerate(self.weights_):  # members in a fixed order, row by row
            out += w * P[:, m, :]
        return out / out.sum(axis=1, keepdims=True)


META_MODELS = {"stack": StackingMeta, "bayes": BayesianWeighting}
