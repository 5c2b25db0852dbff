"""recommendation's export adapter: index inputs, the SavedModel with score/recommend signatures,
the id maps beside it and the top-K TFLite check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from solutions.common.rundir import Run


def history_table(splits) -> np.ndarray:
    """[users, items] 0/1: what the user rated before the test (training and validation ratings),
    which the top-K excludes."""
    maps = splits.fitted["maps"]
    table = np.zeros((maps.n_users, maps.n_items), np.int8)
    for part in (splits.train, splits.val):
        table[part.x[:, 0], part.x[:, 1]] = 1
    return table


def seen_verb(splits) -> str:
    """What the metadata says users did to the items their top-K leaves out: "rated", or for a table of
    interactions (`--rating-column none`) "interacted with"."""
    return "interacted with" if splits.fitted["ratings"].interactions else "rated"


def popular_items(splits, limit: int = 100) -> list[str]:
    """The most-rated items in training (the unknown user's fallback), as data ids."""
    counts = np.bincount(splits.train.x[:, 1], minlength=splits.fitted["maps"].n_items)
    order = np.argsort(-counts, kind="stable")[:limit]
    return [splits.fitted["maps"].items[i] for i in order]


def id_files(splits) -> tuple:
    """users.txt and items.txt (line i: the data's id of index i) and item_titles.txt, packed into
    each .tflite so that an app maps indices to ids without the kit."""
    from solutions.common.tflite_metadata import AssociatedFile

    maps, titles = splits.fitted["maps"], splits.fitted["ratings"].titles

    def lines(values) -> bytes:
        return "".join(f"{' '.join(str(v).split())}\n" for v in values).encode()

    users = AssociatedFile("users.txt", lines(maps.users), "The data's user id of each user index (line i).",
                           "TENSOR_VALUE_LABELS")
    items = AssociatedFile("items.txt", lines(maps.items), "The data's item id of each item index (line i).",
                           "TENSOR_AXIS_LABELS")
    named = AssociatedFile("item_titles.txt", lines(titles.get(i, "") for i in maps.items),
                           "The title of each item index (line i; empty when the data has none).", "DESCRIPTIONS")
    return users, items, named


def id_table(ids: list[str]):
    """The data's ids (strings) -> model indices (int32), -1 for an id the model does not know."""
    from solutions.common.serving_export import tf

    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(ids), tf.range(len(ids), dtype=tf.int32)), default_value=-1)


def id_instances(x: np.ndarray, maps) -> list:
    """Index inputs as a client sends them, in the data's own ids (strings): {"user_id",
    "item_id"} pairs, or user ids for retrieval."""
    if x.ndim == 1:
        return [maps.users[u] for u in x]
    return [{"user_id": maps.users[u], "item_id": maps.items[i]} for u, i in x]


def recommender_tensors(splits, task: str, k: int | None = None) -> tuple[list, list]:
    """What the metadata says of a recommender's tensors: index inputs with the id maps, and rating,
    item scores, or top-k scores and item indices."""
    from solutions.common.tflite_metadata import TensorInfo

    maps = splits.fitted["maps"]
    users, items, titles = id_files(splits)
    user_range = (0, maps.n_users - 1)
    user = TensorInfo("user", f"User index [batch] (0..{maps.n_users - 1}): line i of users.txt is the data's id "
                      "of index i; unknown users have none (the kit answers them with popular items). An index "
                      f"outside 0..{maps.n_users - 1}, -1 included, makes the interpreter's invoke fail (GATHER out "
                      "of bounds): it never answers for another user.",
                      value_range=user_range, dimension_names=("batch",), files=(users,))
    if k is not None:
        return [user], [
            TensorInfo("scores", f"The {k} best scores, best first, of items the user had not {seen_verb(splits)} "
                       "in training or validation.",
                       dimension_names=("batch", "rank")),
            TensorInfo("items", f"The item index of each of the {k} scores; line i of items.txt is the data's "
                       "id of item index i, of item_titles.txt its title.", value_range=(0, maps.n_items - 1),
                       dimension_names=("batch", "rank"), files=(items, titles))]
    if task == "retrieval":
        return [user], [TensorInfo("item_scores", "A score of every catalogue item for the user (higher: more "
                                   "likely next); axis 1 follows items.txt.", dimension_names=("batch", "item"),
                                   files=(items, titles))]
    low, high = splits.fitted["ratings"].scale
    pair = TensorInfo("user_item", f"Pairs [batch, 2] of (user index 0..{maps.n_users - 1}, item index "
                      f"0..{maps.n_items - 1}); users.txt and items.txt map indices to the data's ids. An index out "
                      "of range, -1 included, makes invoke fail (GATHER out of bounds).",
                      dimension_names=("batch", "user_item"), files=(users, items, titles))
    rating = TensorInfo("rating", f"The predicted rating of each pair, on the data's scale {low:g}..{high:g}.",
                        value_range=(low, high), dimension_names=("batch", "rating"))
    return [pair], [rating]


class RecommenderExport:
    """What the exported models take, and what ships beside them."""

    def tflite_tensors(self, splits, options, variant: str):
        return recommender_tensors(splits, self.task)

    def model_inputs(self, split) -> np.ndarray:
        return split.x.astype(np.int32)

    def export_saved_model(self, model, path: Path, splits) -> Path:
        from solutions.recommendation.export import export_recommender

        return export_recommender(model, path, history_table(splits))

    def tflite_source(self, model, saved_model_dir: Path, workdir: Path) -> Path:
        """The pair scorer (ratings) for the shared checks; the top-K model is written by run_checks."""
        from solutions.common.export import export_fixed_batch

        return export_fixed_batch(model, workdir / "pairs", batch=None)

    def serving_model(self, model, splits, fitted: dict, options):
        """serving_default on the data's ids (strings): rating model (user_id, item_id) -> rating,
        retrieval user_id -> a score per catalogue item (axis 1 in items.txt order); an unknown id
        is an error naming it. `top_k`: user_id -> the best K (--top-k) unseen item ids, titles and
        scores; an unknown user gets the most-rated items, with known_user false and score 0. The
        index signatures of saved_model/ (`serve`, `score`, `recommend`) keep their names."""
        from solutions.common.serving_export import Endpoint, ServingModel, tf
        from solutions.recommendation.export import index_endpoints, is_retrieval

        from solutions.recommendation.model import scorer_of

        maps = splits.fitted["maps"]
        titles = splits.fitted["ratings"].titles
        rated = history_table(splits)
        k = min(int(options.get("top_k") or 10), maps.n_items)
        counts = np.bincount(splits.train.x[:, 1], minlength=maps.n_items)
        popular = tf.constant(np.argsort(-counts, kind="stable")[:k].astype(np.int32))
        users, items = id_table(maps.users), id_table(maps.items)
        item_ids, item_titles = tf.constant(maps.items), tf.constant([titles.get(i, "") for i in maps.items])
        indexed, track = index_endpoints(model, rated)
        scorer, history = scorer_of(model), track[1]

        def known(table, ids, what: str):
            index = table.lookup(ids)
            missing = index < 0
            with tf.control_dependencies([tf.debugging.Assert(
                    tf.logical_not(tf.reduce_any(missing)), [f"unknown {what} id(s) (not in the data this model was trained on):",
                                                             tf.boolean_mask(ids, missing)], summarize=20)]):
                return tf.identity(index)

        user_spec = tf.TensorSpec([None], tf.string, name="user_id")
        if is_retrieval(model):
            default = Endpoint("serving_default", lambda user_id: {"scores": model(known(users, user_id, "user"),
                                                                                   training=False)}, (user_spec,))
        else:
            default = Endpoint(
                "serving_default",
                lambda user_id, item_id: {"rating": model(tf.stack([known(users, user_id, "user"),
                                                                    known(items, item_id, "item")], axis=1),
                                                          training=False)},
                (user_spec, tf.TensorSpec([None], tf.string, name="item_id")))

        def top_k(user_id):
            index = users.lookup(user_id)
            is_known = index >= 0
            safe = tf.maximum(index, 0)
            values, best = tf.math.top_k(scorer.all_item_scores(safe) - 1e4 * history(safe), k)
            chosen = tf.where(is_known[:, None], best, popular[None, :])
            return {"item_ids": tf.gather(item_ids, chosen), "titles": tf.gather(item_titles, chosen),
                    "scores": tf.where(is_known[:, None], values, tf.zeros_like(values)), "known_user": is_known}

        return ServingModel((default, Endpoint("top_k", top_k, (user_spec,)), *indexed),
                            track=(*track, users, items), instances=id_instances(splits.test.x, maps))

    def write_artifacts(self, run: Run, splits, model, fitted: dict) -> None:
        splits.fitted["maps"].save(run.path, splits.fitted["ratings"], popular_items(splits))

    def run_checks(self, run: Run, splits, model, options) -> dict[str, Any]:
        """recommend.tflite (user index -> top-K items and scores, builtin ops only) against Keras for
        every test user."""
        from solutions.common.edge import run_model_info
        from solutions.recommendation.export import check_top_k_tflite

        k = int(options.get("top_k") or 10)
        users = splits.test.x if splits.test.x.ndim == 1 else np.unique(splits.test.x[:, 0])
        info = run_model_info(self, run.path, splits.source.get("name", "?"), f"{self.name} top-{k}",
                              f"the top {k} items for a user, the items {seen_verb(splits)} in training left out",
                              recommender_tensors(splits, self.task, k))
        return check_top_k_tflite(run, model, history_table(splits), users, k, info)


class RankingExport(RecommenderExport):
    """Retrieval: the exported model takes user indices."""

    def load_model(self, run):
        """The run's model, its tower `frozen` as training leaves it now: a run saved before the
        catalogue was folded in NumPy re-exports correctly too (README, "Reliability")."""
        model = super().load_model(run)  # TensorFlow imported quietly first
        from solutions.recommendation.retrieval import TwoTower, serving_model, tower_of

        if not any(isinstance(layer, TwoTower) for layer in model.layers):
            return model  # two_stage: its tables are the model's constants already
        tower = tower_of(model)
        return model if tower.catalogue is not None else serving_model(tower)

    def quantize_apart(self, model) -> bool:
        """The two-stage model's int8 file aborts the interpreter at its first invoke (SIGABRT, u1,
        TensorFlow 2.21, 2026-12-07): it is made and tried apart, the crash costing the variant only."""
        from solutions.recommendation.two_stage import TwoStage

        return any(isinstance(layer, TwoStage) for layer in model.layers) or super().quantize_apart(model)

    def representative_samples(self, splits) -> np.ndarray:
        return np.unique(splits.train.x[:, 0])[:300].astype(np.int32)
