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


def _autotuned(ds) -> bool:
    return ds.options().autotune.enabled is not False


def test_every_pipeline_runs_without_the_autotuner():
    """tf.data's autotuner thread stalled each epoch's start for up to 10 s (pipeline.py)."""
    import tensorflow as tf

    from solutions.common.pipeline import fit_pipelines, inference_dataset

    x, y = np.zeros((40, 4, 4, 1), np.uint8), np.arange(40)
    assert _autotuned(tf.data.Dataset.from_tensor_slices(x))  # TensorFlow's default, which would stall
    assert not _autotuned(make_dataset(x, y, batch_size=8, training=True, augment=image_augmenter("light")))
    assert not _autotuned(make_dataset(x, y, batch_size=8))
    assert not _autotuned(inference_dataset(x, 8))
    by_hand = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)  # as a domain may build its own
    assert not any(_autotuned(ds) for ds in fit_pipelines((by_hand, by_hand)))
    assert fit_pipelines((by_hand, None))[1] is None


def test_inference_dataset_keeps_order_and_takes_several_inputs():
    """A tuple of inputs is one model input, never Keras' (x, y); dicts by input name."""
    import keras

    from solutions.common.prediction import predict_keras

    a = keras.Input((3,), name="a")
    b = keras.Input((2,), name="b")
    model = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(37, 3)).astype(np.float32), rng.normal(size=(37, 2)).astype(np.float32)
    expected = np.asarray(model([xa, xb]))
    np.testing.assert_allclose(predict_keras(model, (xa, xb), batch_size=8), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict_keras(model, [xa, xb], batch_size=8), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict_keras(model, {"a": xa, "b": xb}, batch_size=8), expected, rtol=1e-5, atol=1e-6)
    single = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    np.testing.assert_allclose(predict_keras(single, xa, batch_size=5), np.asarray(single(xa)), rtol=1e-5, atol=1e-6)
