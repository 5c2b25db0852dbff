"""Real MovieLens 100K ratings written as the CSVs users bring, defects included."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.conftest import require_data


def ml100k_frame(rows: int | None = None) -> pd.DataFrame:
    frame = pd.read_csv(require_data("ml-100k/u.data"), sep="\t", names=["user_id", "movie", "stars", "ts"])
    return frame.iloc[:rows].reset_index(drop=True) if rows else frame


def write_defective_csv(path: Path, rows: int = 6000) -> dict[str, int]:
    """Ratings with one missing rating, one 7-star rating, one duplicated (user, item) pair (the later
    row rates 1) and one row without a user. Returns the counts a loader must report."""
    frame = ml100k_frame(rows).astype({"stars": float, "user_id": object})
    frame.loc[10, "stars"] = None
    frame.loc[20, "stars"] = 7
    frame.loc[30, "user_id"] = None
    again = frame.iloc[[40]].copy()
    again["stars"], again["ts"] = 1.0, again["ts"] + 1000
    pd.concat([frame, again], ignore_index=True).to_csv(path, index=False)
    return {"rows_without_rating_dropped": 1, "ratings_outside_1_5_rejected": 1,
            "duplicate_user_item_pairs_kept_latest": 1, "rows_without_user_or_item_dropped": 1}
