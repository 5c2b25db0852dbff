"""Damaged runs and awkward inputs end with one line on stderr and exit status 2 (issue 14, point
10), relative paths are stored resolved (12), and class names cannot misalign labels.txt (13)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.solutions.test_cli import _run
from tests.conftest import write_digit_pngs


def _one_line(result, expected: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.startswith(("error:", "Traceback"))]
    assert result.returncode == 2 and len(lines) == 1 and expected in lines[0], result.stderr[-3000:]


@pytest.fixture
def run_copy(tmp_path, trained_run):
    target = tmp_path / "run"
    shutil.copytree(trained_run.path, target)
    return target


@pytest.fixture
def an_image(tmp_path):
    return next((write_digit_pngs(tmp_path / "imgs", per_class=1, classes=1) / "digit_0").iterdir())


def test_a_truncated_model_keras(run_copy, an_image):
    data = (run_copy / "model.keras").read_bytes()
    (run_copy / "model.keras").write_bytes(data[: len(data) // 2])
    _one_line(_run("predict", str(run_copy), str(an_image), cwd=run_copy.parent), "cannot be loaded")


@pytest.mark.parametrize("content", ["", "{not json", "\xff\xfe"])
def test_a_broken_config_json(run_copy, an_image, content):
    (run_copy / "config.json").write_text(content, encoding="latin-1")
    _one_line(_run("predict", str(run_copy), str(an_image), cwd=run_copy.parent), "is damaged")


def test_a_truncated_tflite_file(run_copy, an_image):
    data = (run_copy / "model.tflite").read_bytes()
    (run_copy / "model.tflite").write_bytes(data[:100])
    _one_line(_run("predict", str(run_copy), str(an_image), "--tflite", cwd=run_copy.parent), "not a valid TFLite model")


def test_output_under_an_existing_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    _one_line(_run("train", "image-classification", "--epochs", "1", "--output", str(tmp_path / "afile" / "run"),
                   cwd=tmp_path), "is a file, not a directory")


def test_a_file_name_that_is_not_utf8_trains_and_predicts(tmp_path):
    root = write_digit_pngs(tmp_path / "data", per_class=12, classes=2)
    odd = os.fsencode(root / "digit_0") + b"/caf\xe9.png"
    os.rename(root / "digit_0" / "0.png", odd)
    result = _run("train", "image-classification", "--data", str(root), "--epochs", "1", "--width", "8",
                  "--quantize", "none", "--output", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    result = _run("predict", str(tmp_path / "run"), os.fsdecode(odd), cwd=tmp_path)
    assert result.returncode == 0 and "caf" in result.stdout, result.stderr[-3000:]


def test_a_relative_data_path_is_stored_resolved(tmp_path):
    write_digit_pngs(tmp_path / "mine", per_class=12, classes=2)
    result = _run("train", "image-classification", "--data", "mine", "--epochs", "1", "--width", "8", "--no-export",
                  "--output", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["options"]["data"] == str((tmp_path / "mine").resolve())
    elsewhere = tmp_path / "elsewhere"
    write_digit_pngs(elsewhere / "mine", per_class=5, classes=2)  # same relative name, other images
    result = _run("evaluate", str(tmp_path / "run"), cwd=elsewhere)
    assert result.returncode == 0 and json.loads(result.stdout)["test_size"] > 0, result.stderr[-3000:]
    next((tmp_path / "mine" / "digit_0").iterdir()).unlink()  # the run's own data changed since
    _one_line(_run("evaluate", str(tmp_path / "run"), cwd=elsewhere), "not what")


def test_an_image_moved_into_another_class_folder_is_not_the_run_s_data(tmp_path):
    """A relabelling that keeps every file name, byte and the sorted order of the paths (digit_0's
    last file moved into digit_1, whose names sort after it) left the content fingerprint as it was;
    evaluate then scored the run on labels it was not trained on. The layout catches it."""
    root = write_digit_pngs(tmp_path / "mine", per_class=12, classes=2)
    for i in range(12):
        os.rename(root / "digit_1" / f"{i}.png", root / "digit_1" / f"z{i}.png")
    result = _run("train", "image-classification", "--data", str(root), "--epochs", "1", "--width", "8",
                  "--no-export", "--output", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    os.rename(root / "digit_0" / "9.png", root / "digit_1" / "9.png")
    _one_line(_run("evaluate", str(tmp_path / "run"), cwd=tmp_path), "sit in other folders")


def test_a_class_folder_with_a_line_break_is_refused(tmp_path):
    root = write_digit_pngs(tmp_path / "data", per_class=3, classes=2)
    os.rename(root / "digit_1", root / "digit\n1")
    _one_line(_run("train", "image-classification", "--data", str(root), "--output", str(tmp_path / "run"),
                   cwd=tmp_path), "line break")


def test_a_second_process_on_a_run_in_progress_is_refused(tmp_path):
    """The lock: a second --resume while the first still trains gets one line naming its PID."""
    from solutions.common.locks import DirectoryLock

    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / "config.json").write_text(json.dumps({"domain": "image-classification", "options": {}}))
    with DirectoryLock(partial, "training"):
        result = _run("train", "image-classification", "--resume", "--output", str(tmp_path / "run"), cwd=tmp_path)
    _one_line(result, f"in use by process {os.getpid()}")
