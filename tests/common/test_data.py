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


def test_too_small_class_is_named_when_the_names_are_given():
    y = np.array([0] * 10 + [1] * 2 + [2] * 10)
    with pytest.raises(UserError, match=r"class\(es\) 'cat' have fewer than 3"):
        stratified_split(np.arange(22), y, val_fraction=0.2, test_fraction=0.2, seed=0,
                         class_names=["ant", "cat", "dog"])


@pytest.mark.parametrize("classes, per_class, need", [(2, 3, 4), (4, 5, 6)])
def test_a_folder_too_small_for_every_split_is_one_clear_error(classes, per_class, need):
    """sklearn refuses a test split smaller than the number of classes (a ValueError traceback)."""
    y = np.repeat(np.arange(classes), per_class)
    with pytest.raises(UserError, match=f"too few .* give about {need} per class"):
        stratified_split(np.arange(len(y)), y, val_fraction=0.15, test_fraction=0.15, seed=0)
    y = np.repeat(np.arange(classes), need)
    train, val, test = stratified_split(np.arange(len(y)), y, val_fraction=0.15, test_fraction=0.15, seed=0)
    assert all(set(part.y) == set(range(classes)) for part in (train, val, test))


def test_joined_splits_are_every_example_or_none_when_the_parts_differ():
    import numpy as np

    from solutions.common.data import Split, Splits, joined

    parts = [Split(np.full((n, 3), n, np.float32), np.arange(n), np.array(["t"] * n, dtype=object)) for n in (5, 2, 3)]
    whole = joined(Splits(*parts, class_names=["a", "b"]))
    assert whole is not None and whole.x.shape == (10, 3) and list(whole.y) == [0, 1, 2, 3, 4, 0, 1, 0, 1, 2]
    assert list(whole.x[:, 0]) == [5] * 5 + [2] * 2 + [3] * 3 and len(whole.raw) == 10
    users = Split(np.arange(4), np.zeros((4, 7)))  # a retrieval test split: users and their item table
    assert joined(Splits(parts[0], parts[1], users, class_names=[])) is None
    no_raw = Split(parts[2].x, parts[2].y)
    assert joined(Splits(parts[0], parts[1], no_raw, class_names=[])) is None
