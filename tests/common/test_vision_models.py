"""The residual CNN never reaches oneDNN's crashing strided 1x1 backward-weights kernel
(uxlfoundation/oneDNN#6035: NHWC, stride > 1, fewer input channels than the kernel's block), and
its workaround computes the same function as the strided convolution it replaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT


def _strided_1x1_convs(model):
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and tuple(layer.kernel_size) == (1, 1) and max(layer.strides) > 1:
            found.append((layer.name, layer.input.shape[-1]))
    return found


@pytest.mark.parametrize("width", [1, 4, 8, 12, 16, 32])
def test_no_strided_1x1_convolution_on_few_channels(width):
    from solutions.common.vision_models import UNSAFE_STRIDED_1X1_CHANNELS, residual_cnn

    model = residual_cnn((20, 20, 3), 2, width=width, depth=2)
    unsafe = [(name, c) for name, c in _strided_1x1_convs(model) if c < UNSAFE_STRIDED_1X1_CHANNELS]
    assert unsafe == []


def test_subsampled_shortcut_equals_the_strided_convolution():
    import keras

    from solutions.common.vision_models import projection_shortcut

    rng = np.random.default_rng(0)
    for size in (20, 21):  # even and odd: TensorFlow's "same" padding differs
        inputs = keras.Input((size, size, 8))
        safe = keras.Model(inputs, projection_shortcut(inputs, 16, 2))
        strided = keras.Sequential([keras.Input((size, size, 8)),
                                    keras.layers.Conv2D(16, 1, strides=2, use_bias=False)])
        strided.set_weights(safe.get_weights())
        x = rng.normal(size=(3, size, size, 8)).astype("float32")
        np.testing.assert_allclose(safe.predict(x, verbose=0), strided.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("width,first_stride", [(4, 1), (8, 1), (4, 2), (8, 2)])
def test_tiny_image_folder_trains_without_a_native_crash(tmp_path, width, first_stride):
    """The reported repro: 13 RGB 20x20 images in two class folders, --width 8, one epoch. With the
    strided kernel this died with SIGSEGV / "double free" on AVX-512 CPUs (6 runs of 6); width 4 is
    below the AVX2 kernel's block of 8, so the case is reached on either ISA. `--first-stride 2`
    adds a strided first block on those few channels: trained here too, so a CPU with AVX-512 (CI's,
    a user's) runs its kernels in the suite, not first in a user's run. One epoch is a short
    schedule, so the BatchNorm recalibration's training-mode pass over the sample runs too."""
    from PIL import Image

    rng = np.random.default_rng(width)
    for label, count in (("a", 7), ("b", 6)):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "data" / label / f"{i}.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    result = subprocess.run([sys.executable, "-m", "solutions", "train", "image-classification", "--data",
                             str(tmp_path / "data"), "--epochs", "1", "--no-export", "--width", str(width),
                             "--first-stride", str(first_stride),
                             "--output", str(tmp_path / "run")], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=600)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert (tmp_path / "run" / "metrics.json").exists()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["plan"]["first_stride"] == first_stride


@pytest.mark.parametrize("width", [16, 32])
def test_wide_models_keep_their_graph(width):
    """The defaults (width 32) and any width >= 16 never reach the faulty kernel: their graph is the
    one they always had (a single strided 1x1 convolution), so their trained figures stay."""
    import keras

    from solutions.common.vision_models import residual_cnn

    model = residual_cnn((28, 28, 1), 2, width=width)
    assert not any(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers)
    assert len(_strided_1x1_convs(model)) == 2  # one projection per downsampling stage


def test_antialiased_downsampling_blurs_then_subsamples_with_frozen_builtin_layers(tmp_path):
    """`antialias`: a frozen binomial blur before each strided convolution and an averaged shortcut
    (no strided 1x1 at all, so no oneDNN kernel to avoid); it trains, keeps its blur, and converts
    to builtin TFLite ops (float32 and int8, through the kit's own export) with the Keras model's answers."""
    import keras

    from solutions.common.export import TFLiteRunner, convert_tflite, export_fixed_batch
    from solutions.common.vision_models import residual_cnn

    keras.utils.set_random_seed(0)
    # width 16: every layer after the stem has at least oneDNN's AVX-512 channel block (see above)
    model = residual_cnn((12, 12, 1), 2, width=16, antialias=True)
    blurs = [layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.AveragePooling2D)]
    assert len(blurs) == len(pools) == 2 and _strided_1x1_convs(model) == []
    assert all(not layer.trainable for layer in blurs)
    assert len(model.trainable_weights) == len(residual_cnn((12, 12, 1), 2, width=16).trainable_weights)

    # a checkerboard (the highest frequency a stride of 2 folds onto a constant) blurs to its mean
    checker = np.indices((12, 12)).sum(axis=0) % 2 * 255.0
    maps = np.repeat(checker[None, :, :, None], blurs[0].input.shape[-1], axis=-1).astype("float32")
    blurred = keras.ops.convert_to_numpy(blurs[0](maps))
    np.testing.assert_allclose(blurred[0, 1:-1, 1:-1], 127.5, atol=1e-4)

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (16, 12, 12, 1)).astype("float32")
    kernel = blurs[0].get_weights()[0].copy()
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, np.eye(2)[np.arange(16) % 2], epochs=1, verbose=0)
    np.testing.assert_array_equal(blurs[0].get_weights()[0], kernel)
    np.testing.assert_allclose(kernel[:, :, 0, 0], np.outer([1, 2, 1], [1, 2, 1]) / 16.0)
    np.testing.assert_allclose(kernel, np.repeat(kernel[:, :, :1], kernel.shape[2], axis=2))  # every channel alike

    saved = export_fixed_batch(model, tmp_path / "saved_model", batch=None)
    float32 = TFLiteRunner(convert_tflite(saved, "float32"))
    assert {"DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"} <= set(float32.op_names())
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(float32(x), expected, atol=1e-5)
    int8 = TFLiteRunner(convert_tflite(saved, "int8", representative=x))
    assert {"DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"} <= set(int8.op_names())
    assert np.abs(int8(x) - expected).max() < 0.1


@pytest.mark.parametrize("width", [8, 16, 32])
def test_first_stride_2_halves_the_first_stage_with_the_safe_kernels_only(width):
    """`first_stride=2`: the stem stays at full resolution and the first block downsamples, so the
    `features` map is half the side of stride 1's (28 -> 14 -> 7 -> 4 against 28 -> 14 -> 7); the
    extra projection is subsampled below oneDNN's channel block like the others."""
    from solutions.common.vision_models import UNSAFE_STRIDED_1X1_CHANNELS, residual_cnn

    full = residual_cnn((28, 28, 1), 10, width=width)
    halved = residual_cnn((28, 28, 1), 10, width=width, first_stride=2)
    assert full.get_layer("features").output.shape[1:3] == (7, 7)
    assert halved.get_layer("features").output.shape[1:3] == (4, 4)
    assert halved.layers[2].output.shape[1:3] == (28, 28)  # the stem convolution: every pixel read
    assert [c for _, c in _strided_1x1_convs(halved) if c < UNSAFE_STRIDED_1X1_CHANNELS] == []
    assert halved.count_params() > full.count_params()  # one more projection shortcut, nothing less
