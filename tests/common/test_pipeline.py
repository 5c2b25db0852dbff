import numpy as np

from solutions.common.augment import image_augmenter
from solutions.common.pipeline import make_dataset, measure_throughput, representative_samples


def _order(ds):
    return np.concatenate([y.numpy() for _, y in ds])


def test_training_pipeline_is_seeded_and_reshuffles():
    x = np.zeros((100, 4, 4, 1), np.uint8)
    y = np.arange(100)
    a = make_dataset(x, y, batch_size=10, training=True, seed=3)
    b = make_dataset(x, y, batch_size=10, training=True, seed=3)
    first, second = _order(a), _order(a)
    assert np.array_equal(first, _order(b))
    assert not np.array_equal(first, second)  # a new order each epoch
    assert sorted(first) == list(range(100))


def test_eval_pipeline_keeps_order_casts_and_never_augments():
    x = np.random.default_rng(0).integers(0, 255, (20, 8, 8, 1)).astype(np.uint8)
    calls = []

    def augment(batch, training):
        calls.append(1)
        return batch

    ds = make_dataset(x, np.arange(20), batch_size=8, augment=augment)
    xs = np.concatenate([b.numpy() for b, _ in ds])
    assert xs.dtype == np.float32 and np.array_equal(xs, x.astype(np.float32))
    assert np.array_equal(_order(ds), np.arange(20)) and not calls


def test_augmentation_changes_training_images_only():
    x = np.zeros((16, 16, 16, 1), np.uint8)
    x[:, 4:12, 4:12] = 255
    aug = image_augmenter("strong", seed=0)
    train = np.concatenate([b.numpy() for b, _ in make_dataset(x, np.zeros(16), batch_size=16, training=True, augment=aug)])
    assert train.shape == x.shape and not np.array_equal(train, x.astype(np.float32))
    assert image_augmenter("none") is None
    names = [l.__class__.__name__ for l in image_augmenter("light", flip=False).layers]
    assert "RandomFlip" not in names and "RandomFlip" in [l.__class__.__name__ for l in image_augmenter("light", flip=True).layers]


def test_throughput_and_representative_samples():
    x = np.zeros((64, 8, 8, 1), np.uint8)
    ds = make_dataset(x, np.zeros(64), batch_size=16)
    assert measure_throughput(ds, epochs=1) > 0
    reps = representative_samples(ds, limit=40)
    assert reps.shape == (40, 8, 8, 1)
