"""The shared image-classifier layer, through the image-classification domain that uses it."""

import numpy as np

from solutions.common.solution import get_solution

OPTS = dict(val_split=0.2, test_split=0.15, seed=0, data=None, flip=None)


def test_tfds_dataset_is_split_and_resized(tmp_path):
    import tensorflow_datasets as tfds

    solution = get_solution("image-classification")
    options = {**OPTS, "dataset": "tfds:mnist", "data_dir": str(tmp_path), "image_size": 20}
    with tfds.testing.mock_data(num_examples=200):
        splits = solution.load_splits(options)
    assert splits.train.x.shape[1:] == (20, 20, 1) and splits.train.x.dtype == np.uint8
    assert len(splits.class_names) == 10 and splits.sizes()["test"] > 0
    assert splits.source["name"] == "tfds:mnist" and splits.source["image_shape"] == [20, 20, 1]


def test_flips_only_where_the_label_survives_a_mirror():
    solution = get_solution("image-classification")
    assert not solution.flip({"dataset": "digits", "flip": None})
    assert solution.flip({"dataset": "cifar10", "flip": None})
    assert solution.flip({"dataset": "digits", "flip": True})
    assert not solution.flip({"dataset": None, "data": "/x", "flip": None})


def test_batchnorm_momentum_averages_about_one_epoch():
    from solutions.common.data import Split, Splits

    solution = get_solution("image-classification")

    def splits(n):
        part = Split(np.zeros((n, 2, 2, 1), np.uint8), np.zeros(n, np.int32))
        return Splits(part, part, part, ["a", "b"])

    assert solution.bn_momentum(splits(640), {"batch_size": 64}) == 0.9  # 10 steps: the floor
    assert abs(solution.bn_momentum(splits(64 * 40), {"batch_size": 64}) - 0.975) < 1e-9
    assert solution.bn_momentum(splits(64 * 500), {"batch_size": 64}) == 0.99  # the ceiling
    assert solution.bn_momentum(splits(640), {"batch_size": 64, "bn_momentum": 0.8}) == 0.8
