"""Issue 7's acceptance on digits at default settings (about 10 minutes): `make test-slow`.

A 10-trial search finishes in under 10 minutes, its best configuration retrained from scratch
matches or beats the default run's val_loss, and the tuner process's resident memory after trial
10 stays within 1.5x of that after trial 2 (each trial runs in a process of its own)."""

import json
import time

import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_ten_trial_digits_search_beats_the_default_run_in_ten_minutes(tmp_path):
    default = run_cli("train", "image-classification", "--quantize", "none", "--output", str(tmp_path / "default"))
    assert default.returncode == 0, default.stderr
    default_val = json.loads((tmp_path / "default" / "metrics.json").read_text())["validation"]["val_loss"]

    start = time.perf_counter()
    result = run_cli("tune", "image-classification", "--output", str(tmp_path / "search"))
    wall = time.perf_counter() - start
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "search" / "summary.json").read_text())
    retrained = summary["retrained"]
    tuner_rss, peaks = summary["tuner_rss_mb_by_trial"], summary["trial_peak_mb_by_trial"]
    print(f"search {summary['search_seconds']} s, retraining {retrained['seconds']} s, command {wall:.0f} s; "
          f"val_loss retrained {retrained['validation']['val_loss']:.4f} vs default {default_val:.4f}; "
          f"tuner memory by trial {tuner_rss}; trial peaks {peaks}")
    assert summary["trials"] == summary["completed"] == 10 and len(tuner_rss) == len(peaks) == 10
    assert summary["search_seconds"] < 600
    assert retrained["validation"]["val_loss"] <= default_val
    assert tuner_rss[9] <= 1.5 * tuner_rss[1]
    assert retrained["test"]["accuracy"] >= 0.95 and (tmp_path / "search" / "best" / "model.tflite").exists()
