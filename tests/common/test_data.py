import numpy as np
import pytest

from solutions.common.data import stratified_split
from solutions.common.errors import UserError


def test_stratified_split_is_seeded_disjoint_and_stratified():
    x = np.arange(1000)
    y = np.repeat(np.arange(4), 250)
    a = stratified_split(x, y, val_fraction=0.15, test_fraction=0.15, seed=1)
    b = stratified_split(x, y, val_fraction=0.15, test_fraction=0.15, seed=1)
    c = stratified_split(x, y, val_fraction=0.15, test_fraction=0.15, seed=2)
    assert all(np.array_equal(s.x, t.x) for s, t in zip(a, b))
    assert not np.array_equal(a[2].x, c[2].x)
    train, val, test = a
    assert len(set(train.x) | set(val.x) | set(test.x)) == 1000
    assert (len(train), len(val), len(test)) == (700, 150, 150)
    assert np.all(np.bincount(test.y) == 150 // 4) or np.ptp(np.bincount(test.y)) <= 1


def test_too_small_class_is_a_clear_error():
    y = np.array([0] * 10 + [1] * 2)
    with pytest.raises(UserError, match="fewer than 3"):
        stratified_split(np.arange(12), y, val_fraction=0.2, test_fraction=0.2, seed=0)
