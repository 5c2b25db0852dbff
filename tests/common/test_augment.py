"""Cutout and the chaining of augmentation steps, through the kit's own training pipeline."""

import numpy as np
import pytest

from solutions.common.augment import Cutout, chained, image_augmenter
from solutions.common.pipeline import make_dataset


def _erased_squares(images: np.ndarray, originals: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(top, left, rows, cols) of the changed pixels of each image."""
    boxes = []
    for image, original in zip(images, originals):
        rows, cols = np.nonzero((image != original).any(axis=-1))
        boxes.append((rows.min(), cols.min(), rows.max() - rows.min() + 1, cols.max() - cols.min() + 1))
    return boxes


def test_cutout_sets_one_square_per_image_to_its_channel_means_in_new_places_each_epoch():
    import tensorflow as tf

    tf.random.set_seed(0)  # as a kit's run does (make_deterministic)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 255, (64, 12, 12, 3)).astype(np.uint8)
    y = np.arange(64)
    cutout = Cutout(0.34, seed=0)  # 0.34 x 12 -> a 4x4 square
    dataset = make_dataset(x, y, batch_size=64, training=True, seed=0, augment=cutout)
    epochs = []
    for _ in range(2):  # a new iterator per epoch, as fit makes
        images, labels = next(iter(dataset))
        originals = x[labels.numpy()].astype(np.float32)
        images = images.numpy()
        changed = (images != originals).any(axis=-1)
        erased = changed.reshape(64, -1).sum(axis=1)
        assert erased.max() == 16 and erased.min() >= 4  # a whole 4x4 square inside, at least a 2x2 corner at an edge
        boxes = _erased_squares(images, originals)
        assert all(h <= 4 and w <= 4 for _, _, h, w in boxes)
        for image, original, mask in zip(images, originals, changed):
            np.testing.assert_allclose(image[mask], np.broadcast_to(original.mean(axis=(0, 1)), image[mask].shape),
                                       rtol=1e-5)
        epochs.append(boxes)
    assert len({(t, l) for t, l, _, _ in epochs[0]}) > 10  # squares in many places within a batch
    # and other places the next epoch, also by position in the batch (a seeded op in the pipeline's
    # map restarts with each epoch's iterator: its squares would come back by position)
    assert sum(a[:2] != b[:2] for a, b in zip(*epochs)) > 32


def test_cutout_leaves_evaluation_images_alone_and_refuses_a_fraction_out_of_range():
    x = np.full((4, 8, 8, 1), 200, np.uint8)
    cutout = Cutout(0.5, seed=1)
    assert np.array_equal(cutout(x.astype(np.float32), training=False), x)
    assert int(cutout.side(8, 28)) == 4 and int(Cutout(0.3).side(28, 28)) == 8 and int(Cutout(0.01).side(8, 8)) == 1
    for fraction in (0.0, 1.0, -0.2):
        with pytest.raises(ValueError, match="between 0 and 1"):
            Cutout(fraction)


def test_chained_applies_each_step_in_order_and_is_none_without_steps():
    assert chained(None, None) is None
    seen = []

    def step(name):
        def apply(images, training):
            seen.append((name, training))
            return images + 1
        return apply

    assert chained(step("a"), None, step("b"))(np.zeros(2), training=True).tolist() == [2.0, 2.0]
    assert seen == [("a", True), ("b", True)]
    # a Keras layer and Cutout in one pipeline: every pixel halved, then one 4x4 square per image
    import keras

    halve = keras.Sequential([keras.layers.Rescaling(0.5)])
    x = np.random.default_rng(0).integers(2, 255, (8, 16, 16, 1)).astype(np.uint8)
    both = chained(halve, Cutout(0.25, seed=0))
    out = np.concatenate([b.numpy() for b, _ in make_dataset(x, np.zeros(8), batch_size=8, augment=both,
                                                              training=True, seed=0)])
    ordered = np.concatenate([b.numpy() for b, _ in make_dataset(x, np.zeros(8), batch_size=8, augment=halve,
                                                                  training=True, seed=0)])  # the same shuffle
    erased = (out != ordered).reshape(8, -1).sum(axis=1)
    assert erased.max() == 16 and erased.min() >= 4 and np.isin(ordered * 2, x).all()


def test_cutout_fills_integer_images_with_their_rounded_mean():
    x = np.zeros((1, 4, 4, 1), np.uint8)
    x[0, :, :2] = 255  # mean 127.5
    out = np.asarray(Cutout(0.99, seed=0)(x))
    assert out.dtype == np.uint8 and 128 in out  # rounded, not floored to 127 in uint8 arithmetic
