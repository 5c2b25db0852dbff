"""Acceptance on rt-polarity with `--cv 10` at default settings (about 5 minutes on 2 cores), and on a
2,000-sentence subsample against TF-IDF (under a minute): `make test-slow`."""

import csv
import random
from pathlib import Path

import pytest

from tests.mediapipe_clients import check_text_edge
from tests.conftest import require_data, train_default_run
from tests.serving_clients import check_serving_under_load


@pytest.mark.slow
def test_default_rt_polarity_cross_validation_meets_the_targets(tmp_path):
    require_data("rt-polaritydata/rt-polarity.pos")
    metrics, wall = train_default_run(tmp_path / "run", "sentiment", "--cv", "10")
    cv = metrics["cross_validation"]
    print(f"cv {cv['summary']}")

    assert wall <= 15 * 60
    assert cv["folds"] == 10 and len(cv["per_fold"]) == 10
    # no pretrained vectors; words and characters: 0.8030 / 0.8018 / 0.8004 on seeds 0 / 1 / 2, where
    # the words-only model gave 0.7929 (seed 0) and 0.7927 (seed 42)
    assert cv["summary"]["accuracy"]["mean"] >= 0.797
    assert (tmp_path / "run" / "char_vocab.txt").exists()
    assert metrics["checks"]["tokenizer_agreement"] == 1.0  # every test sentence, identical ids
    export = metrics["export"]
    f32 = export["float32"]
    assert f32["agreement"] >= 0.995 and f32["max_abs_diff"] <= 1e-4
    quantized = export["dynamic"]
    assert quantized["bytes"] <= 0.3 * f32["bytes"]
    assert quantized["test"]["accuracy"] >= metrics["test"]["accuracy"] - 0.01
    # MediaPipe's TextClassifier on fold 1's test sentences. Its regex tokenizer gives word ids only, so
    # the edge model has no character view: seed 42, fold 1: 0.7816 vs the default's 0.8041
    print(check_text_edge(tmp_path / "run", within=0.03))
    assert export["serving"]["max_abs_diff"] <= 1e-5  # raw sentences through serving_default
    check_serving_under_load(tmp_path / "run", tmp_path)


def balanced_subsample(folder: Path, size: int, seed: int) -> Path:
    """`size` rt-polarity sentences, half of each class, drawn with `seed`, as a user's CSV."""
    root = require_data("rt-polaritydata/rt-polarity.pos").parent
    pos, neg = ((root / f"rt-polarity.{name}").read_text(encoding="latin-1").splitlines() for name in ("pos", "neg"))
    draw = random.Random(seed * 7919 + size)
    rows = [(t, "positive") for t in draw.sample(pos, size // 2)] + [(t, "negative") for t in draw.sample(neg, size // 2)]
    draw.shuffle(rows)
    path = folder / f"rt{size}-s{seed}.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([("text", "label"), *rows])
    return path


@pytest.mark.slow
@pytest.mark.ci
def test_default_holds_its_own_against_tfidf_on_a_small_text_set(tmp_path):
    """2,000 sentences, 5-fold: the default must not lose more than a point to the in-run TF-IDF
    logistic regression (measured: 0.7295 vs 0.6975; over 1,000-3,000 sentences and seeds 0-2 the
    default averages 0.712 vs 0.689, never below it)."""
    data = balanced_subsample(tmp_path, 2000, 0)
    metrics, _ = train_default_run(tmp_path / "run", "sentiment", "--data", str(data), "--text-column", "text",
                                   "--label-column", "label", "--cv", "5", "--no-export")
    cv = metrics["cross_validation"]
    model, tfidf = cv["summary"]["accuracy"]["mean"], cv["baselines_mean"]["tfidf_logistic_regression"]["accuracy"]
    print(f"5-fold accuracy: default {model:.4f}, tfidf_logistic_regression {tfidf:.4f}")
    assert model >= tfidf - 0.01
