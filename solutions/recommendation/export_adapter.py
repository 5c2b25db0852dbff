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


def popular_items(splits, limit: int = 100) -> list[str]:
    """The most-rated items in training (the unknown user's fallback), as data ids."""
    counts = np.bincount(splits.train.x[:, 1], minlength=splits.fitted["maps"].n_items)
    order = np.argsort(-counts, kind="stable")[:limit]
    return [splits.fitted["maps"].items[i] for i in order]


class RecommenderExport:
    """What the exported models take, and what ships beside them."""

    def model_inputs(self, split) -> np.ndarray:
        return split.x.astype(np.int32)

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


class RankingExport(RecommenderExport):
    """Retrieval: the exported model takes user indices."""

    def representative_samples(self, splits) -> np.ndarray:
        return np.unique(splits.train.x[:, 0])[:300].astype(np.int32)
