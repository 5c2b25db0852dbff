"""Vision building blocks every image domain shares: a residual CNN trunk and a classifier head.

The head is `logits -> temperature (Rescaling 1/T) -> softmax`, with the last spatial feature map
named `features`: calibration swaps the temperature in after training (`with_temperature`) and
Grad-CAM reads `features` and `logits`, for any trunk. Plain Keras layers only, backend-neutral.
"""

from __future__ import annotations

import keras
import numpy as np


def residual_block(x, filters: int, stride: int, bn_momentum: float, antialias: bool = False):
    shortcut = x
    if antialias and stride != 1:
        x = binomial_blur(x)
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = keras.layers.BatchNormalization(momentum=bn_momentum)(y)
    y = keras.layers.ReLU()(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization(momentum=bn_momentum)(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        if antialias and stride != 1:  # ResNet-D: average every pixel of the window, not one of four
            shortcut = keras.layers.AveragePooling2D(pool_size=stride, strides=stride, padding="same")(shortcut)
            stride = 1
        shortcut = projection_shortcut(shortcut, filters, stride)
        shortcut = keras.layers.BatchNormalization(momentum=bn_momentum)(shortcut)
    return keras.layers.Add()([y, shortcut])


# The 3x3 binomial low-pass, [1, 2, 1] x [1, 2, 1] / 16: sums to 1, so it keeps a map's mean.
BINOMIAL_3X3 = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]).astype(np.float32) / 16.0


def binomial_blur(x):
    """`BINOMIAL_3X3` per channel, before a strided convolution: anti-aliased downsampling (Zhang
    2019, "Making Convolutional Networks Shift-Invariant Again"), so a shift of one pixel changes
    the subsampled map less. A frozen DepthwiseConv2D: a builtin TFLite op, quantised like any other.
    With oneDNN it was trained here on AVX2 only (widths 1-16, no crash); the tests build it at
    width >= 16, oneDNN's AVX-512 channel block, as the strided 1x1 pitfall below advises."""
    channels = int(x.shape[-1])
    weights = np.repeat(BINOMIAL_3X3[:, :, None, None], channels, axis=2)
    blur = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, trainable=False,
                                        depthwise_initializer=keras.initializers.Constant(weights))
    return blur(x)


# oneDNN's 1x1 backward-weights kernel (jit_1x1, TensorFlow 2.21) writes past its reduce-to-unit-stride
# workspace when the stride is > 1, the input is NHWC and it has fewer channels than the kernel's
# channel block (16 with AVX-512, 8 with AVX2): a SIGSEGV or "free(): invalid next size" in training
# (uxlfoundation/oneDNN#6035; measured here: ic 1-12 crash, ic 16-24 do not).
UNSAFE_STRIDED_1X1_CHANNELS = 16


def projection_shortcut(x, filters: int, stride: int):
    """The 1x1 (strided) projection of a residual shortcut.

    A strided 1x1 convolution reads every stride-th pixel, so with few input channels it is
    built as exactly that: subsample (MaxPooling2D of size 1, a builtin TFLite op), then a
    unit-stride 1x1 convolution, the same function without the crashing kernel. Wider inputs
    keep the single strided convolution (and so today's trained figures).
    """
    if stride != 1 and x.shape[-1] < UNSAFE_STRIDED_1X1_CHANNELS:
        x = keras.layers.MaxPooling2D(pool_size=1, strides=stride, padding="same")(x)
        stride = 1
    return keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)


def residual_trunk(inputs, *, width: int, depth: int, stages: int, bn_momentum: float, antialias: bool = False,
                   first_stride: int = 1):
    """Raw pixels -> `features` map: a 3x3 stem, then `stages` stages of `depth` residual blocks
    that double the width and halve the resolution.

    `first_stride` 2 halves the resolution in the first stage's first block too (the stem stays at
    full resolution, so no pixel is skipped), and so every later stage's: at 28 px about 28% of the
    multiply-adds (the 5,000 28x28 digits of the folder slow test trained 2.2x as fast).

    BatchNorm momentum 0.9 by default (not Keras' 0.99): a few thousand images give only a few
    hundred steps, too few for slow moving averages to settle (AUC 0.5 otherwise).
    `antialias` blurs before each strided convolution and averages the shortcut (off by default).
    """
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=bn_momentum)(x)
    x = keras.layers.ReLU()(x)
    for stage in range(stages):
        for block in range(depth):
            stride = (2 if stage > 0 else first_stride) if block == 0 else 1
            x = residual_block(x, width * 2**stage, stride, bn_momentum, antialias)
            last = stage == stages - 1 and block == depth - 1
            x = keras.layers.ReLU(name="features" if last else None)(x)
    return x


def classifier_head(features, num_classes: int, *, dropout: float, initial_bias: np.ndarray | None = None):
    """Pool, dropout, `logits`, `temperature` (1 until calibrated), `probabilities` (float32)."""
    x = keras.layers.GlobalAveragePooling2D()(features)
    x = keras.layers.Dropout(dropout)(x)
    bias = "zeros" if initial_bias is None else keras.initializers.Constant(np.asarray(initial_bias, np.float32))
    logits = keras.layers.Dense(num_classes, bias_initializer=bias, dtype="float32", name="logits")(x)
    return _calibrated_softmax(logits, 1.0)


def _calibrated_softmax(logits, temperature: float):
    scaled = keras.layers.Rescaling(1.0 / temperature, dtype="float32", name="temperature")(logits)
    return keras.layers.Softmax(dtype="float32", name="probabilities")(scaled)


def residual_cnn(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    width: int = 32,
    depth: int = 1,
    stages: int = 3,
    dropout: float = 0.2,
    bn_momentum: float = 0.9,
    initial_bias: np.ndarray | None = None,
    name: str = "resnet",
    antialias: bool = False,
    first_stride: int = 1,
) -> keras.Model:
    """A small ResNet classifier on raw pixels (0-255)."""
    inputs = keras.Input(shape=input_shape, name="pixels")
    features = residual_trunk(inputs, width=width, depth=depth, stages=stages, bn_momentum=bn_momentum,
                              antialias=antialias, first_stride=first_stride)
    outputs = classifier_head(features, num_classes, dropout=dropout, initial_bias=initial_bias)
    return keras.Model(inputs, outputs, name=name)


def with_temperature(model: keras.Model, temperature: float) -> keras.Model:
    """The same weights with `softmax(logits / T)`: calibration folded into the exported graph."""
    outputs = _calibrated_softmax(model.get_layer("logits").output, float(temperature))
    return keras.Model(model.inputs, outputs, name=model.name)


def logits_model(model: keras.Model) -> keras.Model:
    """inputs -> logits, for fitting a temperature or computing class scores."""
    return keras.Model(model.inputs, model.get_layer("logits").output)


def recalibrate_batch_norm(model: keras.Model, images: np.ndarray) -> int:
    """Set the moving statistics of every trainable BatchNormalization layer to its statistics over
    `images` (one batch) under the current weights ("precise BN", Wu & Johnson 2021); returns how
    many layers were set. The weights are not touched.

    A backbone trained from random weights changes so fast that moving averages lag behind it,
    whatever their momentum: MobileNetV3-Small on digits, 3 epochs, scored 0.40 in inference mode
    against 0.92 with its batch statistics, and 0.92 once recalibrated so; so does the residual CNN
    over a short schedule (`image_classifier.SHORT_SCHEDULE_EPOCHS`). Frozen BatchNorm
    (pretrained backbones) keeps its statistics.
    """
    layers = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]
    if not layers or not len(images):
        return 0
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0  # the moving statistics become this batch's
        model(images, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)


class BatchNormRecalibration(keras.callbacks.Callback):
    """Before each validation (so early stopping, the checkpoints and the exported model see
    them), BatchNorm statistics recomputed on a fixed sample of training images
    (`recalibrate_batch_norm`)."""

    def __init__(self, images: np.ndarray, *, below_epochs: int | None = None):
        """`below_epochs`: only in a fit of fewer epochs than this (a tuning trial's own count, not
        the plan's), where moving averages cannot keep up; None: always."""
        super().__init__()
        self.images, self.below_epochs = images, below_epochs
        self.active = below_epochs is None

    def on_train_begin(self, logs=None):
        self.active = self.below_epochs is None or self.params.get("epochs", 0) < self.below_epochs

    def on_test_begin(self, logs=None):
        if self.active:
            recalibrate_batch_norm(self.model, self.images)
