"""`solutions.api` as a notebook uses it: runs that survive a change of directory, and clear errors
for inputs that are not files."""

import json

import numpy as np
import pytest

import solutions


def _finished_run(root):
    run = root / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"domain": "image-classification", "options": {}, "plan": {}}))
    (run / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.5}}))
    (run / "model.keras").write_bytes(b"")
    return run


def test_a_run_loaded_by_a_relative_path_survives_a_change_of_directory(tmp_path, monkeypatch):
    _finished_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    run = solutions.load("runs/r")
    monkeypatch.chdir(tmp_path.parent)
    assert run.path == tmp_path / "runs" / "r" and run.path.is_absolute()
    assert run.metrics["test"]["accuracy"] == 0.5  # was FileNotFoundError: 'runs/r/metrics.json'


def test_an_in_memory_image_is_a_clear_error(tmp_path):
    run = solutions.load(_finished_run(tmp_path))
    with pytest.raises(solutions.UserError, match="file paths .* not a ndarray: save the image"):
        run.predict([np.zeros((8, 8))])
