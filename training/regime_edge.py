"""How much of a market's edge the HMM's regimes carry, out of sample: yearly refits of the
HMM on every bar before the year; then, on the strategy labels known before the year, a
logistic regression on the five filtered (causal) state probabilities
(``regime_logistic``), a table of each most-likely state's best action
(``hmm_state_table``), the majority class and the oracle (the true state's best action),
all scoring the year. ``bench/bench_regime_edge.py`` prints it seed-averaged on both
sample worlds; a test holds that on the no-edge world none of them beats the majority
class while on the benchmark world the regimes carry most of the oracle's edge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.evaluation import class_frequencies, regime_oracle
from models.features import LOOKBACK, build_features
from models.regimes import HMMConfig, MarketStateClassifier


def regime_walk_forward(bars: pd.DataFrame, labels: pd.DataFrame, seed: int = 42,
                        years=range(2016, 2026), n_init: int = 2
                        ) -> tuple[pd.DataFrame, dict]:
    """Yearly refits over ``years``: the scored labels (every labelled bar of those years)
    and ``{name: (choice, proba)}`` of majority, regime_logistic, hmm_state_table and
    oracle on them. ``bars`` must carry ``true_regime`` (a sample market)."""
    from sklearn.linear_model import LogisticRegression

    features = build_features(bars).iloc[LOOKBACK - 1:]
    parts = []
    for year in years:
        start, end = pd.Timestamp(f"{year}-01-01"), pd.Timestamp(f"{year}-12-31")
        hmm = MarketStateClassifier(HMMConfig(n_init=n_init, random_state=seed)).fit(
            features[features.index < start])
        probs = hmm.filtered_state_probabilities(features[features.index <= end])
        lab = labels.reindex(probs.index)
        past = lab[(lab.index < start) & lab["label"].notna()
                   & (pd.DatetimeIndex(lab["label_end"]) < start)]
        test = lab[(lab.index >= start) & lab["label"].notna()]
        X_past, X_test = probs.loc[past.index].to_numpy(), probs.loc[test.index].to_numpy()
        y_past = past["label"].astype(int).to_numpy()
        clf = LogisticRegression(max_iter=2000).fit(X_past, y_past)
        logit = np.zeros((len(test), 3))
        logit[:, clf.classes_] = clf.predict_proba(X_test)
        prior = np.tile(class_frequencies(y_past), (len(test), 1))
        truth = bars["true_regime"]
        oracle = regime_oracle(past.assign(true_regime=truth.reindex(past.index).to_numpy()),
                               truth.reindex(test.index).to_numpy())
        table = regime_oracle(past.assign(true_regime=X_past.argmax(axis=1)),
                              X_test.argmax(axis=1))
        parts.append((test, {"majority": (prior.argmax(axis=1), prior),
                             "regime_logistic": (logit.argmax(axis=1), logit),
                             "hmm_state_table": table, "oracle": oracle}))
    scored = pd.concat([t for t, _ in parts])
    joined = {name: (np.concatenate([p[name][0] for _, p in parts]),
                     np.concatenate([p[name][1] for _, p in parts])) for name in parts[0][1]}
    return scored, joined
