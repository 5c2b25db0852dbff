"""recommendation's data source: ratings -> id maps -> (user, item) splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from solutions.common.errors import UserError
from solutions.recommendation.data import load_ratings


class RatingsSource:
    """Ratings from MovieLens or a CSV, as index pairs with their ratings."""

    def load_splits(self, options: dict[str, Any]):
        from solutions.common.catalogue import fingerprint_arrays, fingerprint_files
        from solutions.common.data import Split, Splits
        from solutions.recommendation.splits import IdMaps, split_ratings

        ratings = load_ratings(options)
        maps = IdMaps.load(Path(options["trained_run"])) if options.get("trained_run") else IdMaps.fit(ratings)
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
            "scale_from": ratings.scale_from,
            **({"interactions": True} if ratings.interactions else {}),
            "notes": [f"Interactions: {ratings.scale_from}" if ratings.interactions else
                      f"Rating scale {ratings.scale[0]:g}..{ratings.scale[1]:g} (from {ratings.scale_from})"],
            "cold_test_users": int(np.isin(made["test"].x[:, 0], made["train"].x[:, 0], invert=True).sum()),
            "cold_test_items": int(np.isin(made["test"].x[:, 1], made["train"].x[:, 1], invert=True).sum()),
        }
        fitted = {"maps": maps, "ratings": ratings}
        self.task_splits(made, source, fitted)
        return Splits(made["train"], made["val"], made["test"], ["rating"], source=source, fitted=fitted)

    def task_splits(self, made: dict, source: dict, fitted: dict) -> None:
        """What the task makes of the rating splits (ratings: they stay pairs with their ratings)."""

class RankingSource(RatingsSource):
    """Retrieval: the test split becomes users -> relevance over the whole catalogue (ranking.py)."""

    def load_splits(self, options: dict[str, Any]):
        """The splits; a two_stage plan on over TWO_STAGE_MAX_ITEMS items, or over
        TWO_STAGE_MAX_CELLS users x items, trains the two-tower model instead (said, and kept in the
        plan): two_stage ships two items x items matrices and the users x items history."""
        from solutions.recommendation.two_stage import TWO_STAGE_MAX_CELLS, TWO_STAGE_MAX_ITEMS

        splits = super().load_splits(options)
        n_users, n_items = splits.fitted["maps"].n_users, splits.fitted["maps"].n_items
        if options.get("model") != "two_stage":
            return splits
        why = None
        if n_items > TWO_STAGE_MAX_ITEMS:
            why = f"{n_items} items; two_stage holds two items x items matrices and takes up to {TWO_STAGE_MAX_ITEMS:,}"
        elif n_users * n_items > TWO_STAGE_MAX_CELLS:
            why = (f"{n_users} users x {n_items} items; two_stage holds the users x items history and takes up to "
                   f"{TWO_STAGE_MAX_CELLS:,} cells")
        if why:
            splits.resolved["model"] = "two_tower"
            splits.source["notes"].append(f"Model two_tower (from the data: {why})")
        return splits

    def task_splits(self, made: dict, source: dict, fitted: dict) -> None:
        from solutions.common.data import Split
        from solutions.recommendation.ranking import relevance_table

        n_items = fitted["maps"].n_items
        history = np.concatenate([made["train"].x, made["val"].x])
        fitted["val_relevance"] = relevance_table(made["val"].x, made["train"].x, n_items)
        users, table = relevance_table(made["test"].x, history, n_items)
        source["test_ratings"] = len(made["test"])
        made["test"] = Split(users, table)
