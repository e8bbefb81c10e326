"""The market-state classifier of seed 000: a Gaussian HMM with five named regimes, causal.

hmmlearn's ``predict`` (Viterbi) and ``predict_proba`` (forward-backward) both read the
whole array they are given, so the state they report for bar t depends on bars after t:
using them on a backtest series leaks the future. ``filtered_state_probabilities`` runs
the forward recursion alone over the fitted parameters,

    alpha_t = normalize((alpha_{t-1} @ transmat_) * p(x_t | state)),  alpha_0 = startprob_,

so the probability at bar t uses bars <= t only; it is O(T x K^2) over a series, one step
per new bar live (``RegimeFilter``), and the two give the same numbers because the batch
path loops over the same step.

States get the five names of ``core.domain.REGIME_NAMES`` by a rule on each state's mean
daily return and daily volatility on the training data (the ``ret_1`` feature weighted by
the filtered state probabilities, whatever features the HMM reads):
the two most volatile states are the high-volatility ones, the one with the lower return
is the downtrend and the other the rally; of the three calmer states the calmest is the
low-volatility uptrend, the next consolidation, and the liveliest the momentum uptrend
(seed 000: "medium volatility with strong upward momentum"). Volatility orders the calm
states because it is measured far more precisely than a mean return over a few years. The rule reads what a state does, not its arbitrary index, so names are
stable across refits.

As a ``models.contract.SignalModel`` (what ``indicators.regime.RegimeIndicator`` wraps), the
classifier scores bars: ``predict_frame(bars)`` builds the features it was fitted on and
gives ``regime`` (index of the most probable named state) and ``p_<name>`` per bar, the
filter starting at the first bar with features; ``stream()`` gives the same bar by bar;
``save`` / ``load`` read and write ``hmm_model.pkl``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hmmlearn.hmm import GaussianHMM
from sklearn.preprocessing import StandardScaler

from core.domain import REGIME_NAMES, TRADING_DAYS
from core.errors import DataError
from models.features import (
    HMM_FEATURES,
    INPUT_COLUMNS,
    LOOKBACK,
    BarWindow,
    build_features,
    check_finite,
    groups_for,
)
from models.store import pickle_to, require_files, unpickle


@dataclass(frozen=True)
class HMMConfig:
    """Hyper-parameters of the regime classifier (seed 000's HMM_CONFIG and defaults)."""

    #: hidden states; the naming rule needs exactly five
    n_components: int = 5
    #: hmmlearn covariance type
    covariance_type: str = "full"
    #: seed of hmmlearn's initialisation
    random_state: int = 42
    #: EM iterations at most
    n_iter: int = 200
    #: EM convergence threshold on the log-likelihood gain
    tol: float = 1e-4
    #: EM restarts (seeds random_state, random_state + 1, ...); the best likelihood wins
    n_init: int = 4
    #: feature columns the HMM may read; those the data has are used (ret and vol at least)
    features: tuple[str, ...] = HMM_FEATURES


HMM_CONFIG = {k: v for k, v in asdict(HMMConfig()).items() if k in
              ("n_components", "covariance_type", "random_state")}

#: minimum bars to fit: a few per covariance parameter
MIN_FIT_BARS = 120
#: the file of a store folder that holds the classifier
HMM_FILE = "hmm_model.pkl"


class MarketStateClassifier:
    """Gaussian HMM over standardized features with named, causal state probabilities.

    Learned attributes: ``scaler_``, ``hmm_``, ``state_names_`` (name of each HMM state),
    ``order_`` (HMM state index of each name in ``REGIME_NAMES`` order), ``state_stats_``.
    """

    #: what ``predict_frame`` and ``stream`` give per bar
    output_columns = ("regime", *(f"p_{name}" for name in REGIME_NAMES))
    #: bar columns the features may read (those a feed has)
    input_columns = INPUT_COLUMNS
    #: bars before the first with features (and so with a regime)
    warmup_bars = LOOKBACK - 1

    def __init__(self, config: HMMConfig | None = None, **overrides):
        self.config = HMMConfig(**{**asdict(config or HMMConfig()), **overrides})
        if self.config.n_components != len(REGIME_NAMES):
            raise ValueError(f"the naming rule needs n_components={len(REGIME_NAMES)}, "
                             f"got {self.config.n_components}")

    # ------------------------------------------------------------------ fitting
    def fit(self, features: pd.DataFrame, y=None) -> MarketStateClassifier:
        """Fit on a feature frame (rows in time order, no NaN)."""
        self.features_ = tuple(c for c in self.config.features if c in features
                               and features[c].notna().any())
        if len(self.features_) < 2:
            raise DataError(f"the regime classifier needs at least two of "
                            f"{', '.join(self.config.features)}; the features have "
                            f"{', '.join(self.features_) or 'none'}")
        X = self._select(features)
        if len(X) < MIN_FIT_BARS:
            raise DataError(f"the regime classifier needs at least {MIN_FIT_BARS} bars of "
                            f"features to fit, got {len(X)}")
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        self.hmm_ = self._best_of_restarts(Z)
        self._prepare_emissions()
        probs = self._filter(Z)
        self.state_stats_ = state_stats(features, probs)
        self.state_names_ = name_states(self.state_stats_["mean_return"].to_numpy(),
                                        self.state_stats_["volatility"].to_numpy())
        self.order_ = np.array([self.state_names_.index(n) for n in REGIME_NAMES])
        self.n_features_in_ = X.shape[1]
        self.training_log_likelihood_ = float(self.hmm_.score(Z))
        self.trained_until_ = features.index[-1]
        return self

    def _best_of_restarts(self, Z: np.ndarray) -> GaussianHMM:
        cfg, best, best_score = self.config, None, -np.inf
        for i in range(max(cfg.n_init, 1)):
            hmm = GaussianHMM(n_components=cfg.n_components, covariance_type=cfg.covariance_type,
                              random_state=cfg.random_state + i, n_iter=cfg.n_iter, tol=cfg.tol)
            hmm.fit(Z)
            score = hmm.score(Z)
            if score > best_score:
                best, best_score = hmm, score
        return best

    def train(self, features: pd.DataFrame) -> MarketStateClassifier:
        """Seed 000's name for ``fit``."""
        return self.fit(features)

    def _select(self, features: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.features_ if c not in features]
        if missing:
            raise DataError(f"the regime classifier was fitted on {', '.join(self.features_)}; "
                            f"the features lack {', '.join(missing)}")
        X = features.loc[:, list(self.features_)]
        check_finite(X, "regime features")
        return X

    def _prepare_emissions(self) -> None:
        """Cholesky factors of each state's covariance, for p(x | state) per bar."""
        covars = self.hmm_.covars_  # full (K, F, F) whatever the covariance type
        chol = np.linalg.cholesky(covars)
        self._chol_inv = np.linalg.inv(chol)
        self._log_norm = (-0.5 * covars.shape[1] * np.log(2 * np.pi)
                          - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1))

    # ------------------------------------------------------------------ filtering
    def _check_fitted(self) -> None:
        if not hasattr(self, "hmm_"):
            raise RuntimeError("MarketStateClassifier is not fitted: call fit(features) first")

    @property
    def trained_until(self) -> pd.Timestamp:
        """The last bar of the training features (NaT for a classifier stored before the
        date was kept)."""
        self._check_fitted()
        return getattr(self, "trained_until_", pd.NaT)

    def log_emission(self, z: np.ndarray) -> np.ndarray:
        """log p(z | state) for one standardized row ``z`` (F,), per state (K,)."""
        diff = z[None, :] - self.hmm_.means_  # (K, F)
        solved = np.einsum("kij,kj->ki", self._chol_inv, diff)
        return self._log_norm - 0.5 * np.einsum("ki,ki->k", solved, solved)

    def step(self, alpha: np.ndarray | None, z: np.ndarray) -> np.ndarray:
        """One forward step: the filtered probabilities after row ``z`` given the previous
        ones (``None`` at the first bar). HMM state order."""
        prior = self.hmm_.startprob_ if alpha is None else alpha @ self.hmm_.transmat_
        log_b = self.log_emission(z)
        weighted = prior * np.exp(log_b - log_b.max())
        total = weighted.sum()
        if not total > 0 or not np.isfinite(total):  # far outside every state: keep prior
            return prior / prior.sum()
        return weighted / total

    def _filter(self, Z: np.ndarray) -> np.ndarray:
        out = np.empty((len(Z), self.hmm_.n_components))
        alpha = None
        for t in range(len(Z)):
            alpha = self.step(alpha, Z[t])
            out[t] = alpha
        return out

    def standardize(self, features: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        return self.scaler_.transform(self._select(features))

    def filtered_state_probabilities(self, features: pd.DataFrame) -> pd.DataFrame:
        """Causal P(state_t | x_1..x_t) per bar, columns in ``REGIME_NAMES`` order.

        The recursion starts at the first row of ``features``: give it the same start to get
        the same numbers (the indicator starts at its first bar with features)."""
        probs = self._filter(self.standardize(features))[:, self.order_]
        return pd.DataFrame(probs, index=features.index, columns=list(REGIME_NAMES))

    def predict_states(self, features: pd.DataFrame) -> pd.Series:
        """Most probable named state per bar (index into REGIME_NAMES), causal."""
        probs = self.filtered_state_probabilities(features)
        return pd.Series(probs.to_numpy().argmax(axis=1), index=features.index, name="regime")

    def predict_frame(self, bars: pd.DataFrame) -> pd.DataFrame:
        """``regime`` and ``p_<name>`` per bar of ``bars`` (NaN for the first
        ``warmup_bars``), the filter starting at the first bar with features."""
        self._check_fitted()
        out = np.full((len(bars), len(self.output_columns)), np.nan)
        if len(bars) > self.warmup_bars:
            feats = build_features(bars, groups_for(self.features_)).iloc[self.warmup_bars:]
            probs = self.filtered_state_probabilities(feats).to_numpy()
            out[self.warmup_bars:, 0] = probs.argmax(axis=1)
            out[self.warmup_bars:, 1:] = probs
        return pd.DataFrame(out, index=bars.index, columns=list(self.output_columns))

    def stream(self) -> RegimeStream:
        """Bar-by-bar scoring with the same numbers as ``predict_frame``."""
        return RegimeStream(self)

    def save(self, directory: Path | str) -> None:
        """Write ``hmm_model.pkl`` into ``directory``."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        pickle_to(self, directory / HMM_FILE)

    @classmethod
    def load(cls, directory: Path | str) -> MarketStateClassifier:
        """The classifier of a folder written by ``save`` (a store folder)."""
        return unpickle(require_files(directory, (HMM_FILE,)) / HMM_FILE)

    def smoothed_state_probabilities(self, features: pd.DataFrame) -> pd.DataFrame:
        """hmmlearn's forward-backward probabilities: they read the future, for comparison
        and benchmarks only, never for a backtest."""
        probs = self.hmm_.predict_proba(self.standardize(features))[:, self.order_]
        return pd.DataFrame(probs, index=features.index, columns=list(REGIME_NAMES))


def state_stats(features: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    """Per HMM state: probability-weighted mean and standard deviation of the daily log
    return (annualized), and the share of bars, from the training features."""
    if "ret_1" not in features:
        raise DataError("naming the regimes needs the ret_1 feature (daily log return)")
    ret = features["ret_1"].to_numpy(dtype=float)
    weights = probs / probs.sum(axis=0, keepdims=True)
    mean = weights.T @ ret
    var = (weights * (ret[:, None] - mean[None, :]) ** 2).sum(axis=0)
    return pd.DataFrame({"mean_return": mean * TRADING_DAYS, "volatility": np.sqrt(var * TRADING_DAYS),
                         "share": probs.mean(axis=0)})


def name_states(mean_return: np.ndarray, mean_vol: np.ndarray) -> list[str]:
    """Name each of five states by the rule in the module docstring."""
    order_by_vol = np.argsort(mean_vol, kind="stable")
    calm, volatile = order_by_vol[:3], order_by_vol[3:]
    names = [""] * len(mean_return)
    down, rally = sorted(volatile, key=lambda k: mean_return[k])
    names[down], names[rally] = "high_volatility_downtrend", "high_volatility_rally"
    calmest, middle, livelier = sorted(calm, key=lambda k: mean_vol[k])
    names[calmest] = "low_volatility_uptrend"
    names[middle] = "consolidation"
    names[livelier] = "momentum_uptrend"
    return names


class RegimeFilter:
    """The forward recursion bar by bar, for live use: ``update(feature_row)`` returns the
    filtered probabilities in REGIME_NAMES order, identical to the batch path."""

    def __init__(self, classifier: MarketStateClassifier):
        classifier._check_fitted()
        self.classifier = classifier
        self.alpha: np.ndarray | None = None

    def update(self, row: pd.Series | pd.DataFrame) -> np.ndarray:
        frame = row.to_frame().T if isinstance(row, pd.Series) else row
        z = self.classifier.standardize(frame)[-1]
        self.alpha = self.classifier.step(self.alpha, z)
        return self.alpha[self.classifier.order_]


class RegimeStream:
    """Bars one at a time -> the row ``MarketStateClassifier.predict_frame`` gives that bar:
    features from the last LOOKBACK bars, then one step of the forward recursion."""

    def __init__(self, classifier: MarketStateClassifier):
        self.filter = RegimeFilter(classifier)
        self.groups = groups_for(classifier.features_)
        self.bars = BarWindow(classifier.input_columns)

    def update(self, date, bar) -> np.ndarray:
        out = np.full(len(MarketStateClassifier.output_columns), np.nan)
        if self.bars.append(date, bar):
            probs = self.filter.update(build_features(self.bars.frame(), self.groups).iloc[[-1]])
            out[0], out[1:] = np.argmax(probs), probs
        return out
