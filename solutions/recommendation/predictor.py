"""recommendation's predictions: top-K items or one pair's score for a user."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from solutions.common.errors import UserError
from solutions.common.rundir import Run


class RecommenderPredictor:
    """Recommendations for a user from a run."""

    def predict(self, run: Run, inputs: list[str], options: dict[str, Any], variant: str | None) -> list[dict[str, Any]]:
        """For `user`: the top `k` unseen items (SavedModel `recommend`, or recommend.tflite for a
        TFLite variant), or with `item` that pair's predicted rating (retrieval: its score); an
        unknown user gets the most-rated items."""
        from solutions.recommendation.data import clean_id
        from solutions.recommendation.splits import IdMaps

        if options.get("user") is None:
            raise UserError("give --user ID (and --k, or --item ID)")
        user_id, k = clean_id(options["user"]), options.get("k", 10)  # stripped, as training keyed it
        maps = IdMaps.load(run.path)
        info = json.loads((run / "id_maps.json").read_text())
        titles = info.get("titles", {})
        user = maps.user_index(np.array([user_id]))[0]
        if user < 0:
            return [{"user": user_id, "rank": rank, "item": item, "title": titles.get(item, item), "score": None,
                     "fallback": "popularity"} for rank, item in enumerate(info["popular_items"][:k], 1)]
        if options.get("item") is not None:
            from solutions.common.prediction import run_outputs

            item_id = clean_id(options["item"])
            item = maps.item_index(np.array([item_id]))[0]
            if item < 0:
                raise UserError(f"item {item_id} is unknown to this model")
            retrieval = self.task == "retrieval"
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
                    "(the ranking's score, not a rating)"]
        lines = []
        if first["returned"] < first["asked"]:
            lines.append(f"(recommend.tflite returns its fixed top {first['returned']}; the SavedModel takes any k)")
        return lines + [f"{a['rank']:>3}. {a['score']:.2f}  {a['title']}  (id {a['item']})" for a in answers]
