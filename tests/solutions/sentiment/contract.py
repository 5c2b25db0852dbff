"""sentiment's fixtures for the contract test: a small CSV of real-looking reviews."""

from pathlib import Path

from tests.solutions.sentiment.corpus import write_csv


def case(tmp_path: Path) -> dict:
    path = write_csv(tmp_path / "reviews.csv", 60)
    return {"options": dict(data=str(path), text_column="review", label_column="sentiment", epochs=1, seed=0),
            "inputs": ["a gorgeous , moving film", "dull and far too long"], "predict": {}}
