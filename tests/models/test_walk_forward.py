"""Walk-forward folds never train on what they test; metrics match hand counts."""

import pandas as pd
import pytest

from core.errors import DataError
from models.folds import make_folds
from models.walk_forward import classification_metrics


def test_folds_are_consecutive_and_train_strictly_before_with_an_embargo():
    index = pd.bdate_range("2020-01-01", periods=300)
    folds = make_folds(index, index[200], 4, embargo=5)
    assert [f.number for f in folds] == [1, 2, 3, 4]
    assert folds[0].test_start == index[200] and folds[-1].test_end == index[-1]
    for before, after in zip(folds, folds[1:], strict=False):
        assert index.get_loc(after.test_start) == index.get_loc(before.test_end) + 1
    for fold in folds:
        assert index.get_loc(fold.test_start) - index.get_loc(fold.train_end) == 6
        assert fold.train_start == index[0]
    rolling = make_folds(index, index[200], 2, embargo=0, window="rolling", train_bars=50)
    assert all(index.get_loc(f.train_end) - index.get_loc(f.train_start) == 49 for f in rolling)
    with pytest.raises(DataError, match="needs history"):
        make_folds(index, index[3], 2, embargo=5)


def test_metrics_match_hand_counts():
    m = classification_metrics([0, 1, 2, 2, 2, 1], [0, 2, 2, 2, 1, 1])
    assert m["accuracy"] == pytest.approx(4 / 6)
    # recall: hold 1/1, call 1/2, put 2/3
    assert m["balanced_accuracy"] == pytest.approx((1 + 0.5 + 2 / 3) / 3)
    assert m["precision"]["put_credit_spread"] == pytest.approx(2 / 3)
    assert m["confusion"] == [[1, 0, 0], [0, 1, 1], [0, 1, 2]]
