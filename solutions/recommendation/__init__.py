"""`recommendation`: how a user will rate an item, and the K items to recommend, shipped as a
SavedModel with `score(user, item)` and `recommend(user, k)` and a builtin-op TFLite top-K model.

Assembled from its parts: options.py, source.py, builder.py, evaluation.py, export_adapter.py,
report.py and predictor.py; beside them data.py (rating sources and repairs), splits.py (id maps,
splits), model.py, two_stage.py (EASE's candidates reranked, the retrieval default), retrieval.py
(two towers), ranking.py (top-K metrics), export.py (signatures,
top-K TFLite). Training, resuming, export checks and the report are the shared layer.
"""

from __future__ import annotations

from solutions.common.solution import DatasetInfo, Solution, register
from solutions.recommendation.builder import RecommenderBuilder
from solutions.recommendation.evaluation import RankingEvaluation, RatingEvaluation
from solutions.recommendation.export_adapter import RankingExport, RecommenderExport
from solutions.recommendation.options import MODEL_NAMES, RecommendationOptions
from solutions.recommendation.predictor import RecommenderPredictor
from solutions.recommendation.report import RankingReport, RatingReport
from solutions.recommendation.source import RankingSource, RatingsSource


@register
class Recommendation(RecommendationOptions, RatingsSource, RecommenderBuilder, RatingEvaluation, RecommenderExport,
                     RatingReport, RecommenderPredictor, Solution):
    """The rating task (`--task rating`, the default); `for_plan` hands a retrieval plan to its own object."""

    name = "recommendation"
    summary = "predict ratings and recommend top-K items; SavedModel score/recommend, TFLite top-K"
    default_dataset = "movielens-100k"
    datasets = (
        DatasetInfo("movielens-100k", "MovieLens 100K, 100,000 ratings by 943 users of 1682 movies (ml-100k/)"),
        DatasetInfo("movielens-1m", "MovieLens 1M, 1,000,209 ratings by 6040 users of 3706 movies (ml-1m/)"),
        DatasetInfo("movielens-latest-small", "MovieLens latest small, 100,836 ratings, 0.5-5 stars (ml-latest-small/)"),
    )
    models = MODEL_NAMES
    default_model = "autorec"  # rating: item + user AutoRec blended, 0.899 RMSE on u1 (README); retrieval: two_stage
    layers_module = "solutions.recommendation.model"
    task, monitor, monitor_mode, headline_metric = "rating", "val_rmse", "min", "rmse"
    legacy_defaults = {"units": None}  # saved before two_stage: their retrieval default was two_tower
    train_defaults = {"epochs": 100, "patience": 10, "batch_size": 256, "learning_rate": 2e-3, "val_split": 0.05,
                      "test_split": 0.2}

    def for_plan(self, plan):
        """The task's own object, chosen once: ratings (this one) or retrieval."""
        return Retrieval() if plan.get("task") == "retrieval" else self


class Retrieval(RankingSource, RankingEvaluation, RankingExport, RankingReport, Recommendation):
    """The retrieval task (`--task retrieval`): every item of the catalogue ranked for a user."""

    task = "retrieval"

    def for_plan(self, plan):
        return self
