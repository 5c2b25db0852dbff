"""tf.data pipelines: one place that decides caching, seeded shuffling, batching, mapping, prefetch.

Augmentation is mapped here, after batching (vectorised, in parallel), so it never becomes part of
the model that is exported.

Every pipeline runs without tf.data's model-based autotuner (`without_autotune`): its background
thread made dropping a used iterator wait, and Keras drops the training iterator at the start of
each epoch. On a 2-core EPYC that wait took 0.5-2 s at most epoch starts and 8-10 s at some (a
py-spy stack: `~RootDataset::Iterator` waiting on its thread), 20-24 s besides a 23-epoch image
run's 200-220 s of training steps; without the autotuner every epoch started within 0.1 s. The
kit's pipelines are in-memory arrays and one vectorised map a batch, which need no tuning: the map
runs on every usable core, two batches ahead.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np

from solutions.common.runtime import import_tensorflow

tf = import_tensorflow()
PREFETCH_BATCHES = 2


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. under taskset or a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def without_autotune(ds: tf.data.Dataset) -> tf.data.Dataset:
    """`ds` with tf.data's autotuner off (module docstring: it stalled every epoch's start)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def fit_pipelines(datasets: tuple[tf.data.Dataset, tf.data.Dataset | None]
                  ) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """A domain's (train, validation) pipelines as training takes them: without the autotuner,
    whether the domain built them with `make_dataset` or by hand."""
    train, val = datasets
    return without_autotune(train), None if val is None else without_autotune(val)


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

    ds = ds.map(prepare, num_parallel_calls=usable_cores(), deterministic=True)
    return without_autotune(ds.prefetch(PREFETCH_BATCHES))


def inference_dataset(x: Any, batch_size: int) -> tf.data.Dataset:
    """Model inputs (an array, or a list, tuple or dict of arrays) in order, batched, for `predict`:
    Keras would wrap arrays in its own autotuned pipeline. Each element is a 1-tuple, so Keras
    never takes a tuple of inputs for (x, y); a list is a tuple here, as tf.data would stack it
    into one tensor. Sharded by data under a multi-worker strategy, as Keras shards arrays."""
    if isinstance(x, list):
        x = tuple(x)
    ds = without_autotune(tf.data.Dataset.from_tensor_slices((x,)).batch(batch_size).prefetch(PREFETCH_BATCHES))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


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
