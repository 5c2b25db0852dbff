"""recommendation's report: rating errors or recall@K plots, notes, usage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from solutions.common.hooks import ReportText
from solutions.common.rundir import Run


class RatingReport:
    """Ratings: predicted against true ratings, beside the bias model's."""

    def plots(self, run: Run, splits, y_score: np.ndarray, model, fitted: dict) -> list[str]:
        from solutions.recommendation.plots import rating_errors
        from solutions.recommendation.splits import bias_baseline

        low, high = splits.fitted["ratings"].scale
        biases = np.clip(bias_baseline(splits.train, splits.fitted["maps"])(splits.test.x), low, high)
        return [rating_errors(run / "rating_errors.png", splits.test.y, y_score[:, 0], biases)]

    def report_text(self, splits, run_path: Path) -> ReportText:
        """Notes on the split and the scale; usage of the signatures and recommend.tflite."""
        return ReportText(f"{self.name} on {splits.source.get('name')}", _rating_notes(splits), _usage(run_path))


class RankingReport:
    """Retrieval: recall@K of the model against popularity."""

    def plots(self, run: Run, splits, y_score: np.ndarray, model, fitted: dict) -> list[str]:
        from solutions.recommendation.plots import recall_curve
        from solutions.recommendation.ranking import popularity_scores

        relevance = splits.test.y
        popular = popularity_scores(splits.train.x[:, 1], relevance.shape[1], len(relevance))
        return [recall_curve(run / "recall_at_k.png", relevance, {"model": y_score, "popularity": popular})]

    def report_text(self, splits, run_path: Path) -> ReportText:
        """Notes on the split and how recall@10 is counted; usage of the signatures and recommend.tflite."""
        return ReportText(f"{self.name} on {splits.source.get('name')}", _ranking_notes(splits), _usage(run_path))


def _usage(run_path: Path) -> str:
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


def _rating_notes(splits) -> list[str]:
    s = splits.source
    return [f"Split: {s['split']}. {s['users']} users, {s['items']} items, {s['ratings']} ratings on a "
            f"{s['scale'][0]:g}-{s['scale'][1]:g} scale; {s['cold_test_users']} test ratings by users and "
            f"{s['cold_test_items']} of items without training ratings (scored from biases)."]


def _ranking_notes(splits) -> list[str]:
    from solutions.recommendation.data import IMPLICIT

    s = splits.source
    unit = "interactions" if s.get("interactions") or s.get("scale_from") == IMPLICIT else "ratings"  # clicks, plays
    return [f"Split: {s['split']}. {s['users']} users, {s['items']} items, {s['ratings']} {unit}. "
            f"Retrieval: {len(splits.test)} test users with {s['test_ratings']} held-out {unit}; each "
            f"user's whole catalogue is ranked, items seen in training or validation excluded; "
            f"recall@10 = held-out items in the top 10 / the user's held-out items, averaged over users. "
            f"{s['cold_test_users']} test {unit} are by users without training {unit}."]
