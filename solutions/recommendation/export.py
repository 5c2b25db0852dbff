"""The recommender's SavedModel signatures and its TFLite top-K model, checked against Keras.

SavedModel: `serving_default` on what the Keras model takes (what the shared export checks call:
[batch, 2] pairs -> ratings, or for retrieval user indices -> every item's score),
`score(user, item)` and `recommend(user, k)` (k is an input: any K at serving time). TFLite:
`recommend.tflite`, user index [batch] -> top-K scores and item indices with a fixed K, the user's
history excluded (an int8 table inside the model), builtin ops only (TOPK_V2, GATHER). The
SavedModel signatures refuse an index outside the model's users or items (an assert in the graph,
which the TFLite files, converted from the Keras models, do not carry).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from solutions.common.errors import ExportError, UserError
from solutions.common.export import TFLiteRunner, check_float_parity, convert_tflite, export_fixed_batch, tf
from solutions.common.files import scratch_directory, write_bytes_atomic
from solutions.common.edge import describe_metadata
from solutions.common.tflite_metadata import ModelInfo, read_metadata, with_metadata
from solutions.common.rundir import Run
from solutions.recommendation.model import TrainingRatings, scorer_of, top_k_model

import keras  # noqa: E402  (solutions.common.export imported TensorFlow quietly first)

TOPK_FILE = "recommend.tflite"


def in_range(indices, n: int, what: str):
    """`indices` when every one is in [0, n), else an InvalidArgumentError naming the bad ones (a
    400 from a server). A gather would wrap -1 to the last row as NumPy does, and on a GPU answers
    an index past the end with zeros: both a silent wrong answer."""
    bad = tf.logical_or(indices < 0, indices >= n)
    check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)),
                                [f"{what} index(es) outside 0..{n - 1}:", tf.boolean_mask(indices, bad)], summarize=20)
    with tf.control_dependencies([check]):
        return tf.identity(indices)


def checked_inputs(x, n_users: int, n_items: int):
    """What the Keras model takes, its indices checked: user indices [batch], or (user, item) pairs."""
    if x.shape.rank == 1:
        return in_range(x, n_users, "user")
    return tf.stack([in_range(x[:, 0], n_users, "user"), in_range(x[:, 1], n_items, "item")], axis=1)


def index_endpoints(model: keras.Model, rated: np.ndarray) -> tuple[list, tuple]:
    """(endpoints, what they use) on indices: `serve` (what the Keras model takes), `score(user,
    item)` and `recommend(user, k)`, the user's training history left out of the top k. An index
    outside the model's users or items is an error, never another user's answer."""
    from solutions.common.serving_export import Endpoint, model_spec

    scorer = scorer_of(model)
    n_users, n_items = rated.shape
    table = TrainingRatings(rated.shape, name="user_history")
    table.table.assign(rated.astype(np.int8))
    output = "score" if is_retrieval(model) else "rating"

    def serve(x):
        return {"output_0": model(checked_inputs(x, n_users, n_items), training=False)}

    def score(user, item):
        return {output: scorer.pair_scores(in_range(user, n_users, "user"), in_range(item, n_items, "item"))}

    def recommend(user, k):
        user = in_range(user, n_users, "user")
        scores = scorer.all_item_scores(user) - 1e4 * table(user)
        values, indices = tf.math.top_k(scores, k)
        return {"scores": values, "items": indices}

    user = tf.TensorSpec((None,), tf.int32, name="user")
    return [Endpoint("serve", serve, (model_spec(model),)),
            Endpoint("score", score, (user, tf.TensorSpec((None,), tf.int32, name="item"))),
            Endpoint("recommend", recommend, (user, tf.TensorSpec((), tf.int32, name="k")))], (model, table)


def export_recommender(model: keras.Model, path: Path, rated: np.ndarray) -> Path:
    """saved_model/: the index endpoints, `serve` first (also serving_default)."""
    from solutions.common.serving_export import ServingModel, write_serving

    endpoints, track = index_endpoints(model, rated)
    return write_serving(ServingModel(tuple(endpoints), track=track), path)


def is_retrieval(model: keras.Model) -> bool:
    """A retrieval model takes user indices (and scores the catalogue); a rating model takes pairs."""
    return len(model.input_shape) == 1


def keras_top_k(model: keras.Model, rated: np.ndarray, users: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    head = top_k_model(model, rated, k)
    values, indices = head.predict(users.astype(np.int32), batch_size=256, verbose=0)
    return np.asarray(values), np.asarray(indices)


def check_top_k_tflite(run: Run, model: keras.Model, rated: np.ndarray, users: np.ndarray, k: int,
                       metadata: ModelInfo) -> dict[str, Any]:
    """Write recommend.tflite and compare its top-K with the Keras model's for `users`. A different
    index counts as the same answer when the two items' scores tie (within 1e-5)."""
    head = top_k_model(model, rated, k)
    with scratch_directory("topk") as tmp:
        content = convert_tflite(export_fixed_batch(head, Path(tmp) / "sm", batch=None,
                                                    output_names=("scores", "items")), "float32")
    # The converter may list the two outputs in either order: the metadata follows the file's
    # (item indices are the integer tensor, `metadata` names scores first).
    kinds = [np.issubdtype(o["dtype"], np.integer) for o in TFLiteRunner(content).interpreter.get_output_details()]
    scores, items = metadata.outputs
    content = with_metadata(content, dataclasses.replace(metadata, outputs=tuple(items if k else scores for k in kinds)))
    runner = TFLiteRunner(content)
    flex = [op for op in runner.op_names() if op.lower().startswith("flex")]
    if flex:
        raise UserError(f"{TOPK_FILE} contains Flex ops {flex}; it would not run on a device")
    values, indices = keras_top_k(model, rated, users, k)
    t_values, t_indices = tflite_top_k(runner, users)
    shown = values > -1e3  # the user's own items are pushed down by 1e4: scale by the others
    try:
        check_float_parity(TOPK_FILE, t_values[shown], values[shown])
    except ExportError:
        (run / TOPK_FILE).unlink(missing_ok=True)  # an earlier export's file is not this run's
        raise
    write_bytes_atomic(run / TOPK_FILE, content)
    same = np.all((t_indices == indices) | (np.abs(t_values - values) <= 1e-5), axis=1)
    return {"topk_tflite_bytes": len(content), "topk_k": k, "topk_users_checked": int(len(users)),
            "topk_identical_users": int(same.sum()), "topk_agreement": float(same.mean()),
            "topk_max_abs_score_diff": float(np.max(np.abs(t_values - values))),
            "topk_ops": runner.op_names(), "topk_metadata": describe_metadata(read_metadata(content))}


def tflite_top_k(runner: TFLiteRunner, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores, item indices) from recommend.tflite for a batch of user indices."""
    interpreter = runner.interpreter
    interpreter.resize_tensor_input(runner.input["index"], [len(users)])
    interpreter.allocate_tensors()
    interpreter.set_tensor(runner.input["index"], users.astype(np.int32))
    interpreter.invoke()
    outputs = [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]
    indices = next(o for o in outputs if np.issubdtype(o.dtype, np.integer))
    values = next(o for o in outputs if np.issubdtype(o.dtype, np.floating))
    return values, indices


def recommend(run: Run, solution, user: int, k: int, *, tflite: bool) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, item indices) for one user index from the run's TFLite file or its SavedModel."""
    if tflite:
        path = run / TOPK_FILE
        if not path.exists():
            raise UserError(f"{path} does not exist (the run was trained with --no-export)")
        values, indices = tflite_top_k(TFLiteRunner(path), np.array([user]))
        return values[0][:k], indices[0][:k]
    if not (run / "saved_model").exists():
        raise UserError(f"{run / 'saved_model'} does not exist (the run was trained with --no-export); "
                        f"export it first: solutions export {run.path}")
    loaded = tf.saved_model.load(str(run / "saved_model"))
    out = loaded.signatures["recommend"](user=tf.constant([user], tf.int32), k=tf.constant(k, tf.int32))
    return np.asarray(out["scores"])[0], np.asarray(out["items"])[0]
