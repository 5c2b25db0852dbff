"""The PneumoniaMNIST tries script: its mixup, one-hot, standardisation and model-rebuilding
parts, and two short real runs that check each option reaches the model, loss or pipeline."""

import json

import numpy as np
import pytest

from benchmarks import medical_tries
from tests.conftest import require_data


def test_mixup_blends_labels_and_weights_with_the_larger_share_first():
    import tensorflow as tf

    tf.random.set_seed(0)  # as the kit's runs do: a seeded op inside a map would repeat every epoch
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
    # a new iterator per epoch, as fit makes: other blends, not the first epoch's again
    assert not np.array_equal(images.numpy(), next(iter(ds))[0].numpy())


def test_photometric_jitter_changes_exposure_within_range_and_anew_each_epoch():
    import tensorflow as tf

    tf.random.set_seed(0)
    x = np.tile(np.linspace(20, 230, 16, dtype=np.float32).reshape(1, 4, 4, 1), (8, 1, 1, 1))
    y = np.arange(8)
    ds = medical_tries.with_photometric(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), 0.3, 0)
    first, second = (next(iter(ds))[0].numpy() for _ in range(2))  # a new iterator per epoch, as fit makes
    assert first.min() >= 0 and first.max() <= 255 and not np.allclose(first, x)
    assert len({round(float(m), 2) for m in first.mean(axis=(1, 2, 3))}) > 4  # each image its own exposure
    assert not np.allclose(first, second)


def test_blur_softens_about_the_asked_share_of_images_keeps_their_mean_and_changes_each_epoch():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (256, 8, 8, 1)).astype(np.float32)
    ds = medical_tries.with_blur(tf.data.Dataset.from_tensor_slices((x, np.zeros(256))).batch(256), 0.5, 0)
    first, second = (next(iter(ds))[0].numpy() for _ in range(2))  # a new iterator per epoch, as fit makes

    def sharpness(images):
        return sum(np.abs(np.diff(images, axis=axis)).mean(axis=(1, 2, 3)) for axis in (1, 2))

    blurred = np.abs(first - x).max(axis=(1, 2, 3)) > 1e-3
    assert 0.35 < blurred.mean() < 0.65
    assert np.all(sharpness(first)[blurred] < sharpness(x)[blurred])
    np.testing.assert_allclose(first.mean(axis=(1, 2, 3)), x.mean(axis=(1, 2, 3)), atol=8.0)  # edges reflect
    assert first.min() >= 0 and first.max() <= 255 and not np.allclose(first, second)


def test_gamma_bends_intensities_within_the_asked_range_keeps_black_and_white_and_changes_each_epoch():
    import tensorflow as tf

    x = np.tile(np.linspace(0, 255, 16, dtype=np.float32).reshape(1, 4, 4, 1), (64, 1, 1, 1))
    ds = medical_tries.with_gamma(tf.data.Dataset.from_tensor_slices((x, np.zeros(64))).batch(64), 0.5, 0)
    first, second = (next(iter(ds))[0].numpy() for _ in range(2))  # a new iterator per epoch, as fit makes
    # each image's gamma, read back from one mid-grey pixel: log g = log(out) / log(in) on the unit scale
    gammas = np.log(first[:, 1, 1, 0] / 255.0) / np.log(x[:, 1, 1, 0] / 255.0)
    assert gammas.min() >= 1 / 1.5 - 1e-4 and gammas.max() <= 1.5 + 1e-4
    assert gammas.min() < 0.8 and gammas.max() > 1.25  # both darker and brighter images
    np.testing.assert_allclose(first[:, 0, 0, 0], 0.0, atol=1e-4)
    np.testing.assert_allclose(first[:, 3, 3, 0], 255.0, atol=1e-2)
    assert np.all(np.diff(first.reshape(64, 16), axis=1) >= 0)  # the order of intensities is kept
    assert not np.allclose(first, second)


def test_one_hot_batches_carry_each_class_weight():
    import tensorflow as tf

    y = np.array([0, 1, 1, 0])
    ds = medical_tries.with_one_hot(tf.data.Dataset.from_tensor_slices((np.zeros((4, 2, 2, 1)), y)).batch(4), 2,
                                    {0: 2.0, 1: 0.5})
    _, labels, weights = next(iter(ds))
    np.testing.assert_array_equal(labels.numpy(), np.eye(2)[y])
    np.testing.assert_allclose(weights.numpy(), [2.0, 0.5, 0.5, 2.0])


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
def test_a_short_run_logs_validation_and_test_auc_each_epoch(capsys, monkeypatch):
    require_data("medmnist/pneumoniamnist.npz")
    import keras

    from solutions.common import augment

    calls = []  # what reaches the pipeline, not only what the row echoes

    def spy(name, real):
        def wrapped(*args, **kwargs):
            calls.append((name, args[1] if name != "cutout" else args[0]))
            return real(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(medical_tries, "with_photometric", spy("photometric", medical_tries.with_photometric))
    monkeypatch.setattr(medical_tries, "with_blur", spy("blur", medical_tries.with_blur))
    monkeypatch.setattr(medical_tries, "with_gamma", spy("gamma", medical_tries.with_gamma))
    monkeypatch.setattr(augment, "Cutout", spy("cutout", augment.Cutout))
    from solutions.common import training

    decays = []  # the weight decay each optimizer is built with
    real_optimizer = training.make_optimizer
    monkeypatch.setattr(training, "make_optimizer",
                        lambda *a, **k: decays.append(k.get("weight_decay")) or real_optimizer(*a, **k))
    assert medical_tries.main(["--seeds", "0", "--epochs", "2", "--limit", "256", "--mixup", "0.3",
                               "--per-image-std", "--stages", "4", "--set", "batch_size=32",
                               "--set", "augment=strong"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert calls == []  # none of the four by default
    built = []  # the model the second run trains: its flat head on an anti-aliased trunk
    real_flat_head = medical_tries.with_flat_head
    monkeypatch.setattr(medical_tries, "with_flat_head", lambda *a, **k: built.append(real_flat_head(*a, **k)) or built[-1])
    assert medical_tries.main(["--seeds", "0", "--epochs", "1", "--limit", "128", "--set", "cutout=0.3",
                               "--label-smoothing", "0.1", "--flat-head", "--no-class-weight", "--photometric", "0.2",
                               "--blur", "0.5", "--gamma", "0.4", "--weight-decay", "0.05", "--antialias", "--refit"]) == 0
    other = json.loads(capsys.readouterr().out.splitlines()[0])
    assert sum(isinstance(layer, keras.layers.DepthwiseConv2D) for layer in built[0].layers) == 2
    assert other["antialias"] is True and row["antialias"] is False
    assert other["refit"] is True and row["refit"] is False
    assert row["training_images"] == 256 and other["training_images"] == 128 + 524  # PneumoniaMNIST's validation split
    assert other["trained_epochs"] == 1
    assert decays == [training.WEIGHT_DECAY, 0.05]  # the kit's own by default
    assert (row["weight_decay"], other["weight_decay"]) == (training.WEIGHT_DECAY, 0.05)
    assert row["optimizer"] == other["optimizer"] == "AdamW" and row["sgd_learning_rate"] is None
    assert sorted(calls) == [("blur", 0.5), ("cutout", 0.3), ("gamma", 0.4), ("photometric", 0.2)]
    assert other["gamma"] == 0.4 and row["gamma"] == 0.0
    assert other["photometric"] == 0.2 and row["photometric"] == 0.0
    assert other["blur"] == 0.5 and row["blur"] == 0.0
    assert row["cutout"] == 0.0 and other["cutout"] == 0.3  # the kit's default (off), and --set turns it on
    assert other["loss_label_smoothing"] == 0.1 and row["loss_label_smoothing"] == 0.0
    assert other["logits_inputs"] == 7 * 7 * 128 and row["logits_inputs"] == 256  # flattened 7x7 map vs pooled 4x4
    assert set(other["class_weight"].values()) == {1.0}
    assert set(row["class_weight"].values()) != {1.0}  # balanced by default
    assert row["stages"] == 4 and row["plan"]["batch_size"] == 32 and row["plan"]["augment"] == "strong"
    assert row["trained_epochs"] == len(row["val_test_auc_per_epoch"]) <= 2
    assert row["epochs"] == 2 and len(row["val_test_auc_per_epoch"]) == 2
    assert all(0.0 <= v <= 1.0 for pair in row["val_test_auc_per_epoch"] for v in pair)
    assert row["test_auc_at_best_val"] == row["val_test_auc_per_epoch"][row["best_val_epoch"] - 1][1]
    assert row["plan"]["first_stride"] == other["plan"]["first_stride"] == 1  # the named dataset's
    # --set first_stride=2 reaches the rebuilt trunks too: a 4x4 map flattened, not 7x7
    assert medical_tries.main(["--seeds", "0", "--epochs", "1", "--limit", "64", "--set", "first_stride=2",
                               "--flat-head"]) == 0
    halved = json.loads(capsys.readouterr().out.splitlines()[0])
    assert halved["plan"]["first_stride"] == 2 and halved["logits_inputs"] == 4 * 4 * 128


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sgd_replaces_adamw_with_nesterov_momentum_on_the_same_schedule(capsys, monkeypatch):
    require_data("medmnist/pneumoniamnist.npz")
    import keras

    built = []
    real_sgd = keras.optimizers.SGD
    monkeypatch.setattr(keras.optimizers, "SGD", lambda *a, **k: built.append(real_sgd(*a, **k)) or built[-1])
    assert medical_tries.main(["--seeds", "0", "--epochs", "1", "--limit", "64", "--sgd", "0.8",
                               "--sgd-learning-rate", "0.02", "--weight-decay", "5e-4"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["optimizer"] == "SGD" and row["sgd_learning_rate"] == 0.02 and row["weight_decay"] == 5e-4
    (sgd,) = built
    assert (sgd.momentum, sgd.nesterov, sgd.weight_decay) == (0.8, True, 5e-4)
    schedule = sgd._learning_rate  # one step (64 images, batch 64): warm-up from a tenth, then the peak
    assert (float(schedule(0)), float(schedule(1))) == (pytest.approx(0.002), pytest.approx(0.02))
    with pytest.raises(SystemExit):
        medical_tries.main(["--seeds", "0", "--sgd", "1.0"])  # momentum 1 never forgets
    assert "out of range" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a rate for an optimizer that is not asked for is not ignored
        medical_tries.main(["--seeds", "0", "--sgd-learning-rate", "0.1"])
    assert "--sgd-learning-rate needs --sgd" in capsys.readouterr().err


def test_sizes_and_amounts_out_of_range_are_refused(capsys):
    for flags in (["--label-smoothing", "1"], ["--label-smoothing", "-0.1"], ["--photometric", "1.5"],
                  ["--blur", "nan"]):
        with pytest.raises(SystemExit):
            medical_tries.main(["--seeds", "0", *flags])
        assert f"{flags[1]} is out of range ([0.0, 1.0))" in capsys.readouterr().err
    assert medical_tries.UNIT("0.1") == 0.1
    with pytest.raises(SystemExit):
        medical_tries.main(["--seeds", "0", "--weight-decay", "-0.01"])
    assert "out of range ([0.0, 1.0])" in capsys.readouterr().err


def test_set_reads_numbers_as_numbers_and_the_rest_as_text():
    assert medical_tries.option("image_size=42") == ("image_size", 42)
    assert medical_tries.option("learning-rate=0.001") == ("learning_rate", 0.001)
    assert medical_tries.option("augment=strong") == ("augment", "strong")


def tiny_screen(depth: int):
    """The medical solution, 32 blank 28x28 training images (8 normal, 24 pneumonia), a plan of
    width 8, and the kit's own default model for them."""
    from types import SimpleNamespace

    from solutions.common.solution import get_solution

    class Train:
        x = np.zeros((32, 28, 28, 1), np.float32)
        y = np.array([0] * 8 + [1] * 24)

        def __len__(self):
            return len(self.y)

    solution = get_solution("medical-imaging")
    splits = SimpleNamespace(train=Train(), class_names=["normal", "pneumonia"])
    plan = {"width": 8, "depth": depth, "dropout": 0.3, "batch_size": 4, "bn_momentum": None}
    return solution, splits, plan, solution.build_model(plan, splits)


def architecture(model, up_to: str | None = None):
    """Each layer's type and settings (names aside), up to and including the layer `up_to`."""
    import keras

    layers = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.InputLayer):
            layers.append((type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"}))
        if layer.name == up_to:
            break
    return layers


def test_the_flat_head_keeps_the_trunk_and_flattens_its_last_map():
    solution, splits, plan, default = tiny_screen(depth=2)
    flat = medical_tries.with_flat_head(solution, default, plan, splits)
    assert architecture(flat, "features") == architecture(default, "features")  # the same trunk, layer by layer
    assert flat.get_layer("features").output.shape == (None, 7, 7, 32)
    assert flat.get_layer("logits").kernel.shape == (7 * 7 * 32, 2)
    np.testing.assert_allclose(flat.get_layer("logits").bias.numpy(), default.get_layer("logits").bias.numpy())
    assert [layer.name for layer in flat.layers[-2:]] == ["temperature", "probabilities"]
    assert flat.output.shape == (None, 2) and flat.name == default.name
    deeper = medical_tries.with_flat_head(solution, default, plan, splits, stages=4)
    assert deeper.get_layer("logits").kernel.shape == (4 * 4 * 64, 2)


def test_more_stages_halve_the_feature_map_once_more_and_keep_the_rest():
    solution, splits, plan, default = tiny_screen(depth=2)  # the kit's own builder
    same = medical_tries.with_stages(solution, default, plan, splits, 3)
    deeper = medical_tries.with_stages(solution, default, plan, splits, 4)

    # 3 stages rebuilt = the builder's model (every layer's settings), so the tries change one thing
    assert architecture(same) == architecture(default) and same.name == default.name
    assert default.get_layer("features").output.shape[1:] == (7, 7, 32)
    assert deeper.get_layer("features").output.shape[1:] == (4, 4, 64)
    np.testing.assert_allclose(deeper.get_layer("logits").bias.numpy(), default.get_layer("logits").bias.numpy())
    assert {layer.rate for layer in deeper.layers if hasattr(layer, "rate")} == {0.3}
    smooth = medical_tries.with_stages(solution, default, plan, splits, 3, antialias=True)
    kinds = [type(layer).__name__ for layer in smooth.layers]
    assert kinds.count("DepthwiseConv2D") == kinds.count("AveragePooling2D") == 2  # one of each per downsampling
    assert smooth.get_layer("features").output.shape[1:] == (7, 7, 32) and smooth.name == default.name
    assert len(smooth.trainable_weights) == len(default.trainable_weights)


def test_tries_stop_where_the_kits_early_stopping_stops():
    assert not medical_tries.stops_here([0.90, 0.95, 0.97], 2)
    # best at the 2nd epoch, then two epochs without a better one (a tie is not better): stop
    assert medical_tries.stops_here([0.90, 0.99, 0.98, 0.99], 2)
    assert not medical_tries.stops_here([0.90, 0.99, 0.98], 2)
    # patience 0: Keras stops on the first epoch that is not a new best, never on one that is
    assert not medical_tries.stops_here([0.90, 0.95], 0)
    assert medical_tries.stops_here([0.90, 0.95, 0.94], 0)
    # full precision: a gain smaller than the printed 4 decimals still counts
    assert not medical_tries.stops_here([0.99001, 0.99002], 0)


def test_set_refuses_what_is_not_key_equals_value():
    import argparse

    for bad in ("image_size", "=42", "image_size="):
        with pytest.raises(argparse.ArgumentTypeError):
            medical_tries.option(bad)
