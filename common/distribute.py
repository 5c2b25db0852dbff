"""`solutions train ... --distribute mirrored|multi-worker`: the model is built and compiled under
a `tf.distribute` strategy, so Keras's `fit` splits every batch across devices or workers and
keeps the replicas' weights identical.

multi-worker reads the cluster from TF_CONFIG, as TensorFlow does; every worker runs the same
command (each with its own --output), and the strategy must exist before TensorFlow runs any op,
so the workflow creates it first.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from solutions.common.errors import UserError
from solutions.common.runtime import import_tensorflow

STRATEGIES = ("mirrored", "multi-worker")


def check_tf_config() -> dict[str, Any]:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError("--distribute multi-worker needs TF_CONFIG, e.g. "
                        '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}')
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        task = config["task"]
    except (ValueError, KeyError, TypeError):
        raise UserError("TF_CONFIG is not JSON with cluster.worker and task (type, index)") from None
    if not isinstance(workers, list) or not 0 <= int(task.get("index", -1)) < len(workers) + len(
            config["cluster"].get("chief", [])):
        raise UserError(f"TF_CONFIG: task {task} is not in the cluster {config['cluster']}")
    return config


def make_strategy(kind: str | None):
    """The strategy for `--distribute`, or None (Keras's default, one device)."""
    if not kind:
        return None
    if kind not in STRATEGIES:
        raise UserError(f"--distribute {kind!r}: choose from {', '.join(STRATEGIES)}")
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        raise UserError("--distribute uses tf.distribute and needs KERAS_BACKEND=tensorflow")
    if kind == "multi-worker":
        check_tf_config()
    tf = import_tensorflow()
    _build_from_one_replica()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def _build_from_one_replica() -> None:
    """Two repairs to Keras 3's TensorFlow trainer, which does not run MultiWorkerMirroredStrategy
    as shipped (keras-team/keras#20585). It averages the first distributed batch across replicas
    with an eager `strategy.reduce` only to learn the batch's shapes before building, a reduce that
    fails there ("Attempt to convert a value (PerReplica...)"): one replica's local batch has the
    same shapes. And it averages the scalar epoch logs along an axis they lack (see below)."""
    from keras import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    if getattr(original, "one_replica", False):
        return
    tf = import_tensorflow()

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return value._values[0] if hasattr(value, "_values") else value
        return value

    def build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None or iterator is None:
            return original(self, iterator, data_batch)
        for _, _, it in iterator:  # as the original: the first batch, taken from the iterator
            data_batch = tree.map_structure(local, next(it))
            break
        return original(self, None, data_batch)

    build.one_replica = True
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = build

    reduce = tf_trainer.reduce_per_replica

    def reduce_scalars_across_workers(values, strategy, reduction="auto"):
        """The epoch logs are scalars: under MultiWorkerMirroredStrategy Keras averages them with
        `axis=0`, which a scalar does not have; average across replicas instead."""
        if reduction not in ("auto", "mean") or not tf_trainer._collective_all_reduce_multi_worker(strategy):
            return reduce(values, strategy, reduction)

        def one(value):
            first = value._values[0] if isinstance(value, tf.distribute.DistributedValues) else value
            if getattr(first, "shape", None) is not None and first.shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return reduce(value, strategy, reduction)

        return tree.map_structure(one, values)

    tf_trainer.reduce_per_replica = reduce_scalars_across_workers


def scope(strategy):
    """The strategy's scope (variables created in it are replicated), or a no-op."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def shard_by_data(dataset):
    """In-memory datasets have no files to shard: every worker takes its share of the batches."""
    if dataset is None:
        return None
    tf = import_tensorflow()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def synchronize_batch_norm(model, on: bool) -> int:
    """BatchNorm statistics over the global batch while training with a strategy (otherwise each
    replica keeps the moving statistics of its own share and the workers' models differ); switched
    off again before saving, as `synchronized=True` loads only on the TensorFlow backend."""
    import keras

    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.synchronized = on
    return len(layers)
