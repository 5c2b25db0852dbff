"""A 10-trial search on digits at default settings (about 8 minutes): `make test-slow`.

Asserts what holds: the search and the retraining of its best configuration finish in under 10
minutes, every trial completes with its memory recorded, and the retrained run is a finished,
exported run. Not asserted, because it does not hold yet (issue 7, README "Tuning"): that the
retrained best beats the default run's val_loss (5-epoch trials favour a high learning rate), and
that memory after trial 10 stays within 1.5x of trial 2 (TensorFlow leaks ~50 MiB per fit)."""

import json
import math
import time

import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_ten_trial_digits_search_and_retraining_finish_in_ten_minutes(tmp_path):
    start = time.perf_counter()
    result = run_cli("tune", "image-classification", "--output", str(tmp_path / "search"))
    wall = time.perf_counter() - start
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "search" / "summary.json").read_text())
    print(f"search + retraining {wall:.0f} s; memory by trial {summary['rss_mb_by_trial']}")
    assert wall < 600
    assert summary["trials"] == summary["completed"] == 10 and len(summary["rss_mb_by_trial"]) == 10
    retrained = summary["retrained"]
    assert math.isfinite(retrained["validation"]["val_loss"]) and retrained["test"]["accuracy"] >= 0.95
    assert (tmp_path / "search" / "best" / "model.tflite").exists()
