"""The PneumoniaMNIST tries script: its mixup and standardisation parts, and one short real run."""

import json

import numpy as np
import pytest

from benchmarks import medical_tries
from tests.conftest import require_data


def test_mixup_blends_labels_and_weights_with_the_larger_share_first():
    import tensorflow as tf

    x = np.stack([np.full((4, 4, 1), v, np.float32) for v in (0.0, 100.0, 200.0, 255.0)])
    y = np.array([0, 1, 1, 0])
    ds = medical_tries.with_mixup(tf.data.Dataset.from_tensor_slices((x, y)).batch(4), 0.3, 2, {0: 2.0, 1: 0.5})
    images, labels, weights = next(iter(ds))
    labels, weights = labels.numpy(), weights.numpy()
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-6)
    # each row keeps at least half of its own label, and its weight lies between the class weights
    assert np.all(labels[np.arange(4), y] >= 0.5 - 1e-6)
    assert np.all((weights >= 0.5 - 1e-6) & (weights <= 2.0 + 1e-6))
    assert images.shape == x.shape


def test_per_image_standardisation_ignores_brightness_and_contrast():
    import keras

    inputs = keras.Input((8, 8, 1))
    probe = keras.Model(inputs, keras.layers.Flatten()(inputs))  # shows what the wrapped model receives
    model = medical_tries.standardized(probe)
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 120, (1, 8, 8, 1)).astype(np.float32)
    brighter = image * 2.0 + 10.0
    seen, seen_brighter = model.predict(image, verbose=0), model.predict(brighter, verbose=0)
    assert abs(seen.mean() - 128.0) < 1e-3 and abs(seen_brighter.mean() - 128.0) < 1e-3
    # (x - mean) / (std + 1): the same image up to the +1, which matters little at std ~35
    np.testing.assert_allclose(seen, seen_brighter, atol=2.0)
    assert not np.allclose(seen, image)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_short_run_logs_validation_and_test_auc_each_epoch(capsys):
    require_data("medmnist/pneumoniamnist.npz")
    assert medical_tries.main(["--seeds", "0", "--epochs", "2", "--limit", "256", "--mixup", "0.3",
                               "--per-image-std", "--stages", "4", "--set", "batch_size=32",
                               "--set", "augment=strong"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["stages"] == 4 and row["plan"]["batch_size"] == 32 and row["plan"]["augment"] == "strong"
    assert row["epochs"] == 2 and len(row["val_test_auc_per_epoch"]) == 2
    assert all(0.0 <= v <= 1.0 for pair in row["val_test_auc_per_epoch"] for v in pair)
    assert row["test_auc_at_best_val"] == row["val_test_auc_per_epoch"][row["best_val_epoch"] - 1][1]


def test_set_reads_numbers_as_numbers_and_the_rest_as_text():
    assert medical_tries.option("image_size=42") == ("image_size", 42)
    assert medical_tries.option("learning-rate=0.001") == ("learning_rate", 0.001)
    assert medical_tries.option("augment=strong") == ("augment", "strong")


def test_more_stages_halve_the_feature_map_once_more_and_keep_the_rest():
    from types import SimpleNamespace

    from solutions.common.vision_models import residual_cnn

    x = np.zeros((8, 28, 28, 1), np.float32)
    splits = SimpleNamespace(train=SimpleNamespace(x=x), class_names=["normal", "pneumonia"])
    plan = {"width": 8, "depth": 1, "dropout": 0.1}
    solution = SimpleNamespace(bn_momentum=lambda splits, plan: 0.95)
    default = residual_cnn((28, 28, 1), 2, width=8, initial_bias=np.array([-1.0, 0.5]), name="screen")
    deeper = medical_tries.with_stages(solution, default, plan, splits, 4)
    assert default.get_layer("features").output.shape[1:] == (7, 7, 32)
    assert deeper.get_layer("features").output.shape[1:] == (4, 4, 64)
    np.testing.assert_allclose(deeper.get_layer("logits").bias.numpy(), [-1.0, 0.5])
    assert deeper.name == "screen"
    assert {layer.momentum for layer in deeper.layers if hasattr(layer, "momentum")} == {0.95}


def test_tries_stop_where_the_kits_early_stopping_stops():
    rising = [(0.90, 0.9), (0.95, 0.9), (0.97, 0.9)]
    assert not medical_tries.stops_here(rising, 2)
    # best at the 2nd epoch, then two epochs without a better one (a tie is not better): stop
    assert medical_tries.stops_here([(0.90, 0.9), (0.99, 0.9), (0.98, 0.9), (0.99, 0.9)], 2)
    assert not medical_tries.stops_here([(0.90, 0.9), (0.99, 0.9), (0.98, 0.9)], 2)
