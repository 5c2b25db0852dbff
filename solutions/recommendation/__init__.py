"""`recommendation`: how a user will rate an item, and the K items to recommend, shipped as a
SavedModel with `score(user, item)` and `recommend(user, k)` and a builtin-op TFLite top-K model.

What is the domain's own: rating sources and repairs (data.py), id maps and splits (splits.py),
the models and the top-K head (model.py), the SavedModel signatures and the TFLite top-K check
(export.py), the retrieval task's two-tower model (retrieval.py) and its top-K metrics and baselines
(ranking.py). Training, resuming, export checks and the report are the shared layer.

`--task rating` scores (user, item) pairs with a rating; `--task retrieval` scores every item of the
catalogue for a user (recall@10, NDCG@10 against popularity and random rankers).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from solutions.common import ranges
from solutions.common.errors import UserError
from solutions.common.rundir import Run
from solutions.common.solution import DatasetInfo, Solution, register
from solutions.recommendation.data import LOADERS, load_ratings

RATING_MODELS = ("autorec", "mf", "neural")
RETRIEVAL_MODELS = ("two_tower",)
MODEL_NAMES = RATING_MODELS + RETRIEVAL_MODELS
SPLITS = ("u1", "random", "temporal")


@register
class Recommendation(Solution):
    name = "recommendation"
    summary = "predict ratings and recommend top-K items; SavedModel score/recommend, TFLite top-K"
    default_dataset = "movielens-100k"
    datasets = (
        DatasetInfo("movielens-100k", "MovieLens 100K, 100,000 ratings by 943 users of 1682 movies (ml-100k/)"),
        DatasetInfo("movielens-1m", "MovieLens 1M, 1,000,209 ratings by 6040 users of 3706 movies (ml-1m/)"),
        DatasetInfo("movielens-latest-small", "MovieLens latest small, 100,836 ratings, 0.5-5 stars (ml-latest-small/)"),
    )
    models = MODEL_NAMES
    default_model = "autorec"  # rating: the only one under 0.91 RMSE on u1 here (README); retrieval: two_tower
    layers_module = "solutions.recommendation.model"
    monitor = "val_rmse"
    monitor_mode = "min"
    headline_metric = "rmse"
    train_defaults = {"epochs": 100, "patience": 10, "batch_size": 256, "learning_rate": 2e-3, "val_split": 0.05,
                      "test_split": 0.2}

    # --- options -----------------------------------------------------------------------------
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--task", choices=("rating", "retrieval"), default="rating",
                            help="rating: predict a user's rating of an item; retrieval: rank the catalogue "
                                 "for a user (two-tower, in-batch softmax)")
        parser.add_argument("--model", choices=self.models, default=None,
                            help=f"rating: {', '.join(RATING_MODELS)} (default autorec); retrieval: two_tower")
        parser.add_argument("--split", choices=SPLITS, default=None,
                            help="u1: the publisher's u1.base/u1.test (movielens-100k, the default there); "
                                 "random: seeded; temporal: each user's latest ratings are the test")
        parser.add_argument("--user-column", default="user")
        parser.add_argument("--item-column", default="item")
        parser.add_argument("--rating-column", default="rating")
        parser.add_argument("--timestamp-column", default=None)
        parser.add_argument("--rating-scale", default=None, help="LOW,HIGH of a CSV's ratings (default 1,5)")
        parser.add_argument("--dim", type=ranges.POSITIVE, default=None,
                            help="factors (mf) or embedding size (neural, two_tower)")
        parser.add_argument("--hidden", type=ranges.POSITIVE, default=500, help="autorec code size")
        parser.add_argument("--l2", type=ranges.NON_NEGATIVE_REAL, default=None, help="weight regularisation")
        parser.add_argument("--dropout", type=ranges.DROPOUT, default=0.2, help="neural")
        parser.add_argument("--side-features", action="store_true",
                            help="neural, two_tower: add item genres and user age group / occupation")
        parser.add_argument("--temperature", type=ranges.POSITIVE_REAL, default=0.1, help="two_tower: softmax temperature")
        parser.add_argument("--sampling-correction", action=argparse.BooleanOptionalAction, default=True,
                            help="two_tower: subtract log(item frequency) from the in-batch logits (logQ)")
        parser.add_argument("--top-k", type=ranges.POSITIVE, default=10, help="items the TFLite model returns")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--user", default=None, help="the user id (as in the data) to recommend for")
        parser.add_argument("--k", type=ranges.POSITIVE, default=10)
        parser.add_argument("--item", default=None, help="score this item id for --user instead of recommending")

    def search_space(self, hp, options: dict[str, Any]) -> dict[str, Any]:
        """Per task and model: AutoRec code size and weight decay; factor/embedding size, l2 and
        dropout; the two-tower's embedding size and temperature."""
        from solutions.common.search_space import optimisation

        task = options.get("task") or "rating"
        model = options.get("model") or ("two_tower" if task == "retrieval" else "autorec")
        if model == "autorec":  # full-batch: the batch size does not apply
            return {"hidden": hp.Choice("hidden", [250, 500, 750]),
                    "l2": hp.Float("l2", 0.01, 0.3, sampling="log"),
                    "learning_rate": hp.Float("learning_rate", 5e-4, 5e-3, sampling="log")}
        if model == "two_tower":
            return {"dim": hp.Choice("dim", [32, 64, 128]),
                    "temperature": hp.Float("temperature", 0.05, 0.3, sampling="log"),
                    **optimisation(hp, lr=(3e-4, 5e-3), batches=[128, 256, 512, 1024])}
        values = {"dim": hp.Choice("dim", [16, 32, 64, 128]), "l2": hp.Float("l2", 1e-5, 1e-2, sampling="log")}
        if model == "neural":
            values["dropout"] = hp.Float("dropout", 0.0, 0.5, step=0.1)
        return {**values, **optimisation(hp, lr=(3e-4, 1e-2), batches=[128, 256, 512])}

    # --- data --------------------------------------------------------------------------------
    def check_data_source(self, options: dict[str, Any]) -> None:
        if options.get("data"):
            path = Path(options["data"]).expanduser()
            if not path.is_file():
                raise UserError(f"{path} is not a file (give a CSV of user, item, rating)")
            scale = options.get("rating_scale") or "1,5"
            try:
                low, high = (float(v) for v in str(scale).split(","))
            except ValueError:
                raise UserError(f"--rating-scale {scale!r}: give LOW,HIGH, e.g. 1,5") from None
            if not low < high:
                raise UserError(f"--rating-scale {scale!r}: LOW must be below HIGH")
            from solutions.recommendation.data import read_csv  # columns checked before TensorFlow loads

            read_csv(path, user_column=options.get("user_column", "user"), item_column=options.get("item_column", "item"),
                     rating_column=options.get("rating_column", "rating"),
                     timestamp_column=options.get("timestamp_column"), scale=(low, high))
        elif options["dataset"] not in LOADERS:
            raise UserError(f"unknown dataset {options['dataset']!r} for recommendation; known: "
                            f"{', '.join(LOADERS)}, or --data FILE.csv")
        split = options.get("split") or self.default_split(options)
        if split == "u1" and options.get("dataset") != "movielens-100k":
            raise UserError("--split u1 is the publisher's split of movielens-100k; use random or temporal")
        if options.get("top_k", 10) < 1:
            raise UserError("--top-k must be at least 1")
        task, model = options.get("task", "rating"), options.get("model")
        allowed = RETRIEVAL_MODELS if task == "retrieval" else RATING_MODELS
        if model is not None and model not in allowed:
            raise UserError(f"--model {model} does not fit --task {task}; choose from {', '.join(allowed)}")
        if options.get("temperature", 0.1) <= 0:
            raise UserError("--temperature must be positive")

    def resolve(self, options) -> dict[str, Any]:
        """The split, task and model a run without those flags gets."""
        task = options.get("task") or "rating"
        return {"split": options.get("split") or self.default_split(options), "task": task,
                "model": options.get("model") or ("two_tower" if task == "retrieval" else "autorec")}

    @staticmethod
    def default_split(options: dict[str, Any]) -> str:
        return "u1" if options.get("dataset") == "movielens-100k" and not options.get("data") else "random"

    def load_splits(self, options: dict[str, Any]):
        from solutions.common.catalogue import fingerprint_arrays, fingerprint_files
        from solutions.common.data import Split, Splits
        from solutions.recommendation.splits import IdMaps, split_ratings

        ratings = load_ratings(options)
        maps = IdMaps.load(Path(options["id_maps_dir"])) if options.get("id_maps_dir") else IdMaps.fit(ratings)
        users, items = maps.user_index(ratings.users), maps.item_index(ratings.items)
        if (users < 0).any() or (items < 0).any():
            raise UserError(f"{int((users < 0).sum())} ratings are by users and {int((items < 0).sum())} of items "
                            "that the run's model does not know")
        parts, rule = split_ratings(ratings, options["split"], users=users, val_fraction=options["val_split"],
                                    test_fraction=options["test_split"], seed=options["seed"])
        pairs = np.stack([users, items], axis=1).astype(np.int32)
        made = {name: Split(pairs[idx], ratings.ratings[idx]) for name, idx in parts.items()}
        source = {
            "name": ratings.name,
            "fingerprint": fingerprint_files(ratings.files) if ratings.files else
            fingerprint_arrays(pairs, ratings.ratings),
            "split": rule,
            "repairs": dict(ratings.repairs),
            "users": maps.n_users, "items": maps.n_items, "ratings": len(ratings),
            "scale": list(ratings.scale),
            "cold_test_users": int(np.isin(made["test"].x[:, 0], made["train"].x[:, 0], invert=True).sum()),
            "cold_test_items": int(np.isin(made["test"].x[:, 1], made["train"].x[:, 1], invert=True).sum()),
        }
        fitted = {"maps": maps, "ratings": ratings}
        if options["task"] == "retrieval":  # test: users -> relevance over the catalogue (ranking.py)
            from solutions.recommendation.ranking import relevance_table

            history = np.concatenate([made["train"].x, made["val"].x])
            fitted["val_relevance"] = relevance_table(made["val"].x, made["train"].x, maps.n_items)
            users, table = relevance_table(made["test"].x, history, maps.n_items)
            source["test_ratings"] = len(made["test"])
            made["test"] = Split(users, table)
        return Splits(made["train"], made["val"], made["test"], ["rating"], source=source, fitted=fitted)

    def pinned_options(self, run: Run) -> dict[str, Any]:
        return {"id_maps_dir": str(run.path)}

    # --- model -------------------------------------------------------------------------------
    def _settings(self, options: dict[str, Any]) -> dict[str, Any]:
        kind = options["model"]
        dim = options.get("dim") or {"mf": 64, "neural": 32, "autorec": 0, "two_tower": 64}[kind]
        l2 = options.get("l2")
        if l2 is None:  # measured on u1 (README); autorec: lambda=200 of the paper's objective, per item
            l2 = {"mf": 5e-4, "neural": 1e-4, "autorec": 0.06, "two_tower": 0.0}[kind]
        return {"dim": dim, "l2": l2}

    def build_model(self, options: dict[str, Any], splits):
        from solutions.recommendation.model import build_model
        from solutions.recommendation.splits import side_features

        maps, scale = splits.fitted["maps"], splits.fitted["ratings"].scale
        settings = self._settings(options)
        item_features = user_features = None
        if options["model"] in ("neural", "two_tower") and options.get("side_features"):
            item_features, user_features = side_features(splits.fitted["ratings"], maps)
        if options["model"] == "two_tower":
            from solutions.recommendation.retrieval import TwoTower, retrieval_trainer, sampling_probability

            tower = TwoTower(maps.n_users, maps.n_items, settings["dim"], temperature=options.get("temperature", 0.1),
                             item_features=item_features, user_features=user_features, l2=settings["l2"],
                             name="two_tower")
            correction = options.get("sampling_correction", True)
            return retrieval_trainer(tower, sampling_probability(splits.train.x[:, 1], maps.n_items)
                                     if correction else None)
        return build_model(options["model"], n_users=maps.n_users, n_items=maps.n_items, dim=settings["dim"],
                           offset=float(splits.train.y.mean()), low=scale[0], high=scale[1], l2=settings["l2"],
                           dropout=options["dropout"], item_features=item_features, user_features=user_features,
                           hidden=options["hidden"])

    def compile(self, model, optimizer) -> None:
        import keras

        from solutions.recommendation.model import MaskedRMSE, observed_squared_error

        if model.name == "recommendation_autorec_trainer":
            model.compile(optimizer=optimizer, loss=observed_squared_error, metrics=[MaskedRMSE(name="rmse")])
        elif model.name == "recommendation_retrieval_trainer":
            from solutions.recommendation.retrieval import in_batch_softmax_loss

            model.compile(optimizer=optimizer, loss=in_batch_softmax_loss)
        else:
            model.compile(optimizer=optimizer, loss=keras.losses.MeanSquaredError(),
                          metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])

    def training_datasets(self, splits, options: dict[str, Any]):
        """Pairs for mf/neural; for autorec, whole items: each item's training ratings over all users,
        the whole catalogue per step (full batch, as AutoRec is trained), ten steps per epoch."""
        from solutions.common.pipeline import make_dataset
        from solutions.common.runtime import import_tensorflow
        from solutions.recommendation.splits import rating_matrix

        if options["model"] == "two_tower":  # positives only: the loss makes the batch's other items negatives
            train = make_dataset(splits.train.x, np.zeros(len(splits.train), np.float32),
                                 batch_size=options["batch_size"], training=True, seed=options["seed"], cast=None)
            val = make_dataset(splits.val.x, np.zeros(len(splits.val), np.float32), batch_size=options["batch_size"],
                               cast=None)
            return train, val
        if options["model"] != "autorec":
            train = make_dataset(splits.train.x, splits.train.y, batch_size=options["batch_size"], training=True,
                                 seed=options["seed"], cast=None)
            val = make_dataset(splits.val.x, splits.val.y, batch_size=4096, cast=None)
            return train, val
        tf = import_tensorflow()
        maps = splits.fitted["maps"]
        train_matrix = rating_matrix(splits.train, maps)
        val_matrix = rating_matrix(splits.val, maps)
        n_items = len(train_matrix)
        train = tf.data.Dataset.from_tensors((train_matrix, train_matrix)).repeat(AUTOREC_STEPS_PER_EPOCH)
        val = tf.data.Dataset.from_tensor_slices((train_matrix, val_matrix)).batch(n_items)
        return train, val

    def steps_per_epoch(self, splits, options: dict[str, Any]) -> int:
        if options["model"] == "autorec":
            return AUTOREC_STEPS_PER_EPOCH
        return super().steps_per_epoch(splits, options)

    def epoch_callbacks(self, splits, options: dict[str, Any]) -> list:
        if options["model"] != "two_tower":
            return []
        from solutions.recommendation.ranking import ValidationRecall
        from solutions.recommendation.retrieval import tower_of

        users, relevance = splits.fitted["val_relevance"]
        return [ValidationRecall(users, relevance, lambda model, batch: tower_of(model).all_item_scores(batch))]

    def monitoring(self, options: dict[str, Any]) -> tuple[str, str]:
        if options.get("task") == "retrieval":
            return "val_recall_at_10", "max"
        return self.monitor, self.monitor_mode

    def headline(self, options: dict[str, Any]) -> str:
        return "recall_at_10" if options.get("task") == "retrieval" else self.headline_metric

    def finalize_model(self, model, splits, options):
        """AutoRec becomes the factor model its linear decoder is (see model.py); the two-tower
        trainer gives way to its tower (user -> every item's score)."""
        if options["model"] == "two_tower":
            from solutions.recommendation.retrieval import serving_model, tower_of

            return serving_model(tower_of(model)), {}
        if options["model"] != "autorec":
            return model, {}
        from solutions.recommendation.model import autorec_scorer
        from solutions.recommendation.splits import rating_matrix

        low, high = splits.fitted["ratings"].scale
        return autorec_scorer(model, rating_matrix(splits.train, splits.fitted["maps"]), low=low, high=high), {}

    def model_inputs(self, split) -> np.ndarray:
        return split.x.astype(np.int32)

    def representative_samples(self, splits) -> np.ndarray:
        if splits.test.x.ndim == 1:  # retrieval: user indices
            return np.unique(splits.train.x[:, 0])[:300].astype(np.int32)
        return splits.train.x[:300].astype(np.int32)

    def agreement(self, reference: np.ndarray, other: np.ndarray, fitted: dict) -> float:
        """Ratings: share within 0.01 stars of Keras's. Retrieval: share of users whose top-10 of the
        catalogue is Keras's (ties aside)."""
        if reference.shape[1] > 1:
            from solutions.recommendation.ranking import same_top_k

            return float(np.mean(same_top_k(reference, other, np.zeros(reference.shape, np.int8))))
        return float(np.mean(np.abs(other - reference) <= 0.01))

    # --- evaluation --------------------------------------------------------------------------
    def test_metrics(self, y_true: np.ndarray, y_score: np.ndarray, fitted: dict) -> dict[str, float]:
        if y_true.ndim == 2:  # retrieval: relevance over the catalogue
            from solutions.recommendation.ranking import ranking_scores

            return ranking_scores(y_true, y_score)
        return rating_scores(y_true, y_score[:, 0])

    def baselines(self, splits) -> dict[str, dict[str, float]]:
        """Ratings: global mean, and the regularised user + item bias model (Surprise's BaselineOnly:
        0.960 on u1). Retrieval: the most-rated items, and a random ranking."""
        from solutions.recommendation.splits import bias_baseline

        if splits.test.x.ndim == 1:
            from solutions.recommendation.ranking import popularity_scores, random_scores, ranking_scores

            relevance, n_items = splits.test.y, splits.fitted["maps"].n_items
            return {"popularity": ranking_scores(relevance, popularity_scores(splits.train.x[:, 1], n_items,
                                                                               len(relevance))),
                    "random": ranking_scores(relevance, random_scores(len(relevance), n_items, seed=0))}
        low, high = splits.fitted["ratings"].scale
        test = splits.test
        mean = np.full(len(test), splits.train.y.mean())
        biases = np.clip(bias_baseline(splits.train, splits.fitted["maps"])(test.x), low, high)
        return {"global_mean": rating_scores(test.y, mean), "user_item_bias": rating_scores(test.y, biases)}

    # --- export ------------------------------------------------------------------------------
    def export_saved_model(self, model, path: Path, splits) -> Path:
        from solutions.recommendation.export import export_recommender

        return export_recommender(model, path, history_table(splits))

    def tflite_source(self, model, saved_model_dir: Path, workdir: Path) -> Path:
        """The pair scorer (ratings) for the shared checks; the top-K model is written by run_checks."""
        from solutions.common.export import export_fixed_batch

        return export_fixed_batch(model, workdir / "pairs", batch=None)

    def write_artifacts(self, run: Run, splits, model, fitted: dict) -> None:
        splits.fitted["maps"].save(run.path, splits.fitted["ratings"], popular_items(splits))

    def run_checks(self, run: Run, splits, model, options) -> dict[str, Any]:
        """recommend.tflite (user index -> top-K items and scores, builtin ops only) against Keras for
        every test user."""
        from solutions.recommendation.export import check_top_k_tflite

        k = int(options.get("top_k") or 10)
        users = splits.test.x if splits.test.x.ndim == 1 else np.unique(splits.test.x[:, 0])
        return check_top_k_tflite(run, model, history_table(splits), users, k)

    # --- outputs -----------------------------------------------------------------------------
    def plots(self, run: Run, splits, y_score: np.ndarray, model, fitted: dict) -> list[str]:
        from solutions.recommendation.plots import rating_errors, recall_curve
        from solutions.recommendation.ranking import popularity_scores
        from solutions.recommendation.splits import bias_baseline

        if splits.test.x.ndim == 1:
            relevance = splits.test.y
            popular = popularity_scores(splits.train.x[:, 1], relevance.shape[1], len(relevance))
            return [recall_curve(run / "recall_at_k.png", relevance, {"model": y_score, "popularity": popular})]
        low, high = splits.fitted["ratings"].scale
        biases = np.clip(bias_baseline(splits.train, splits.fitted["maps"])(splits.test.x), low, high)
        return [rating_errors(run / "rating_errors.png", splits.test.y, y_score[:, 0], biases)]

    def report_notes(self, splits) -> list[str]:
        s = splits.source
        if splits.test.x.ndim == 1:
            return [f"Split: {s['split']}. {s['users']} users, {s['items']} items, {s['ratings']} ratings. "
                    f"Retrieval: {len(splits.test)} test users with {s['test_ratings']} held-out ratings; each "
                    f"user's whole catalogue is ranked, items rated in training or validation excluded; "
                    f"recall@10 = held-out items in the top 10 / the user's held-out items, averaged over users. "
                    f"{s['cold_test_users']} test ratings are by users without training ratings."]
        return [f"Split: {s['split']}. {s['users']} users, {s['items']} items, {s['ratings']} ratings on a "
                f"{s['scale'][0]:g}-{s['scale'][1]:g} scale; {s['cold_test_users']} test ratings by users and "
                f"{s['cold_test_items']} of items without training ratings (scored from biases)."]

    def usage(self, run_path: Path) -> str:
        return f"""```
solutions predict {run_path} --user 42 --k 10          # top 10 unseen items with titles and scores
solutions predict {run_path} --user 42 --item 50       # predicted rating (retrieval: the item's score)
solutions predict {run_path} --user 42 --k 10 --tflite # the same from recommend.tflite
```
`saved_model/` signatures: `score(user, item)` (int32 indices -> `rating`, or for retrieval
`score`), `recommend(user, k)` (int32 index, k -> scores and item indices, items rated in training
or validation excluded), `serving_default` on what `model.keras` takes (`[batch, 2]` pairs ->
ratings; retrieval: user indices `[batch]` -> scores of every item). `recommend.tflite` maps a user
index `[batch]` to the top-K scores and item indices (builtin ops only). Indices <-> the data's ids
and titles: `id_maps.json`; an unknown user
gets the most-rated items (`popular_items` in `id_maps.json`)."""

    def predict(self, run: Run, inputs: list[str], options: dict[str, Any], variant: str | None) -> list[dict[str, Any]]:
        """For `user`: the top `k` unseen items (SavedModel `recommend`, or recommend.tflite for a
        TFLite variant), or with `item` that pair's predicted rating (retrieval: its score); an
        unknown user gets the most-rated items."""
        from solutions.recommendation.splits import IdMaps

        if options.get("user") is None:
            raise UserError("give --user ID (and --k, or --item ID)")
        user_id, k = str(options["user"]), options.get("k", 10)
        maps = IdMaps.load(run.path)
        info = json.loads((run / "id_maps.json").read_text())
        titles = info.get("titles", {})
        user = maps.user_index(np.array([user_id]))[0]
        if user < 0:
            return [{"user": user_id, "rank": rank, "item": item, "title": titles.get(item, item), "score": None,
                     "fallback": "popularity"} for rank, item in enumerate(info["popular_items"][:k], 1)]
        if options.get("item") is not None:
            from solutions.common.prediction import run_outputs
            from solutions.recommendation.export import is_retrieval

            item_id = str(options["item"])
            item = maps.item_index(np.array([item_id]))[0]
            if item < 0:
                raise UserError(f"item {item_id} is unknown to this model")
            retrieval = run.config["options"].get("task") == "retrieval" or is_retrieval(self.load_model(run))
            x = np.array([user], np.int32) if retrieval else np.array([[user, item]], np.int32)
            out = run_outputs(run, self, x, variant)
            value = float(out[0, item] if retrieval else out[0, 0])
            return [{"user": user_id, "item": item_id, "title": titles.get(item_id, "?"),
                     ("score" if retrieval else "rating"): value}]
        from solutions.recommendation.export import recommend

        if variant not in (None, "keras", "float32"):
            raise UserError(f"top-K recommendations come from the SavedModel or recommend.tflite (float32); "
                            f"variant {variant} scores pairs: use it with --item")
        scores, items = recommend(run, self, user, k, tflite=variant == "float32")
        answers = []
        for rank, (score, item) in enumerate(zip(scores, items), 1):
            raw = maps.items[item]
            answers.append({"user": user_id, "rank": rank, "item": raw, "title": titles.get(raw, raw),
                            "score": float(score), "returned": len(items), "asked": k})
        return answers

    def describe(self, answers: list[dict[str, Any]], options: dict[str, Any]) -> list[str]:
        if not answers:
            return []
        first = answers[0]
        if first.get("fallback"):
            return [f"user {first['user']} is unknown to this model: the most-rated items instead (popularity fallback)"
                    ] + [f"{a['rank']:>3}. {a['title']}  (id {a['item']})" for a in answers]
        if "rank" not in first:
            if "rating" in first:
                return [f"user {first['user']}, item {first['item']} ({first['title']}): predicted rating "
                        f"{first['rating']:.2f}"]
            return [f"user {first['user']}, item {first['item']} ({first['title']}): score {first['score']:.2f} "
                    "(cosine / temperature; the ranking, not a rating)"]
        lines = []
        if first["returned"] < first["asked"]:
            lines.append(f"(recommend.tflite returns its fixed top {first['returned']}; the SavedModel takes any k)")
        return lines + [f"{a['rank']:>3}. {a['score']:.2f}  {a['title']}  (id {a['item']})" for a in answers]


AUTOREC_STEPS_PER_EPOCH = 10


def rating_scores(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = predicted - y
    return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}


def history_table(splits) -> np.ndarray:
    """[users, items] 0/1: what the user rated before the test (training and validation ratings),
    which the top-K excludes."""
    maps = splits.fitted["maps"]
    table = np.zeros((maps.n_users, maps.n_items), np.int8)
    for part in (splits.train, splits.val):
        table[part.x[:, 0], part.x[:, 1]] = 1
    return table


def popular_items(splits, limit: int = 100) -> list[str]:
    """The most-rated items in training (the unknown user's fallback), as data ids."""
    counts = np.bincount(splits.train.x[:, 1], minlength=splits.fitted["maps"].n_items)
    order = np.argsort(-counts, kind="stable")[:limit]
    return [splits.fitted["maps"].items[i] for i in order]
