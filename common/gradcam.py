"""Grad-CAM (Selvaraju et al. 2017): where in the image the class score came from.

Reads the model's `features` map and `logits` layer (the shared head names both). It is an
analysis tool run beside the model, never part of the exported graph; the gradient is taken with
TensorFlow, the engine this kit uses outside models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from solutions.common.runtime import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402


def gradcam(model: keras.Model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Heatmaps in [0, 1], shape (n, H, W) of the input, for the given class of each image."""
    probe = keras.Model(model.inputs, [model.get_layer("features").output, model.get_layer("logits").output])
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        features, logits = probe(x, training=False)
        score = tf.gather(logits, tf.convert_to_tensor(classes, tf.int32), axis=1, batch_dims=1)
    grads = tape.gradient(score, features)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))[..., None]
    cam = tf.image.resize(cam, x.shape[1:3], method="bilinear")[..., 0].numpy()
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, cam / np.maximum(peak, 1e-12), 0.0)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """An RGB uint8 picture: the image in gray (or colour) with the heatmap in 'jet' on top."""
    import matplotlib

    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    heat = matplotlib.colormaps["jet"](heatmap)[..., :3] * 255
    return np.clip((1 - alpha) * rgb + alpha * heat, 0, 255).astype(np.uint8)


def save_overlay(image: np.ndarray, heatmap: np.ndarray, path: Path, scale: int = 8) -> Path:
    from PIL import Image

    picture = Image.fromarray(overlay(image, heatmap))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    picture.save(path)
    return path
