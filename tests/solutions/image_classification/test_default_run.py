"""Acceptance on real data at default settings: `solutions train image-classification` on digits.

Marked slow (about 2 minutes on 2 cores); `make test-slow` runs it.
"""

import json

import pytest

from tests.mediapipe_clients import check_image_edge
from tests.conftest import train_default_run
from tests.serving_clients import check_serving_under_load


@pytest.mark.slow
@pytest.mark.ci
def test_default_digits_run_meets_the_targets(tmp_path):
    out = tmp_path / "run"
    metrics, _ = train_default_run(out, "image-classification")
    config = json.loads((out / "config.json").read_text())

    assert metrics["test"]["accuracy"] >= 0.98
    assert config["seed"] == 42 and "stratified" in config["source"]["split"]
    assert metrics["monitor"] == "val_loss"  # early stopping never sees the test split

    export = metrics["export"]
    assert export["saved_model"]["max_abs_diff"] <= 1e-5
    assert export["float32"]["max_abs_diff"] <= 1e-4
    assert export["int8"]["bytes"] <= 0.3 * export["float32"]["bytes"]
    assert export["int8"]["test"]["accuracy"] >= metrics["test"]["accuracy"] - 0.01
    assert metrics["pipeline_samples_per_second"] >= 3 * metrics["train_samples_per_second"]
    for name in ("model.keras", "saved_model", "model.tflite", "model_float16.tflite", "model_dynamic.tflite",
                 "model_int8.tflite", "model_edge.tflite", "model_edge_uint8.tflite", "config.json", "history.csv", "report.md", "training_curves.png",
                 "confusion_matrix.png", "test_predictions.png"):
        assert (out / name).exists(), name
    print(check_image_edge(out))  # MediaPipe's ImageClassifier on both edge files
    assert export["serving"]["max_abs_diff"] <= 1e-5  # the test split's PNG files through serving_default
    check_serving_under_load(out, tmp_path)
