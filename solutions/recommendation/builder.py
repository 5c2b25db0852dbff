"""recommendation's model builder: AutoRec, matrix factorisation, the neural model, and the
two-stage and two-tower retrieval models, with their pipelines."""

from __future__ import annotations

from typing import Any

import numpy as np

AUTOREC_STEPS_PER_EPOCH = 10


class RecommenderBuilder:
    """Build, feed and finish the models of model.py and retrieval.py."""

    def _settings(self, options: dict[str, Any]) -> dict[str, Any]:
        kind = options["model"]
        dim = options.get("dim") or {"mf": 64, "neural": 32, "autorec": 0, "two_tower": 128}[kind]
        l2 = options.get("l2")
        if l2 is None:  # measured on u1 (README); autorec: lambda=200 of the paper's objective, per item
            l2 = {"mf": 5e-4, "neural": 1e-4, "autorec": 0.06, "two_tower": 0.0}[kind]
        return {"dim": dim, "l2": l2}

    def build_model(self, options: dict[str, Any], splits):
        from solutions.recommendation.model import build_model

        if options["model"] == "two_stage":  # the reranker's MLP heads; the exported model is made at the end
            from solutions.recommendation.two_stage import reranker_trainer

            data = two_stage_data(splits, options)
            trainer = reranker_trainer(data.x.shape[-1], units=options.get("units") or 64)
            trainer.get_layer("reranker").adapt(data.x)
            return trainer
        from solutions.recommendation.splits import side_features

        maps, scale = splits.fitted["maps"], splits.fitted["ratings"].scale
        settings = self._settings(options)
        item_features = user_features = None
        if options["model"] in ("neural", "two_tower") and options.get("side_features"):
            item_features, user_features = side_features(splits.fitted["ratings"], maps)
        if options["model"] == "two_tower":
            from solutions.recommendation.retrieval import (
                TwoTower,
                retrieval_trainer,
                sampling_probability,
            )

            tower = TwoTower(maps.n_users, maps.n_items, settings["dim"], temperature=options.get("temperature", 0.2),
                             item_features=item_features, user_features=user_features, l2=settings["l2"],
                             name="two_tower")
            correction = options.get("sampling_correction", True)
            return retrieval_trainer(tower, sampling_probability(splits.train.x[:, 1], maps.n_items)
                                     if correction else None)
        return build_model(options["model"], n_users=maps.n_users, n_items=maps.n_items, dim=settings["dim"],
                           offset=float(splits.train.y.mean()), low=scale[0], high=scale[1], l2=settings["l2"],
                           dropout=options["dropout"], item_features=item_features, user_features=user_features,
                           hidden=options["hidden"], user_side=not options.get("distribute"))

    def compile(self, model, optimizer) -> None:
        import keras

        from solutions.recommendation.model import MaskedRMSE, observed_squared_error

        if model.name == "recommendation_autorec_trainer":
            model.compile(optimizer=optimizer, loss=observed_squared_error, metrics=[MaskedRMSE(name="rmse")])
        elif model.name == "recommendation_two_stage_trainer":
            model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy())
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

        if options["model"] == "two_stage":  # candidates' features, each cut's beside the others'
            data = two_stage_data(splits, options)
            train = make_dataset(data.x, data.y, batch_size=options["batch_size"], training=True, seed=options["seed"],
                                 cast=None)
            repeats = data.x.shape[1]
            flat = data.val_features.reshape(-1, data.val_features.shape[-1])
            val = make_dataset(np.repeat(flat[:, None], repeats, 1), np.repeat(data.val_labels.reshape(-1, 1), repeats, 1),
                               batch_size=4096, cast=None)
            return train, val
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
        if options["model"] == "two_stage":
            return max(1, -(-len(two_stage_data(splits, options).x) // options["batch_size"]))
        return super().steps_per_epoch(splits, options)

    def epoch_callbacks(self, splits, options: dict[str, Any]) -> list:
        if options["model"] not in ("two_tower", "two_stage"):
            return []
        from solutions.recommendation.ranking import ValidationRecall

        if options["model"] == "two_stage":
            from solutions.recommendation.two_stage import candidate_scores

            data, n_items = two_stage_data(splits, options), splits.fitted["maps"].n_items
            users, relevance = splits.fitted["val_relevance"]

            def score(model, batch):
                rows = np.searchsorted(users, batch)
                return candidate_scores(model.get_layer("reranker"), data.val_items[rows], data.val_features[rows],
                                        n_items)

            return [ValidationRecall(users, relevance, score)]
        from solutions.recommendation.retrieval import tower_of

        users, relevance = splits.fitted["val_relevance"]
        return [ValidationRecall(users, relevance, lambda model, batch: tower_of(model).all_item_scores(batch))]

    def finalize_model(self, model, splits, options):
        """AutoRec becomes the factor model its linear decoders are (see model.py), its sides and
        the user + item bias model blended by least squares on the validation ratings; the
        two-tower trainer gives way to its tower (user -> every item's score); the two-stage
        reranker goes into the model that computes its features from the training and validation
        history (user -> every item's score)."""
        if options["model"] == "two_stage":
            from solutions.recommendation.two_stage import TwoStage, serving_model, stage_tables

            data = two_stage_data(splits, options)
            history = np.concatenate([splits.train.x, splits.val.x])
            layer = TwoStage.for_tables(stage_tables(history, data.side), candidates=data.candidates,
                                        repeats=data.x.shape[1], units=options.get("units") or 64, name="two_stage")
            layer.reranker.set_weights(model.get_layer("reranker").get_weights())
            return serving_model(layer), {}
        if options["model"] == "two_tower":
            from solutions.recommendation.retrieval import serving_model, tower_of

            return serving_model(tower_of(model)), {}
        if options["model"] != "autorec":
            return model, {}
        from solutions.recommendation.model import autorec_factors, autorec_scorer, fit_blend, side_scores
        from solutions.recommendation.splits import bias_baseline, rating_matrix

        low, high = splits.fitted["ratings"].scale
        matrix = rating_matrix(splits.train, splits.fitted["maps"])
        biases = bias_baseline(splits.train, splits.fitted["maps"])
        val = splits.val.x
        blend = fit_blend([side_scores(side, val) for side in autorec_factors(model, matrix)], biases(val), splits.val.y)
        return autorec_scorer(model, matrix, low=low, high=high, blend=blend, biases=biases), {"blend": blend.to_json()}


def two_stage_data(splits, options: dict[str, Any]):
    """The two-stage model's training and validation examples, made once per splits (they are the
    slow part: 3 x 5 EASE fits): kept in `splits.fitted`."""
    from types import SimpleNamespace

    from solutions.recommendation.two_stage import (CANDIDATES, REPEATS, candidate_examples, side_of, stage_tables,
                                                    training_examples)

    if "two_stage" not in splits.fitted:
        maps = splits.fitted["maps"]
        side = side_of(splits.fitted["ratings"], maps)
        candidates = min(CANDIDATES, maps.n_items)
        x, y = training_examples(splits.train.x, side, options["seed"], REPEATS, candidates)
        users, _ = splits.fitted["val_relevance"]
        val_items, val_features = candidate_examples(stage_tables(splits.train.x, side), users, candidates)
        held = np.zeros((maps.n_users, maps.n_items), bool)
        held[splits.val.x[:, 0], splits.val.x[:, 1]] = True
        splits.fitted["two_stage"] = SimpleNamespace(
            side=side, candidates=candidates, x=x, y=y, val_items=val_items, val_features=val_features,
            val_labels=held[users[:, None], val_items].astype(np.float32))
    return splits.fitted["two_stage"]
