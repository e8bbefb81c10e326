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
low-volatility uptrend, and of the other two the one with the higher return the momentum
uptrend (seed 000: "medium volatility with strong upward momentum"), the other
consolidation. Volatility picks the calmest because the low-volatility state is the
clearest gap in volatility; between the other two the fitted states' volatilities may
differ by a point while their returns differ by twenty (the sample market's 2014-2025
window), so there the return decides.

The rule only fits a model whose states look like the names: EM over six features may
find its best likelihood with one volatile state and four calm ones, and the rule would
then call a 0.14-volatility state a "high-volatility rally". So a first fit runs
``n_init`` EM restarts from k-means and keeps the best likelihood among those whose states
live up to their names (``names_follow_stats``: both volatile states at least
``VOLATILE_RATIO`` times as volatile as any calm one, the downtrend's mean return at most
-``MIN_TREND`` a year and the rally's at least ``MIN_TREND``); only when no restart does is
the best likelihood kept as it is (``names_follow_stats_`` False).

A refit (``fit(features, previous=model)``) continues the previous model instead: its
``warm_restarts`` EM runs start from the previous parameters (moved into the new scaling,
all but the first with the means jittered), the best likelihood among those that follow
the rule wins, and its states are matched one to one to the previous model's by the
Hungarian algorithm on the symmetric Kullback-Leibler divergence between their Gaussians
and take their names, so a name means the same state in every refit; the rule names only
the first fit of a chain (the ``n_init`` k-means restarts run only when every warm one
breaks down, as EM may on a short window). Random restarts would not do: on the sample market's 2025
window the best likelihood merges the two volatile regimes (named accuracy 0.30), while
EM from the 2024 model finds them again (0.78).

EM on 6 x 6 matrices is far too small for threads: k-means and BLAS starting a thread per
core made a fit 15-25 times slower on a loaded 2-core machine (``bench/bench_fold.py``).
The fit runs under ``threadpoolctl`` limited to ``HMMConfig.threads`` (1); this changes no
number it learns.

As a ``models.contract.SignalModel`` (what ``indicators.regime.RegimeIndicator`` wraps), the
classifier scores bars: ``predict_frame(bars)`` builds the features it was fitted on and
gives ``regime`` (index of the most probable named state) and ``p_<name>`` per bar, the
filter starting at the first bar with features; ``stream()`` gives the same bar by bar;
``save`` / ``load`` read and write ``hmm_model.pkl``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

# hmmlearn, scikit-learn and scipy.optimize are imported where a model is fitted: about a
# second to import, and every command imports this module (``tests/cli/test_startup.py``)
from core.domain import REGIME_NAMES, TRADING_DAYS
from core.errors import DataError
from models.features import (
    HMM_FEATURES,
    INPUT_COLUMNS,
    LOOKBACK,
    BarWindow,
    build_features,
    check_finite,
    check_finite_row,
    groups_for,
    newest_features,
)
from models.hmm_convergence import fit_noting, not_converged_words, ran_out, ran_out_words
from models.store import pickle_to, require_files, unpickle

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from hmmlearn.hmm import GaussianHMM
    from sklearn.preprocessing import StandardScaler


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
    #: EM restarts of a first fit, from k-means (seeds random_state, random_state + 1,
    #: ...); the best likelihood among the restarts whose states follow the naming rule
    #: wins
    n_init: int = 8
    #: BLAS / OpenMP threads while fitting (None: the libraries' default, one per core);
    #: one is fastest for matrices this small
    threads: int | None = 1
    #: EM restarts of a refit, from the previous model's parameters, all but the first
    #: with the state means moved by ``warm_jitter`` standard deviations at random
    warm_restarts: int = 4
    warm_jitter: float = 0.5
    #: feature columns the HMM may read; those the data has are used (ret and vol at least)
    features: tuple[str, ...] = HMM_FEATURES

    def __post_init__(self):
        from models.config import refuse_values

        refuse_values("hmm", self, [
            ("n_components", self.n_components == len(REGIME_NAMES),
             f"{len(REGIME_NAMES)} (the naming rule needs n_components={len(REGIME_NAMES)})"),
            ("covariance_type", self.covariance_type in ("full", "diag", "spherical", "tied"),
             "one of full, diag, spherical, tied"),
            ("n_iter", self.n_iter >= 1, "1 or more"),
            ("n_init", self.n_init >= 1, "1 or more"),
            ("tol", self.tol > 0, "above 0"),
            ("warm_restarts", self.warm_restarts >= 0, "0 or more"),
            ("warm_jitter", self.warm_jitter >= 0, "0 or more"),
        ])


HMM_CONFIG = {k: v for k, v in asdict(HMMConfig()).items() if k in
              ("n_components", "covariance_type", "random_state")}

#: minimum bars to fit: a few per covariance parameter
MIN_FIT_BARS = 120
#: the file of a store folder that holds the classifier
HMM_FILE = "hmm_model.pkl"
#: a volatile state is at least this many times as volatile as every calm state
VOLATILE_RATIO = 1.4
#: the volatile downtrend's and rally's mean return at least this far below / above zero
#: (annualized)
MIN_TREND = 0.10


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
    def fit(self, features: pd.DataFrame, y=None,
            previous: MarketStateClassifier | None = None) -> MarketStateClassifier:
        """Fit on a feature frame (rows in time order, no NaN). With ``previous`` (the
        model this one replaces) EM also starts from its parameters and the states take
        its names (module docstring)."""
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
        from sklearn.preprocessing import StandardScaler
        from threadpoolctl import threadpool_limits

        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        if previous is not None:
            previous._check_fitted()
            if previous.features_ != self.features_:
                previous = None  # other features: nothing to carry over, the rule names
        self._not_converged = None
        with threadpool_limits(limits=self.config.threads):
            self.hmm_, probs, self.names_follow_stats_ = self._best_of_restarts(
                Z, features, previous)
        if self._not_converged:
            log.warning(self._not_converged)
        del self._not_converged  # not part of the fitted model (or its pickle)
        self._prepare_emissions()
        self.state_stats_ = state_stats(features, probs)
        if previous is None:
            self.state_names_ = name_states(self.state_stats_["mean_return"].to_numpy(),
                                            self.state_stats_["volatility"].to_numpy())
        else:
            match = match_states(self._gaussians(), previous._gaussians(self.scaler_))
            self.state_names_ = [previous.state_names_[j] for j in match]
        self.order_ = np.array([self.state_names_.index(n) for n in REGIME_NAMES])
        self.n_features_in_ = X.shape[1]
        self.training_log_likelihood_ = float(self.hmm_.score(Z))
        self.trained_until_ = features.index[-1]
        return self

    def _best_of_restarts(self, Z: np.ndarray, features: pd.DataFrame,
                          previous: MarketStateClassifier | None
                          ) -> tuple[GaussianHMM, np.ndarray, bool]:
        """The fitted HMM of the best likelihood among the restarts whose states follow
        the naming rule (all restarts if none does), its filtered probabilities on the
        training rows, and whether its states follow the rule."""
        from hmmlearn.hmm import GaussianHMM

        cfg = self.config
        fresh = [GaussianHMM(n_components=cfg.n_components, covariance_type=cfg.covariance_type,
                             random_state=cfg.random_state + i, n_iter=cfg.n_iter, tol=cfg.tol)
                 for i in range(max(cfg.n_init, 1))]
        if previous is not None and cfg.covariance_type == "full":
            warm = [previous._warm_start(self.scaler_, cfg, cfg.random_state + i,
                                         cfg.warm_jitter * (i > 0))
                    for i in range(max(cfg.warm_restarts, 1))]
            # k-means restarts only when every warm one broke down (a short window)
            best = self._best_of(warm, Z, features) or self._best_of(fresh, Z, features)
        else:
            best = self._best_of(fresh, Z, features)
        if best is None:
            raise DataError(f"the regime classifier found no usable fit in {len(fresh)} "
                            f"EM restarts (every one left a state with a degenerate "
                            f"covariance): give it more bars or fewer features")
        return best

    def _best_of(self, candidates: list[GaussianHMM], Z: np.ndarray, features: pd.DataFrame
                 ) -> tuple[GaussianHMM, np.ndarray, bool] | None:
        """Fit each candidate; the best by (follows the rule, log-likelihood), None when
        every one broke down."""
        best, best_key = None, None
        for i, hmm in enumerate(candidates):
            try:
                notes = fit_noting(hmm, Z)
                score = hmm.score(Z)
                self.hmm_ = hmm
                self._prepare_emissions()
            except (np.linalg.LinAlgError, ValueError):
                continue  # EM emptied a state: a degenerate covariance, not a model
            if not np.isfinite(score):
                continue
            probs = self._filter(Z)
            stats = state_stats(features, probs)
            follows = names_follow_stats(stats["mean_return"].to_numpy(),
                                         stats["volatility"].to_numpy())
            key = (follows, score)
            if best_key is None or key > best_key:
                best, best_key = (hmm, probs, follows), key
                # said only for the fit kept: a restart that lost changes nothing
                self._not_converged = (
                    not_converged_words(hmm, i, len(candidates)) if notes
                    else ran_out_words(hmm, i, len(candidates)) if ran_out(hmm) else None)
        return best

    def _gaussians(self, scaler: StandardScaler | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each state's mean (K, F) and covariance (K, F, F) in the standardized units of
        ``scaler`` (default this model's own)."""
        means, covars = self.hmm_.means_, self.hmm_.covars_
        if scaler is None or scaler is self.scaler_:
            return means, covars
        ratio = self.scaler_.scale_ / scaler.scale_
        means = (means * self.scaler_.scale_ + self.scaler_.mean_ - scaler.mean_) / scaler.scale_
        return means, covars * ratio[None, :, None] * ratio[None, None, :]

    def _warm_start(self, scaler: StandardScaler, cfg: HMMConfig, seed: int,
                    jitter: float) -> GaussianHMM:
        """An unfitted HMM (EM settings of ``cfg``) whose EM starts from this model's
        parameters, moved into the units of ``scaler``, the means moved by ``jitter``
        standard deviations at random (``seed``) so that restarts differ."""
        from hmmlearn.hmm import GaussianHMM

        hmm = GaussianHMM(n_components=cfg.n_components, covariance_type="full",
                          random_state=seed, n_iter=cfg.n_iter, tol=cfg.tol, init_params="")
        hmm.startprob_ = self.hmm_.startprob_
        hmm.transmat_ = self.hmm_.transmat_
        means, hmm.covars_ = self._gaussians(scaler)
        hmm.means_ = means + jitter * np.random.default_rng(seed).standard_normal(means.shape)
        return hmm

    def train(self, features: pd.DataFrame) -> MarketStateClassifier:
        """Seed 000's name for ``fit``."""
        return self.fit(features)

    def _select(self, features: pd.DataFrame) -> pd.DataFrame:
        self._require(features)
        X = features.loc[:, list(self.features_)]
        check_finite(X, "regime features")
        return X

    def _require(self, features) -> None:
        """Refuse features (a frame's columns or a row's names) lacking one fitted on."""
        missing = [c for c in self.features_ if c not in features]
        if missing:
            raise DataError(f"the regime classifier was fitted on {', '.join(self.features_)}; "
                            f"the features lack {', '.join(missing)}")

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

    def log_emissions(self, Z: np.ndarray) -> np.ndarray:
        """log p(z_t | state) for standardized rows ``Z`` (T, F), per row and state (T, K):
        one batched computation, the same arithmetic for one row as for many (the stream
        and the batch filter agree bit for bit)."""
        diff = Z[:, None, :] - self.hmm_.means_[None]  # (T, K, F)
        # reductions along the last (contiguous) axis: each row summed alone, in one order
        solved = (self._chol_inv[None] * diff[:, :, None, :]).sum(axis=-1)  # (T, K, F)
        return self._log_norm - 0.5 * (solved * solved).sum(axis=-1)

    def log_emission(self, z: np.ndarray) -> np.ndarray:
        """log p(z | state) for one standardized row ``z`` (F,), per state (K,)."""
        return self.log_emissions(z[None, :])[0]

    def step(self, alpha: np.ndarray | None, z: np.ndarray,
             log_b: np.ndarray | None = None) -> np.ndarray:
        """One forward step: the filtered probabilities after row ``z`` given the previous
        ones (``None`` at the first bar). HMM state order. ``log_b``: the row's
        ``log_emission``, when already computed."""
        prior = self.hmm_.startprob_ if alpha is None else alpha @ self.hmm_.transmat_
        if log_b is None:
            log_b = self.log_emission(z)
        weighted = prior * np.exp(log_b - log_b.max())
        total = weighted.sum()
        if not total > 0 or not np.isfinite(total):  # far outside every state: keep prior
            return prior / prior.sum()
        return weighted / total

    def _filter(self, Z: np.ndarray) -> np.ndarray:
        out = np.empty((len(Z), self.hmm_.n_components))
        alpha = None
        log_b = self.log_emissions(Z)
        for t in range(len(Z)):
            alpha = self.step(alpha, Z[t], log_b[t])
            out[t] = alpha
        return out

    def standardize(self, features: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        return self.scaler_.transform(self._select(features))

    def standardize_row(self, features: Mapping[str, float], date) -> np.ndarray:
        """``standardize`` of one bar's features (name -> value, on ``date``), with the
        same refusals: what a stream computes from numpy columns
        (``models.features.newest_features``). The scaler's own arithmetic, (x - mean) /
        scale, so the same numbers."""
        self._check_fitted()
        self._require(features)
        x = np.array([features[c] for c in self.features_], dtype=float)
        check_finite_row(x, self.features_, date, "regime features")
        return (x - self.scaler_.mean_) / self.scaler_.scale_

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
    calmest, *others = sorted(calm, key=lambda k: mean_vol[k])
    sideways, momentum = sorted(others, key=lambda k: mean_return[k])
    names[calmest] = "low_volatility_uptrend"
    names[sideways] = "consolidation"
    names[momentum] = "momentum_uptrend"
    return names


def names_follow_stats(mean_return: np.ndarray, volatility: np.ndarray) -> bool:
    """Whether ``name_states`` would give names the states live up to: both volatile
    states at least ``VOLATILE_RATIO`` times as volatile as every calm one, the
    downtrend's mean return at most -``MIN_TREND`` and the rally's at least ``MIN_TREND``."""
    order_by_vol = np.argsort(volatility, kind="stable")
    calm, volatile = order_by_vol[:3], order_by_vol[3:]
    down, rally = sorted(volatile, key=lambda k: mean_return[k])
    return bool(volatility[volatile].min() >= VOLATILE_RATIO * volatility[calm].max()
                and mean_return[down] <= -MIN_TREND and mean_return[rally] >= MIN_TREND)


def symmetric_kl(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray,
                 cov_b: np.ndarray) -> float:
    """KL(a || b) + KL(b || a) between two Gaussians: the log-determinants cancel, so
    0.5 * (tr(B^-1 A) + tr(A^-1 B)) + 0.5 * d' (A^-1 + B^-1) d - dim."""
    inv_a, inv_b = np.linalg.inv(cov_a), np.linalg.inv(cov_b)
    d = mean_a - mean_b
    return float(0.5 * (np.trace(inv_b @ cov_a) + np.trace(inv_a @ cov_b))
                 + 0.5 * d @ (inv_a + inv_b) @ d - len(d))


def match_states(new: tuple[np.ndarray, np.ndarray],
                 old: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """For each state of ``new`` (means, covariances), the state of ``old`` it is
    matched to: the one-to-one assignment of least total symmetric KL divergence
    (Hungarian algorithm), both in the same units."""
    cost = np.array([[symmetric_kl(new[0][i], new[1][i], old[0][j], old[1][j])
                      for j in range(len(old[0]))] for i in range(len(new[0]))])
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)]


class RegimeFilter:
    """The forward recursion bar by bar, for live use: ``update(feature_row)`` returns the
    filtered probabilities in REGIME_NAMES order, identical to the batch path."""

    def __init__(self, classifier: MarketStateClassifier):
        classifier._check_fitted()
        self.classifier = classifier
        self.alpha: np.ndarray | None = None

    def update(self, row: pd.Series | pd.DataFrame) -> np.ndarray:
        frame = row.to_frame().T if isinstance(row, pd.Series) else row
        return self._step(self.classifier.standardize(frame)[-1])

    def update_features(self, features: Mapping[str, float], date) -> np.ndarray:
        """``update`` of one bar's features as a mapping (name -> value, on ``date``), as
        a stream computes them from numpy columns: the same probabilities."""
        return self._step(self.classifier.standardize_row(features, date))

    def _step(self, z: np.ndarray) -> np.ndarray:
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
            feats = newest_features(self.bars.arrays(), self.bars.dates, self.groups)
            probs = self.filter.update_features(feats, self.bars.dates[-1])
            out[0], out[1:] = np.argmax(probs), probs
        return out
