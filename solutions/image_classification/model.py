"""Image classifiers: the shared residual CNN (default) and keras.applications backbones.

Every model takes raw pixels (0-255, as the exported model will) and rescales inside, and ends in
the shared float32 softmax head. No augmentation or other training-only layer is in the graph.
"""

from __future__ import annotations

import keras
import numpy as np

from solutions.common.errors import UserError
from solutions.common.vision_models import (  # noqa: F401 (the recalibration: re-exported)
    BatchNormRecalibration,
    classifier_head,
    recalibrate_batch_norm,
    residual_cnn,
)

BACKBONES = {
    "mobilenet_v3_small": keras.applications.MobileNetV3Small,
    "efficientnet_b0": keras.applications.EfficientNetB0,
}
MODELS = ("resnet", *BACKBONES)


def build_model(
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
    model: str = "resnet",
    width: int = 32,
    depth: int = 1,
    stages: int = 3,
    dropout: float = 0.2,
    bn_momentum: float = 0.9,
    weights: str | None = None,
    first_stride: int = 1,
) -> keras.Model:
    """One builder for train, tune and tests. `weights` only applies to keras.applications backbones."""
    if model == "resnet":
        return residual_cnn(input_shape, num_classes, width=width, depth=depth, stages=stages,
                            dropout=dropout, bn_momentum=bn_momentum, first_stride=first_stride)
    if model in BACKBONES:
        return transfer_model(model, input_shape, num_classes, weights=weights, dropout=dropout)
    raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")


def transfer_model(
    name: str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    weights: str | None,
    dropout: float,
) -> keras.Model:
    """A keras.applications backbone (its own 0-255 preprocessing included) under a new head.

    Grayscale inputs are repeated to three channels so ImageNet weights apply. Trained from random
    weights, its BatchNorm statistics are recomputed before each validation
    (`BatchNormRecalibration`): its moving averages lag too far behind.
    """
    height, width, channels = input_shape
    if min(height, width) < 32:
        raise UserError(f"{name} needs images of at least 32x32 (got {height}x{width}); pass --image-size 32 or more")
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = keras.layers.Concatenate(name="gray_to_rgb")([inputs] * 3) if channels == 1 else inputs
    backbone = BACKBONES[name](include_top=False, weights=weights, input_shape=(height, width, 3), pooling=None)
    backbone.name = "backbone"
    features = keras.layers.Identity(name="features")(backbone(x))
    return keras.Model(inputs, classifier_head(features, num_classes, dropout=dropout), name=name)


def freeze_backbone(model: keras.Model) -> None:
    """Transfer phase 1: train only the new head on top of the pretrained features."""
    model.get_layer("backbone").trainable = False


def unfreeze_top(model: keras.Model, fraction: float = 0.3) -> None:
    """Transfer phase 2: fine-tune the top `fraction` of the backbone's layers, BatchNorm kept frozen
    (its ImageNet statistics must not be overwritten by a few small batches)."""
    backbone = model.get_layer("backbone")
    backbone.trainable = True
    cut = int(len(backbone.layers) * (1 - fraction))
    for i, layer in enumerate(backbone.layers):
        layer.trainable = i >= cut and not isinstance(layer, keras.layers.BatchNormalization)
