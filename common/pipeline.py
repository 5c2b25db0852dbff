"""tf.data pipelines: one place that decides caching, seeded shuffling, batching, mapping, prefetch.

Augmentation is mapped here, after batching (vectorised, in parallel), so it never becomes part of
the model that is exported.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from solutions.common.runtime import import_tensorflow

tf = import_tensorflow()
AUTOTUNE = tf.data.AUTOTUNE


def make_dataset(
    x: np.ndarray,
    y: np.ndarray | None,
    *,
    batch_size: int,
    training: bool = False,
    seed: int = 0,
    augment: Callable | None = None,
    cast: tf.DType | None = tf.float32,
) -> tf.data.Dataset:
    """Arrays -> cached, (shuffled), batched, (augmented), prefetched dataset.

    `training=True` shuffles with `seed` (a new order each epoch, the same sequence of orders for
    the same seed) and applies `augment`; evaluation datasets keep their order.
    """
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    ds = ds.cache()
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def prepare(*batch):
        features = tf.cast(batch[0], cast) if cast is not None else batch[0]
        if training and augment is not None:
            features = augment(features, training=True)
        return (features, *batch[1:]) if len(batch) > 1 else features

    ds = ds.map(prepare, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


def measure_throughput(ds: tf.data.Dataset, *, epochs: int = 2) -> float:
    """Samples per second the pipeline alone delivers (after a warm-up pass fills the cache)."""
    for _ in ds:
        pass
    count = 0
    start = time.perf_counter()
    for _ in range(epochs):
        for batch in ds:
            first = batch[0] if isinstance(batch, tuple) else batch
            count += int(first.shape[0])
    return count / max(time.perf_counter() - start, 1e-9)


def representative_samples(ds: tf.data.Dataset, limit: int = 200) -> np.ndarray:
    """Single samples drawn from a pipeline, for int8 calibration."""
    samples = []
    for batch in ds:
        first = batch[0] if isinstance(batch, tuple) else batch
        samples.extend(np.asarray(first))
        if len(samples) >= limit:
            break
    return np.stack(samples[:limit])
