"""User mistakes end with exactly one line on stderr and exit status 2 (acceptance 6)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_digit_pngs


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "solutions", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def _one_line_error(result: subprocess.CompletedProcess, expected: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]


@pytest.mark.parametrize("case, expected", [
    ("missing", "does not exist"),
    ("empty", "no images found"),
    ("one_class", "only one class"),
])
def test_bad_data_paths(tmp_path, case, expected):
    target = tmp_path / "data"
    if case == "empty":
        target.mkdir()
    elif case == "one_class":
        write_digit_pngs(tmp_path / "src", per_class=3, classes=1)
        target.mkdir()
        (tmp_path / "src" / "digit_0").rename(target / "only")
    _one_line_error(_run("train", "image-classification", "--data", str(target), cwd=tmp_path), expected)


def test_unknown_dataset_domain_and_option(tmp_path):
    _one_line_error(_run("train", "image-classification", "--dataset", "imagenet22k", cwd=tmp_path), "unknown dataset")
    _one_line_error(_run("train", "speech", cwd=tmp_path), "invalid choice")
    _one_line_error(_run("train", "image-classification", "--epochs", "x", cwd=tmp_path), "invalid int")
    _one_line_error(_run("evaluate", str(tmp_path / "nope"), cwd=tmp_path), "does not exist")
    _one_line_error(_run("predict", str(tmp_path / "nope"), "a.png", cwd=tmp_path), "does not exist")


def test_list_shows_domains_and_is_quick(tmp_path):
    result = _run("list", cwd=tmp_path)
    assert result.returncode == 0 and "image-classification" in result.stdout and "digits (default)" in result.stdout
    assert "tensorflow" not in result.stderr.lower()
