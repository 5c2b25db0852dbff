"""recommendation's fixtures for the contract test: a ratings CSV with the usual defects."""

from pathlib import Path

from tests.solutions.recommendation.ratings import write_defective_csv


def case(tmp_path: Path) -> dict:
    write_defective_csv(tmp_path / "ratings.csv", rows=3000)
    return {"options": dict(data=str(tmp_path / "ratings.csv"), user_column="user_id", item_column="movie",
                            rating_column="stars", timestamp_column="ts", model="mf", dim=8, epochs=1, seed=0),
            "inputs": [], "predict": {"user": "196", "item": "242"}}  # a pair: every variant scores it
