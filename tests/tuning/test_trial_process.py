"""A trial whose process fails says so, instead of leaving the search without a result."""

import pytest

from solutions.tuning.trial_process import RESULT_FILE, TrialProcessError, run_trial_process


def test_a_failing_trial_process_raises_a_clear_error_and_leaves_no_stale_result(tmp_path):
    (tmp_path / RESULT_FILE).write_text('{"history": {}}')  # from an interrupted earlier run
    spec = {"domain": "no-such-domain", "options": {"seed": 1}, "hyperparameters": {}, "epochs": 1,
            "checkpoint": str(tmp_path / "checkpoint.weights.h5"), "objective": ("val_loss", "min")}
    with pytest.raises(TrialProcessError, match="exited with status 1; its traceback is above"):
        run_trial_process(spec, tmp_path)
    assert not (tmp_path / RESULT_FILE).exists()
