"""`solutions tune`: a search's table, plot and retrained best run; resume after a kill; KerasTuner's
chief/worker mode on 127.0.0.1 with both exits."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.solutions.recommendation.ratings import write_defective_csv

COLUMNS = ["--user-column", "user_id", "--item-column", "movie", "--rating-column", "stars"]
SMALL = ["--model", "mf", "--dim", "8", "--epochs", "2", "--max-epochs", "2", "--tuner", "random",
         "--quantize", "none"]


@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("tune") / "ratings.csv"
    write_defective_csv(path, rows=6000)
    return path


def tune_args(csv_file: Path, out: Path, *extra: str) -> list[str]:
    return ["tune", "recommendation", "--data", str(csv_file), *COLUMNS, *SMALL, "--output", str(out), *extra]


def read_trials(path: Path) -> list[dict[str, str]]:
    with open(path / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def popen(args: list[str], tag: str | None = None) -> subprocess.Popen:
    """`solutions ...` in the background; `tag` marks its environment for `trial_processes`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **({"SOLUTIONS_TEST_TAG": tag} if tag else {})}
    return subprocess.Popen([sys.executable, "-m", "solutions", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def wait_for(path: Path, timeout: float = 300) -> None:
    start = time.monotonic()
    while not path.exists():
        assert time.monotonic() - start < timeout, f"{path} did not appear"
        time.sleep(0.2)


def test_search_writes_table_plot_and_retrains_the_best(ratings_csv, tmp_path):
    out = tmp_path / "search"
    result = run_cli(*tune_args(ratings_csv, out, "--max-trials", "3"))
    assert result.returncode == 0, result.stderr
    rows = read_trials(out)
    assert len(rows) == 3 and all(r["status"] == "COMPLETED" for r in rows)
    assert {"dim", "l2", "learning_rate", "batch_size", "objective", "best_epoch", "seconds"} <= set(rows[0])
    # each trial ran in a process of its own, which imported TensorFlow; the tuner process did not train
    assert all(float(r["trial_peak_mb"]) > 100 and float(r["tuner_rss_mb"]) > 100 for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    scores = [float(r["objective"]) for r in rows]
    assert summary["objective"] == "val_rmse" and summary["best_objective"] == pytest.approx(min(scores))
    best = next(r for r in rows if r["trial"] == summary["best_trial"])
    config = json.loads((out / "best" / "config.json").read_text())  # the retrained run used the best values
    assert config["options"]["dim"] == int(best["dim"]) and config["options"]["l2"] == pytest.approx(float(best["l2"]))
    retrained = summary["retrained"]
    assert "rmse" in retrained["test"] and "val_rmse" in retrained["validation"]
    assert (out / "objective_by_trial.png").exists() and (out / "best" / "report.md").exists()
    assert "val_rmse" in result.stdout and "solutions train recommendation" in result.stdout
    again = run_cli(*tune_args(ratings_csv, out, "--max-trials", "3"))
    assert again.returncode == 2 and "--resume" in again.stderr  # never overwritten silently


def trial_processes(tag: str) -> set[int]:
    """Live forkserver processes of the tuner started with `popen(..., tag)`: the server and the trial
    processes it forked, told from other tests' (`make test` runs two at once) by the tag in their
    environment, which they inherit."""
    found, marker = set(), f"SOLUTIONS_TEST_TAG={tag}".encode()
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and b"multiprocessing.forkserver" in (entry / "cmdline").read_bytes()
                    and marker in (entry / "environ").read_bytes().split(b"\0")):
                found.add(int(entry.name))
        except OSError:  # ended while we looked
            pass
    return found


def test_a_search_killed_in_its_third_trial_resumes_to_exactly_the_asked_trials(ratings_csv, tmp_path):
    out = tmp_path / "search"
    process = popen(tune_args(ratings_csv, out, "--max-trials", "4", "--no-retrain"))
    try:
        wait_for(out / "trial_2" / "trial.json")
        time.sleep(1.0)  # into the third trial's training
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    assert not (out / "trials.csv").exists()
    finished = {t: (out / f"trial_{t}" / "trial.json").read_text() for t in ("0", "1")}
    assert all(json.loads(text)["status"] == "COMPLETED" for text in finished.values())
    result = run_cli("tune", "recommendation", "--output", str(out), "--resume")
    assert result.returncode == 0, result.stderr
    assert "2 finished trial(s) kept" in result.stdout
    rows = read_trials(out)
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3"] and all(r["status"] == "COMPLETED" for r in rows)
    for t, text in finished.items():  # not run again
        assert (out / f"trial_{t}" / "trial.json").read_text() == text


def test_a_trial_process_ends_with_its_tuner(ratings_csv, tmp_path):
    out, tag = tmp_path / "search", str(tmp_path)  # no process carries the tag before the tuner starts
    args = tune_args(ratings_csv, out, "--max-trials", "1", "--no-retrain")
    args[args.index("--max-epochs") + 1] = "1000"  # a trial that would outlast the test
    process = popen([*args, "--patience", "1000"], tag)
    try:
        wait_for(out / "trial_0" / "trial.json")
        time.sleep(3.0)
        assert trial_processes(tag)  # the trial runs in a process of its own
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    deadline = time.monotonic() + 15
    while trial_processes(tag) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not trial_processes(tag)  # killed -9, the tuner took its trial process with it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_chief_and_two_workers_share_one_search(ratings_csv, tmp_path):
    out, oracle = tmp_path / "search", f"127.0.0.1:{free_port()}"
    chief = popen(tune_args(ratings_csv, out, "--max-trials", "6", "--no-retrain", "--oracle", oracle,
                            "--role", "chief"))
    wait_for(out / "search.json", timeout=120)
    workers = [popen(tune_args(ratings_csv, out, "--max-trials", "6", "--oracle", oracle, "--role", "worker",
                               "--worker-id", name)) for name in ("w1", "w2")]
    outputs = [p.communicate(timeout=900) for p in (chief, *workers)]
    assert [p.returncode for p in (chief, *workers)] == [0, 0, 0], [o[1][-2000:] for o in outputs]
    rows = read_trials(out)
    assert len(rows) == 6 and all(r["status"] == "COMPLETED" for r in rows)
    assert {r["tuner"] for r in rows} == {"w1", "w2"}  # the chief's table names both workers' trials
    assert "no more trials" in outputs[1][0] and "no more trials" in outputs[2][0]


def test_a_worker_stops_when_its_chief_is_gone(ratings_csv, tmp_path):
    out, oracle = tmp_path / "search", f"127.0.0.1:{free_port()}"
    chief = popen(tune_args(ratings_csv, out, "--max-trials", "50", "--no-retrain", "--oracle", oracle,
                            "--role", "chief"))
    wait_for(out / "search.json", timeout=120)
    worker = popen(tune_args(ratings_csv, out, "--max-trials", "50", "--oracle", oracle, "--role", "worker",
                             "--worker-id", "w1"))
    try:
        wait_for(out / "trial_01" / "trial.json")
    finally:
        chief.send_signal(signal.SIGKILL)
        chief.communicate(timeout=60)
    start = time.monotonic()
    _, stderr = worker.communicate(timeout=120)
    assert worker.returncode == 3 and "is gone" in stderr, (worker.returncode, stderr[-3000:])
    assert time.monotonic() - start < 60


def test_hyperband_continues_a_promoted_trial_from_its_checkpoint(ratings_csv, tmp_path):
    out = tmp_path / "search"
    args = tune_args(ratings_csv, out, "--max-trials", "4", "--no-retrain")
    args[args.index("--tuner") + 1] = "hyperband"
    args[args.index("--max-epochs") + 1] = "3"
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    trials = [json.loads(p.read_text()) for p in sorted(out.glob("trial_*/trial.json"))]
    assert len(trials) == 4 and all(t["status"] == "COMPLETED" for t in trials)
    promoted = [t for t in trials if "tuner/trial_id" in t["hyperparameters"]["values"]]
    assert promoted, "no trial was promoted to the next Hyperband round"
    by_id, rows = {t["trial_id"]: t for t in trials}, {r["trial"]: r for r in read_trials(out)}
    for trial in promoted:
        values = trial["hyperparameters"]["values"]
        source = by_id[values["tuner/trial_id"]]
        assert values["tuner/initial_epoch"] > 0
        assert int(rows[trial["trial_id"]]["best_epoch"]) > values["tuner/initial_epoch"]  # counted from the start
        history = json.loads((out / f"trial_{trial['trial_id']}" / "trial_result.json").read_text())["history"]
        # every trial starts from the same seed: from scratch, its first epoch would repeat the source's
        # (one epoch, same values); continued from the source's checkpoint, it is a second epoch
        assert history["val_rmse"][0] != pytest.approx(source["score"], abs=1e-6)
