"""Each member trains and predicts SELL/NEUTRAL/BUY probabilities, learns a plain signal,
copes with a class missing from training, is deterministic, and scores a row the same alone
or in a batch (the bar-by-bar path equals the batch path)."""

import numpy as np
import pytest

from models.direction_members import MEMBERS, SEQUENCE, TABULAR
from models.meta_model import BayesianWeighting, StackingMeta

TINY = {TABULAR: dict(n_estimators=20, seed=7),
        SEQUENCE: dict(units=4, epochs=1, batch_size=32, dilations=(1, 2), seed=7)}


def synthetic(n=240, length=5, seed=0):
    """Feature rows whose first column sets the class; windows of ``length`` rows."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + length - 1, 4))
    y = np.where(X[:, 0] > 0.45, 2, np.where(X[:, 0] < -0.45, 0, 1))
    windows = np.lib.stride_tricks.sliding_window_view(X, (length, 4))[:, 0]
    return X[length - 1:], windows, y[length - 1:]


def make(name):
    return MEMBERS[name](**TINY[MEMBERS[name].kind])


@pytest.mark.parametrize("name", [n for n, cls in MEMBERS.items() if cls.kind == TABULAR])
def test_tree_members_learn_a_plain_signal_deterministically(name):
    rows, _, y = synthetic()
    model = make(name).fit(rows[:160], y[:160])
    proba = model.predict_proba(rows[160:])
    assert proba.shape == (80, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == y[160:]).mean() > 0.8  # chance is about 1/3
    again = make(name).fit(rows[:160], y[:160]).predict_proba(rows[160:])
    np.testing.assert_array_equal(again, proba)
    one_by_one = np.vstack([model.predict_proba(rows[i:i + 1]) for i in range(160, 170)])
    np.testing.assert_array_equal(one_by_one, proba[:10])


@pytest.mark.parametrize("name", [n for n, cls in MEMBERS.items() if cls.kind == SEQUENCE])
def test_sequence_members_train_score_alone_or_batched_and_refit_from_scratch(name):
    _, windows, y = synthetic()
    fresh = make(name).fit(windows[:160], y[:160])
    proba = fresh.predict_proba(windows[160:])
    assert proba.shape == (80, 3) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    one = np.vstack([fresh.predict_proba(windows[i:i + 1]) for i in (160, 200, 239)])
    np.testing.assert_array_equal(one, proba[[0, 40, 79]])
    # refitting (the next walk-forward block) starts again from the seeded initial weights
    # and optimizer state: training on the first data again gives the first numbers
    fresh.fit(windows[40:120], y[40:120])
    assert not np.array_equal(fresh.predict_proba(windows[160:]), proba)
    fresh.fit(windows[:160], y[:160])
    np.testing.assert_array_equal(fresh.predict_proba(windows[160:]), proba)
    assert fresh.history_["loss"] and np.isfinite(fresh.history_["loss"]).all()


def test_early_stopping_ends_training_on_noise_and_keeps_the_best_epoch():
    _, windows, _ = synthetic()
    noise = np.random.default_rng(3).integers(0, 3, len(windows))  # nothing to learn
    member = MEMBERS["gru"](**{**TINY[SEQUENCE], "epochs": 60, "patience": 2})
    member.fit(windows, noise)
    val = member.history_["val_loss"]
    assert len(val) < 60  # stopped early
    assert int(np.argmin(val)) == len(val) - 3  # two epochs without improvement, then stop


def test_a_class_missing_from_training_gets_probability_zero():
    rows, _, y = synthetic()
    two = y != 1
    model = make("xgboost").fit(rows[two], y[two])
    proba = model.predict_proba(rows[:20])
    assert (proba[:, 1] == 0).all() and np.allclose(proba.sum(axis=1), 1.0)
    only_buy = make("random_forest").fit(rows[:10], np.full(10, 2))
    np.testing.assert_array_equal(only_buy.predict_proba(rows[:3]), [[0, 0, 1]] * 3)
    with pytest.raises(RuntimeError, match="not fitted"):
        make("gradient_boosting").predict_proba(rows[:3])


def test_stacking_weighs_a_good_member_above_a_noisy_one():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    good = np.full((300, 3), 0.1)
    good[np.arange(300), y] = 0.8
    noise = rng.dirichlet(np.ones(3), 300)
    P = np.stack([noise, good], axis=1)
    meta = StackingMeta().fit(P[:200], y[:200])
    assert (meta.predict_proba(P[200:]).argmax(axis=1) == y[200:]).mean() > 0.95
    rows = np.vstack([meta.predict_proba(P[i:i + 1]) for i in range(200, 210)])
    np.testing.assert_array_equal(rows, meta.predict_proba(P[200:210]))
    two = StackingMeta().fit(P[:200][y[:200] != 1], y[:200][y[:200] != 1])
    assert (two.predict_proba(P[200:])[:, 1] == 0).all()


def _weak_members(n=3000, seed=3):
    """Classes 20 % / 60 % / 20 %; two members that lean a little towards the truth."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.2, 0.6, 0.2])
    members = []
    for _ in range(2):
        logits = rng.standard_normal((n, 3)) + 0.4 * np.eye(3)[y]
        members.append(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    return np.stack(members, axis=1), y


def test_stacking_is_calibrated_and_still_calls_the_rare_classes():
    """Without class weights the stack's probabilities match the base rates and beat the
    balanced fit's log loss out of sample; its calls (relative to the class frequencies)
    still include the rare SELL and BUY, where its most probable class is NEUTRAL for
    most rows."""
    P, y = _weak_members()
    fit, test = slice(0, 2000), slice(2000, None)
    plain = StackingMeta().fit(P[fit], y[fit])
    balanced = StackingMeta(balanced=True).fit(P[fit], y[fit])

    def log_loss(meta):
        proba = meta.predict_proba(P[test])
        return -np.mean(np.log(proba[np.arange(len(proba)), y[test]]))

    proba = plain.predict_proba(P[test])
    np.testing.assert_allclose(proba.mean(axis=0), np.bincount(y[test]) / len(y[test]),
                               atol=0.03)
    assert log_loss(plain) < log_loss(balanced) - 0.02
    calls = plain.decide(proba)
    assert (proba.argmax(axis=1) == 1).mean() > 0.8  # the most probable class: NEUTRAL
    assert min((calls == 0).mean(), (calls == 2).mean()) > 0.1
    assert (calls == y[test]).mean() > 0.45
    # the calls a class-balanced fit makes, nearly row for row, and on its scale
    assert (balanced.predict_proba(P[test]).argmax(axis=1) == calls).mean() > 0.95
    weighed = plain.call_proba(proba)
    np.testing.assert_allclose(weighed.sum(axis=1), 1.0)
    assert abs(weighed.max(axis=1).mean()
               - balanced.predict_proba(P[test]).max(axis=1).mean()) < 0.05
    # a stack stored before the calibrated fit (no prior_, no balanced) calls its argmax
    old = StackingMeta().fit(P[fit], y[fit])
    del old.prior_, old.balanced
    np.testing.assert_array_equal(old.decide(proba), proba.argmax(axis=1))


def test_bayesian_weighting_moves_to_the_member_that_predicts_what_happens():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 200)
    good = np.full((200, 3), 0.2)
    good[np.arange(200), y] = 0.6
    bad = np.full((200, 3), 0.4)
    bad[np.arange(200), y] = 0.2
    P = np.stack([bad, good], axis=1)
    meta = BayesianWeighting(forgetting=0.9).fit(P, y)
    assert meta.weights_[1] > 0.99 and meta.weight_history_[0, 1] > 0.5
    np.testing.assert_allclose(meta.predict_proba(P[:5]),
                               meta.weights_[0] * bad[:5] + meta.weights_[1] * good[:5])
    # forgetting: after the good member turns bad the weights follow within ~1/(1-0.9) rows
    flipped = np.concatenate([P, P[:, ::-1]])
    late = BayesianWeighting(forgetting=0.9).fit(flipped, np.concatenate([y, y]))
    assert late.weights_[0] > 0.99
    with pytest.raises(ValueError, match="forgetting"):
        BayesianWeighting(forgetting=0.0)


@pytest.mark.parametrize("name", list(MEMBERS))
def test_live_path_of_one_row_equals_the_batch(name):
    """``predict_proba_live`` (one row or window at a time: padded node arrays for the
    forest, a numpy forward pass for the keras members) gives the batch's probabilities
    within 1e-5."""
    rows, windows, y = synthetic()
    member = make(name)
    if name == "random_forest":  # deep, unequal trees: the padded arrays' hard case
        member = MEMBERS[name](n_estimators=30, max_depth=None, min_samples_leaf=1, seed=7)
    inputs = rows if member.kind == TABULAR else windows
    member.fit(inputs[:180], y[:180])
    batch = member.predict_proba(inputs[180:])
    live = np.concatenate([member.predict_proba_live(inputs[i:i + 1])
                           for i in range(180, len(inputs))])
    np.testing.assert_allclose(live, batch, rtol=0, atol=1e-5)
    assert batch.std(axis=0).max() > 1e-3  # the rows get different scores


def test_forest_scores_are_scikit_learns_own_bits():
    """The forest member adds its trees' probabilities itself (no per-tree dispatch): the
    result is scikit-learn's ``predict_proba`` bit for bit, on deep unequal trees and on
    rows that round differently in float32; NaN rows and rows of the wrong width get
    scikit-learn's own answer and error."""
    rows, _, y = synthetic()
    member = MEMBERS["random_forest"](n_estimators=30, max_depth=None, min_samples_leaf=1,
                                      seed=7).fit(rows[:180], y[:180])
    scored = rows[180:] * (1 + 1e-9)  # not float32 numbers: both paths must round alike
    np.testing.assert_array_equal(member._model_proba(scored),
                                  member.model_.predict_proba(scored))
    assert member._model_proba(scored).std(axis=0).max() > 1e-3  # the rows differ
    holes = np.where(np.arange(4) == 1, np.nan, scored)  # scikit-learn's own NaN rule
    np.testing.assert_array_equal(member._model_proba(holes),
                                  member.model_.predict_proba(holes))
    with pytest.raises(ValueError, match="features"):
        member.predict_proba(scored[:, :3])


def test_gradient_boosting_live_path_with_two_classes_equals_the_batch():
    """Two classes give one tree a stage and the logistic function (three give a softmax,
    ``test_live_path_of_one_row_equals_the_batch``): the live arrays follow both."""
    rows, _, y = synthetic()
    two = np.where(y == 2, 2, 0)
    member = make("gradient_boosting").fit(rows[:180], two[:180])
    batch = member.predict_proba(rows[180:])
    live = member.predict_proba_live(rows[180:])
    np.testing.assert_allclose(live, batch, rtol=0, atol=1e-5)
    assert batch[:, 1].max() == 0 and batch[:, 2].std() > 1e-3  # NEUTRAL never trained
