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
    _one_line_error(_run("train", "image-classification", "--epochs", "x", cwd=tmp_path), "is not a whole number")
    _one_line_error(_run("evaluate", str(tmp_path / "nope"), cwd=tmp_path), "does not exist")
    _one_line_error(_run("predict", str(tmp_path / "nope"), "a.png", cwd=tmp_path), "does not exist")


def test_list_shows_domains_and_is_quick(tmp_path):
    result = _run("list", cwd=tmp_path)
    assert result.returncode == 0 and "image-classification" in result.stdout and "digits (default)" in result.stdout
    assert "tensorflow" not in result.stderr.lower()


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in this process: range checks happen before TensorFlow, so this stays fast."""
    from solutions.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("domain, option, value", [
    ("image-classification", "--width", "0"),
    ("image-classification", "--dropout", "2"),
    ("image-classification", "--seed", "-1"),
    ("image-classification", "--image-size", "0"),
    ("image-classification", "--depth", "-1"),
    ("image-classification", "--learning-rate", "-1"),
    ("image-classification", "--learning-rate", "nan"),
    ("image-classification", "--patience", "-1"),
    ("image-classification", "--epochs", "0"),
    ("image-classification", "--val-split", "1.5"),
    ("medical-imaging", "--target-sensitivity", "1"),
    ("sentiment", "--cv", "1"),
    ("sentiment", "--max-tokens", "0"),
    ("timeseries-finance", "--lookback", "0"),
    ("timeseries-finance", "--cost-bps", "-5"),
    ("recommendation", "--temperature", "0"),
    ("recommendation", "--hidden", "0"),
])
def test_out_of_range_options_are_one_line(capsys, tmp_path, domain, option, value):
    code, _, err = _main(capsys, "train", domain, option, value, "--output", str(tmp_path / "run"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and option in lines[0] and "out of range" in lines[0], err
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_splits_that_leave_nothing_to_train_on(capsys, tmp_path):
    code, _, err = _main(capsys, "train", "image-classification", "--val-split", "0.5", "--test-split", "0.5",
                         "--output", str(tmp_path / "run"))
    assert code == 2 and "add up to less than 1" in err


def test_predict_help_exits_zero(capsys):
    code, out, _ = _main(capsys, "predict", "--help")
    assert code == 0 and "usage: solutions predict RUN_DIR" in out


@pytest.mark.parametrize("verb, output, resume", [
    ("train", "the run directory (default saved_models/<domain>/", "the interrupted run"),
    ("tune", "the search directory (default saved_models/<domain>/tuning/", "the interrupted search"),
])
def test_output_and_resume_help_say_what_each_verb_writes(capsys, verb, output, resume):
    from solutions.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([verb, "sentiment", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps help text at the terminal's width
    assert exit_.value.code == 0 and output in text and resume in text
    assert ("search directory" in text) == (verb == "tune")


def test_oracle_port_out_of_range(capsys, tmp_path):
    code, _, err = _main(capsys, "tune", "image-classification", "--oracle", "127.0.0.1:99999", "--role", "chief",
                         "--output", str(tmp_path / "search"))
    assert code == 2 and "between 1 and 65535" in err


def test_tune_refuses_a_non_empty_output_that_is_not_a_search(capsys, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "trials.csv").write_text("the user's own file\n")
    code, _, err = _main(capsys, "tune", "image-classification", "--max-trials", "1", "--output", str(tmp_path / "mine"))
    assert code == 2 and "not empty" in err
    assert (tmp_path / "mine" / "trials.csv").read_text() == "the user's own file\n"
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["trials.csv"]


def _interrupted_run(tmp_path: Path) -> tuple[Path, dict]:
    """A run directory as a kill leaves it: <run>.partial with its config.json."""
    import json

    from solutions.api import train_options
    from tests.solutions.recommendation.contract import case

    options = train_options("recommendation", **case(tmp_path)["options"])
    out = tmp_path / "run"
    (tmp_path / "run.partial").mkdir()
    (tmp_path / "run.partial" / "config.json").write_text(json.dumps({"domain": "recommendation", "options": options}))
    return out, options


def test_resume_refuses_options_that_differ_from_the_runs_own(capsys, tmp_path):
    """`--epochs 60 --resume` once trained the run's own 40 epochs without a word."""
    out, options = _interrupted_run(tmp_path)
    code, _, err = _main(capsys, "train", "recommendation", "--output", str(out), "--resume", "--epochs", "7",
                         "--dim", "8", "--data", options["data"])
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "--epochs 7 (it has 1)" in lines[0] and "--dim" not in lines[0] and "--data" not in lines[0]
    code, _, err = _main(capsys, "train", "recommendation", "--output", str(out), "--resume", "--config",
                         str(tmp_path / "run.partial" / "config.json"))
    assert code == 2 and "give one of them" in err


def test_resume_with_the_runs_own_options_is_not_refused(tmp_path):
    from solutions.api import _refuse_changed_run
    from solutions.common.solution import get_solution

    out, options = _interrupted_run(tmp_path)
    chosen = {**options, "output": str(out), "learning_rate": float(options["learning_rate"])}
    _refuse_changed_run(get_solution("recommendation"), chosen, {"output", "epochs", "dim", "data", "learning_rate"})
    from solutions.common.errors import UserError

    with pytest.raises(UserError, match=r"--seed 5 \(it has 0\)"):
        _refuse_changed_run(get_solution("recommendation"), {**chosen, "seed": 5}, {"output", "seed"})
