"""Image augmentation as Keras preprocessing layers, applied in the tf.data pipeline only.

Random layers inside the model would leak stateful RNG ops into the SavedModel and the TFLite
converter rejects them (keras-team/keras#19100), so they live here and the exported model is clean.
"""

from __future__ import annotations

from solutions.common.runtime import import_tensorflow

import_tensorflow()
import keras  # noqa: E402

# Strength -> (max shift as a fraction of the side, max rotation in turns, max zoom, contrast).
STRENGTHS: dict[str, tuple[float, float, float, float]] = {
    "none": (0.0, 0.0, 0.0, 0.0),
    "light": (0.08, 0.03, 0.08, 0.0),
    "strong": (0.12, 0.06, 0.15, 0.2),
}


def image_augmenter(strength: str = "light", *, flip: bool = False, seed: int = 0) -> keras.Sequential | None:
    """A Sequential of random geometric (and, for `strong`, photometric) transforms, or None.

    `flip` is off unless the caller knows the labels survive a mirror image (not for digits,
    text or chest X-rays, where left and right carry meaning).
    """
    if strength not in STRENGTHS:
        raise ValueError(f"augmentation strength must be one of {sorted(STRENGTHS)}")
    shift, rotation, zoom, contrast = STRENGTHS[strength]
    layers: list[keras.layers.Layer] = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if shift:
        layers.append(keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 1))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, fill_mode="constant", seed=seed + 2))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode="constant", seed=seed + 3))
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed + 4))
    return keras.Sequential(layers, name="augment") if layers else None
