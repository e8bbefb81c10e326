"""A fitted scikit-learn random forest as padded numpy arrays, to score one row fast.

Why: ``RandomForestClassifier.predict_proba`` on one row walks its trees one Python call
each (joblib dispatch, input validation, one ``tree.predict`` per tree): about 9 ms for the
200 trees the direction model trains, most of a live decision's budget. Here every tree's
nodes sit in one (trees, nodes) array and a row descends all trees at once, one numpy step
per level: well under a millisecond.

Same rule as scikit-learn: the row is cast to float32 (the trees were fitted on it), a node
sends it left when ``x[feature] <= threshold``, a leaf's class weights are normalized to
probabilities and the forest averages its trees. Only the order of that average's additions
differs, so the probabilities agree to about 1e-15 (tests hold them to 1e-5).
"""

from __future__ import annotations

import numpy as np

#: scikit-learn's marker of a leaf in ``tree_.children_left``
LEAF = -1


class ForestArrays:
    """``predict_proba`` of a fitted ``RandomForestClassifier`` (single output, numeric
    features without missing values) from padded node arrays."""

    def __init__(self, forest):
        trees = [estimator.tree_ for estimator in forest.estimators_]
        if forest.n_outputs_ != 1:
            raise ValueError("forest arrays: one output only")
        width = max(t.node_count for t in trees)
        n_trees, n_classes = len(trees), int(forest.n_classes_)
        self.left = np.full((n_trees, width), LEAF, dtype=np.intp)
        self.right = np.full((n_trees, width), LEAF, dtype=np.intp)
        self.feature = np.zeros((n_trees, width), dtype=np.intp)
        self.threshold = np.zeros((n_trees, width))
        self.value = np.zeros((n_trees, width, n_classes))
        for k, tree in enumerate(trees):
            n = tree.node_count
            self.left[k, :n], self.right[k, :n] = tree.children_left, tree.children_right
            leaf = tree.children_left == LEAF
            self.feature[k, :n] = np.where(leaf, 0, tree.feature)
            self.threshold[k, :n] = tree.threshold
            value = tree.value[:, 0, :n_classes].astype(float)
            total = value.sum(axis=1, keepdims=True)
            self.value[k, :n] = value / np.where(total == 0.0, 1.0, total)
        self.depth = max(t.max_depth for t in trees)
        self.trees = np.arange(n_trees)[:, None]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n, classes) of rows ``X`` (n, features)."""
        X = np.asarray(X, dtype=np.float32).astype(np.float64)
        rows = np.arange(len(X))[None, :]
        node = np.zeros((len(self.trees), len(X)), dtype=np.intp)
        for _ in range(self.depth):
            left = self.left[self.trees, node]
            go_left = X[rows, self.feature[self.trees, node]] <= self.threshold[self.trees, node]
            child = np.where(go_left, left, self.right[self.trees, node])
            node = np.where(left == LEAF, node, child)
        return self.value[self.trees, node].mean(axis=0)
