"""Acceptance on PneumoniaMNIST at default settings (about 11 minutes on 2 cores): `make test-slow`."""

import json
import time

import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_default_pneumoniamnist_run_meets_the_targets(tmp_path):
    out = tmp_path / "run"
    start = time.perf_counter()
    result = run_cli("train", "medical-imaging", "--output", str(out))
    wall = time.perf_counter() - start
    print(result.stdout)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["test"]
    print(f"wall {wall:.0f} s; test {test}")

    assert wall <= 15 * 60
    assert metrics["sizes"] == {"train": 4708, "val": 524, "test": 624}  # the publisher's split
    assert test["auc"] >= 0.97 and test["accuracy"] >= 0.90
    assert test["ece"] < test["ece_uncalibrated"]
    export = metrics["export"]
    assert export["float32"]["max_abs_diff"] <= 1e-4
    assert export["int8"]["test"]["auc"] >= test["auc"] - 0.01
    decision = json.loads((out / "decision.json").read_text())
    assert decision["rule"] == "Youden's J" and decision["threshold"] == test["threshold"]
