"""Fitted scikit-learn tree ensembles as padded numpy arrays, to score one row fast.

Why: ``RandomForestClassifier.predict_proba`` on one row walks its trees one Python call
each (joblib dispatch, input validation, one ``tree.predict`` per tree): about 9 ms for the
200 trees the direction model trains, most of a live decision's budget. Here every tree's
nodes sit in one (trees, nodes) array and a row descends all trees at once, one numpy step
per level: well under a millisecond.

Same rule as scikit-learn: the row is cast to float32 (the trees were fitted on it), a node
sends it left when ``x[feature] <= threshold``, a leaf's class weights are normalized to
probabilities and the forest averages its trees. Only the order of that average's additions
differs, so the probabilities agree to about 1e-15 (tests hold them to 1e-5). Gradient
boosting's stages are scored the same way (``BoostingArrays``).
"""

from __future__ import annotations

import numpy as np

#: scikit-learn's marker of a leaf in ``tree_.children_left``
LEAF = -1


class PaddedTrees:
    """Fitted scikit-learn trees' nodes in padded (trees, nodes) arrays; ``leaves`` sends
    rows down every tree at once, one numpy step per level."""

    def __init__(self, trees):
        width = max(t.node_count for t in trees)
        n_trees = len(trees)
        self.left = np.full((n_trees, width), LEAF, dtype=np.intp)
        self.right = np.full((n_trees, width), LEAF, dtype=np.intp)
        self.feature = np.zeros((n_trees, width), dtype=np.intp)
        self.threshold = np.zeros((n_trees, width))
        for k, tree in enumerate(trees):
            n = tree.node_count
            self.left[k, :n], self.right[k, :n] = tree.children_left, tree.children_right
            leaf = tree.children_left == LEAF
            self.feature[k, :n] = np.where(leaf, 0, tree.feature)
            self.threshold[k, :n] = tree.threshold
        self.depth = max(t.max_depth for t in trees)
        self.trees = np.arange(n_trees)[:, None]

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """Leaf node of every tree (rows) for every row of ``X`` (columns)."""
        X = np.asarray(X, dtype=np.float32).astype(np.float64)
        rows = np.arange(len(X))[None, :]
        node = np.zeros((len(self.trees), len(X)), dtype=np.intp)
        for _ in range(self.depth):
            left = self.left[self.trees, node]
            go_left = X[rows, self.feature[self.trees, node]] <= self.threshold[self.trees, node]
            child = np.where(go_left, left, self.right[self.trees, node])
            node = np.where(left == LEAF, node, child)
        return node


class ForestArrays:
    """``predict_proba`` of a fitted ``RandomForestClassifier`` (single output, numeric
    features without missing values) from padded node arrays."""

    def __init__(self, forest):
        trees = [estimator.tree_ for estimator in forest.estimators_]
        if forest.n_outputs_ != 1:
            raise ValueError("forest arrays: one output only")
        self.nodes = PaddedTrees(trees)
        n_classes = int(forest.n_classes_)
        self.value = np.zeros((len(trees), self.nodes.left.shape[1], n_classes))
        for k, tree in enumerate(trees):
            value = tree.value[:, 0, :n_classes].astype(float)
            total = value.sum(axis=1, keepdims=True)
            self.value[k, :tree.node_count] = value / np.where(total == 0.0, 1.0, total)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n, classes) of rows ``X`` (n, features)."""
        return self.value[self.nodes.trees, self.nodes.leaves(X)].mean(axis=0)


class BoostingArrays:
    """``predict_proba`` of a fitted ``GradientBoostingClassifier`` with its default
    (prior) start from padded node arrays: scikit-learn's one-row call validates its input
    and walks its stages in a compiled loop behind several Python layers, about 1 ms for
    the direction model's 200 stages of three trees; every tree descended at once takes a
    tenth of that.

    The raw score is the start value plus ``learning_rate`` times every stage's leaf, as
    in scikit-learn; the start value (the class prior's link, the same for every row) is
    read back from the first stage of ``staged_decision_function``, so the scores agree
    to about 1e-15 and the probabilities (softmax, or the logistic function for two
    classes) well within the 1e-5 the tests hold."""

    def __init__(self, model):
        if model.init is not None:
            raise ValueError("boosting arrays: the default (prior) start only")
        self.per_stage = model.estimators_.shape[1]  # trees a stage (1 for two classes)
        trees = [estimator.tree_ for estimator in model.estimators_.ravel()]  # stage-major
        self.nodes = PaddedTrees(trees)
        self.value = np.zeros((len(trees), self.nodes.left.shape[1]))
        for k, tree in enumerate(trees):
            self.value[k, :tree.node_count] = tree.value[:, 0, 0]
        self.learning_rate = float(model.learning_rate)
        probe = np.zeros((1, model.n_features_in_))
        first = np.asarray(next(model.staged_decision_function(probe)), dtype=float)
        leaf = self.value[self.nodes.trees, self.nodes.leaves(probe)][: self.per_stage, 0]
        self.start = first.reshape(-1)[: self.per_stage] - self.learning_rate * leaf

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n, classes) of rows ``X`` (n, features)."""
        leaf = self.value[self.nodes.trees, self.nodes.leaves(X)]  # (trees, rows)
        steps = leaf.reshape(-1, self.per_stage, leaf.shape[1])  # (stages, K, rows)
        raw = (self.start[:, None] + self.learning_rate * steps.sum(axis=0)).T  # (rows, K)
        if self.per_stage == 1:  # two classes: the logistic function of one score
            p = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.column_stack([1.0 - p, p])
        z = np.exp(raw - raw.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
