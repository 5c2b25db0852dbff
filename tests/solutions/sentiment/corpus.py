"""Small real corpora for the sentiment tests: the first sentences of rt-polarity."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.conftest import require_data


def sentences(per_class: int) -> tuple[list[str], list[str]]:
    """(negative, positive) real sentences, `per_class` of each."""
    neg = require_data("rt-polaritydata/rt-polarity.neg").read_text(encoding="utf-8").splitlines()[:per_class]
    pos = require_data("rt-polaritydata/rt-polarity.pos").read_text(encoding="utf-8").splitlines()[:per_class]
    return neg, pos


def write_csv(path: Path, per_class: int = 60, *, text="review", label="sentiment", delimiter=",") -> Path:
    neg, pos = sentences(per_class)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow([label, text])
        for n, p in zip(neg, pos):
            writer.writerow(["negative", n])
            writer.writerow(["positive", p])
    return path
