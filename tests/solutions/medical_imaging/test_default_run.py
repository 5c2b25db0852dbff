"""Acceptance on PneumoniaMNIST at default settings (about 11 minutes on 2 cores): `make test-slow`."""

import json

import pytest

from tests.mediapipe_clients import check_image_edge
from tests.conftest import require_data, train_default_run


@pytest.mark.slow
def test_default_pneumoniamnist_run_meets_the_targets(tmp_path):
    require_data("medmnist/pneumoniamnist.npz")
    out = tmp_path / "run"
    metrics, wall = train_default_run(out, "medical-imaging")
    test = metrics["test"]

    assert wall <= 15 * 60
    assert metrics["sizes"] == {"train": 4708, "val": 524, "test": 624}  # the publisher's split
    assert test["auc"] >= 0.97 and test["accuracy"] >= 0.90
    # Temperature scaling minimises the validation NLL; on 624 test images ECE moves by about 0.01
    # with the CPU's kernels: an AVX-512 EPYC gives 0.0215 calibrated vs 0.0208 uncalibrated (the
    # same figures before and after issue 14's change), other CPUs 0.0254 vs 0.0335. So: well
    # calibrated, and never materially worse than without the temperature.
    assert test["ece"] < 0.04 and test["ece"] <= test["ece_uncalibrated"] + 0.002
    export = metrics["export"]
    assert export["float32"]["max_abs_diff"] <= 1e-4
    assert export["int8"]["test"]["auc"] >= test["auc"] - 0.01
    decision = json.loads((out / "decision.json").read_text())
    assert decision["rule"] == "Youden's J" and decision["threshold"] == test["threshold"]
    print(check_image_edge(out))  # MediaPipe's ImageClassifier on both edge files
