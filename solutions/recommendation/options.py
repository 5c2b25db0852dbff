"""recommendation's options: task, model, split and column flags, their checks, what a run
without them gets, and the search space."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from solutions.common import ranges
from solutions.common.errors import UserError
from solutions.recommendation.data import LOADERS, check_interactions_task

RATING_MODELS = ("autorec", "mf", "neural")


RETRIEVAL_MODELS = ("two_stage", "two_tower")


MODEL_NAMES = RATING_MODELS + RETRIEVAL_MODELS


SPLITS = ("u1", "random", "temporal")


class RecommendationOptions:
    """The flags of `solutions train recommendation` and `predict`, checked before TensorFlow loads."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--task", choices=("rating", "retrieval"), default="rating",
                            help="rating: predict a user's rating of an item; retrieval: rank the catalogue "
                                 "for a user")
        parser.add_argument("--model", choices=self.models, default=None,
                            help=f"rating: {', '.join(RATING_MODELS)} (default autorec); retrieval: two_stage (EASE's top 100 "
                                 "reordered by an MLP; the default up to 2,500 items) or two_tower (in-batch softmax; "
                                 "the default above)")
        parser.add_argument("--split", choices=SPLITS, default=None,
                            help="u1: the publisher's u1.base/u1.test (movielens-100k, the default there); "
                                 "random: seeded; temporal: each user's latest ratings are the test")
        parser.add_argument("--user-column", default="user")
        parser.add_argument("--item-column", default="item")
        parser.add_argument("--rating-column", default="rating",
                            help="none: a table of interactions without ratings (clicks, plays, purchases), each row "
                                 "one, for --task retrieval (with --dataset: its ratings read as interactions)")
        parser.add_argument("--timestamp-column", default=None)
        parser.add_argument("--rating-scale", default=None,
                            help="LOW,HIGH of a CSV's ratings; ratings outside are rejected (default: the data's own "
                                 "lowest and highest rating, a rare outlying typo left out; printed and kept in "
                                 "config.json)")
        parser.add_argument("--dim", type=ranges.POSITIVE, default=None,
                            help="factors (mf) or embedding size (neural, two_tower; two_stage has none)")
        parser.add_argument("--hidden", type=ranges.POSITIVE, default=500, help="autorec code size")
        parser.add_argument("--l2", type=ranges.NON_NEGATIVE_REAL, default=None, help="weight regularisation")
        parser.add_argument("--dropout", type=ranges.DROPOUT, default=0.2, help="neural")
        parser.add_argument("--side-features", action="store_true",
                            help="neural, two_tower: add item genres and user age group / occupation")
        parser.add_argument("--temperature", type=ranges.POSITIVE_REAL, default=0.2,
                            help="two_tower: softmax temperature (0.2: recall@10 on u1 1.93-1.99x popularity, 0.1: 1.66x)")
        parser.add_argument("--sampling-correction", action=argparse.BooleanOptionalAction, default=True,
                            help="two_tower: subtract log(item frequency) from the in-batch logits (logQ)")
        parser.add_argument("--units", type=ranges.POSITIVE, default=64,
                            help="two_stage: the width of the reranker's MLP layers")
        parser.add_argument("--top-k", type=ranges.POSITIVE, default=10, help="items the TFLite model returns")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--user", default=None, help="the user id (as in the data) to recommend for")
        parser.add_argument("--k", type=ranges.POSITIVE, default=10)
        parser.add_argument("--item", default=None, help="score this item id for --user instead of recommending")

    def search_space(self, hp, options: dict[str, Any]) -> dict[str, Any]:
        """Per task and model: AutoRec code size and weight decay; factor/embedding size, l2 and
        dropout; the two-tower's embedding size and temperature."""
        from solutions.common.search_space import optimisation

        model = self.model_for(options)
        if model == "autorec":  # full-batch: the batch size does not apply
            return {"hidden": hp.Choice("hidden", [250, 500, 750]),
                    "l2": hp.Float("l2", 0.01, 0.3, sampling="log"),
                    "learning_rate": hp.Float("learning_rate", 5e-4, 5e-3, sampling="log")}
        if model == "two_stage":  # the reranker's MLP heads (the candidates and their features are fixed)
            return {"units": hp.Choice("units", [32, 64, 128]),
                    **optimisation(hp, lr=(3e-4, 5e-3), batches=[128, 256, 512, 1024])}
        if model == "two_tower":
            return {"dim": hp.Choice("dim", [32, 64, 128]),
                    "temperature": hp.Float("temperature", 0.05, 0.3, sampling="log"),
                    **optimisation(hp, lr=(3e-4, 5e-3), batches=[128, 256, 512, 1024])}
        values = {"dim": hp.Choice("dim", [16, 32, 64, 128]), "l2": hp.Float("l2", 1e-5, 1e-2, sampling="log")}
        if model == "neural":
            values["dropout"] = hp.Float("dropout", 0.0, 0.5, step=0.1)
        return {**values, **optimisation(hp, lr=(3e-4, 1e-2), batches=[128, 256, 512])}

    def check_data_source(self, options: dict[str, Any]) -> None:
        if options.get("data"):
            path = Path(options["data"]).expanduser()
            if not path.is_file():
                raise UserError(f"{path} is not a file (give a CSV of user, item, rating)")
            from solutions.recommendation.data import read_user_csv

            read_user_csv({**options, "data": str(path)})  # a missing column is answered before TensorFlow loads
        elif options["dataset"] not in LOADERS:
            raise UserError(f"unknown dataset {options['dataset']!r} for recommendation; known: "
                            f"{', '.join(LOADERS)}, or --data FILE.csv")
        elif not options.get("trained_run"):  # a finished run is read as it trained (the flag was once ignored here)
            check_interactions_task(options)  # --rating-column none reads a named dataset's ratings as interactions
        split = options.get("split") or self.default_split(options)
        if split == "u1" and options.get("dataset") != "movielens-100k":
            raise UserError("--split u1 is the publisher's split of movielens-100k; use random or temporal")
        if options.get("top_k", 10) < 1:
            raise UserError("--top-k must be at least 1")
        task, model = options.get("task", "rating"), options.get("model")
        allowed = RETRIEVAL_MODELS if task == "retrieval" else RATING_MODELS
        if model is not None and model not in allowed:
            raise UserError(f"--model {model} does not fit --task {task}; choose from {', '.join(allowed)}")
        if options.get("temperature", 0.2) <= 0:
            raise UserError("--temperature must be positive")
        if task == "retrieval" and not options.get("trained_run") and self.model_for(options) == "two_stage":
            tower_only = [flag for flag, given in (
                ("--dim", options.get("dim") is not None), ("--side-features", bool(options.get("side_features"))),
                ("--temperature", options.get("temperature", 0.2) != 0.2),
                ("--no-sampling-correction", options.get("sampling_correction") is False)) if given]
            if tower_only:  # silently ignored by the two-stage model otherwise
                raise UserError(f"{', '.join(tower_only)} set{'s' if len(tower_only) == 1 else ''} the two-tower model, "
                                "not two_stage (the retrieval default up to 2,500 items); add --model two_tower")

    def resolve(self, options) -> dict[str, Any]:
        """The split, task and model a run without those flags gets."""
        task = options.get("task") or "rating"
        split = options.get("split") or self.default_split(options)
        if split == "u1" and options.get("trained_run") and options.get("data"):
            split = "random"  # a `--split u1` run scored on a CSV (evaluate): the seeded rule; u1 is ml-100k's own
        return {"split": split, "task": task, "model": self.model_for(options)}

    @staticmethod
    def model_for(options: dict[str, Any]) -> str:
        """The model a run without --model trains. A run or search saved before the two-stage model
        has no `units` (read as None, `legacy_defaults`): it trained, and resumes with, the two-tower
        model. (Above TWO_STAGE_MAX_ITEMS items the data turns two_stage into two_tower: source.py.)"""
        if options.get("model"):
            return options["model"]
        if (options.get("task") or "rating") != "retrieval":
            return "autorec"
        return "two_stage" if options.get("units") is not None else "two_tower"

    @staticmethod
    def default_split(options: dict[str, Any]) -> str:
        return "u1" if options.get("dataset") == "movielens-100k" and not options.get("data") else "random"
