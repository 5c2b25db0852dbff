"""Acceptance on digits at default settings (about 10 minutes): `make test-slow`. A 10-trial search
finishes in under 10 minutes, its retrained best run matches or beats the default run's validation
loss, and the resident memory after trial 10 stays within 1.5x of that after trial 2."""

import json
import time

import pytest

from tests.conftest import run_cli, train_default_run


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason=(
    "open in issue 7: measured 448 s, but 5-epoch trials pick lr 0.01 / batch 128 whose retrained val_loss "
    "0.0383 is worse than the default's 0.0175, and TensorFlow's per-fit leak (keras-team/keras#17458, "
    "~50 MiB a trial) puts trial 10 at 1.55x trial 2; the fix is one process per trial"))
def test_ten_trial_digits_search_beats_the_default_run(tmp_path):
    default, _ = train_default_run(tmp_path / "default", "image-classification", "--quantize", "none")
    start = time.perf_counter()
    result = run_cli("tune", "image-classification", "--output", str(tmp_path / "search"))
    wall = time.perf_counter() - start
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "search" / "summary.json").read_text())
    tuned, baseline = summary["retrained"]["validation"]["val_loss"], default["validation"]["val_loss"]
    print(f"search + retraining {wall:.0f} s; val_loss tuned {tuned:.4f} vs default {baseline:.4f}; "
          f"memory by trial {summary['rss_mb_by_trial']}")
    assert summary["completed"] == 10 and wall < 600
    assert tuned <= baseline
    memory = summary["rss_mb_by_trial"]
    assert memory[9] <= 1.5 * memory[1]
