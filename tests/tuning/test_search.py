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
    # --dim 8 was typed: searched by the space, but held at the user's value (it was once varied)
    assert {r["dim"] for r in rows} == {"8"} and len({r["l2"] for r in rows}) == 3
    assert "Not searched, as asked: dim 8" in result.stdout
    # the first trial trained the defaults: mf's l2 left to the model (blank), the rest as given
    assert [r["defaults"] for r in rows] == ["yes", "", ""] and rows[0]["l2"] == ""
    assert float(rows[0]["learning_rate"]) == 0.002 and rows[0]["batch_size"] == "256"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fixed"] == {"dim": 8} and "--dim=8" in summary["command"]
    scores = [float(r["objective"]) for r in rows]
    assert summary["objective"] == "val_rmse" and summary["best_objective"] == pytest.approx(min(scores))
    assert summary["defaults"]["trial"] == "0" and summary["defaults"]["objective"] == pytest.approx(scores[0])
    assert "the defaults (trial 0)" in result.stdout or "no trial beat the defaults (trial 0" in result.stdout
    best = next(r for r in rows if r["trial"] == summary["best_trial"])
    config = json.loads((out / "best" / "config.json").read_text())  # the retrained run used the best values
    assert config["options"]["dim"] == int(best["dim"])
    if best["l2"]:
        assert config["options"]["l2"] == pytest.approx(float(best["l2"]))
    else:  # the defaults were best: mf's l2 stays the model's own
        assert best["defaults"] == "yes" and config["options"]["l2"] is None
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


def test_a_script_without_a_main_guard_tunes(ratings_csv, tmp_path):
    """`solutions.tune(...)` at the top of a plain script: each trial's process once ran the whole
    script again (multiprocessing's `__mp_main__`), so every trial failed, and the search still
    ended with status 0. Now the trials start without the caller's script."""
    out = tmp_path / "search"
    script = tmp_path / "tune_it.py"
    script.write_text(
        "import solutions\n"
        "print('SCRIPT RAN', flush=True)\n"
        f"search = solutions.tune('recommendation', data={str(ratings_csv)!r}, user_column='user_id', "
        "item_column='movie', rating_column='stars', model='mf', dim=8, epochs=2, max_epochs=2, max_trials=1, "
        f"tuner='random', quantize='none', no_retrain=True, output={str(out)!r})\n"
        "print('COMPLETED', search.summary['completed'])\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("SCRIPT RAN") == 1 and "COMPLETED 1" in result.stdout, result.stdout[-2000:]


def test_a_search_whose_every_trial_fails_is_an_error(ratings_csv, tmp_path, monkeypatch):
    from solutions.tuning import trial_process

    def fail(spec, directory):
        raise trial_process.TrialProcessError(f"the process of {directory.name} exited with status 1")

    monkeypatch.setattr(trial_process, "run_trial_process", fail)
    import solutions

    with pytest.raises(solutions.UserError, match="no trial of .* finished"):
        solutions.tune("recommendation", data=str(ratings_csv), user_column="user_id", item_column="movie",
                       rating_column="stars", model="mf", dim=8, epochs=2, max_epochs=2, max_trials=1,
                       tuner="random", quantize="none", no_retrain=True, output=str(tmp_path / "search"))


def test_damaged_or_planted_search_state_is_one_error_or_ignored(ratings_csv, tmp_path):
    """KerasTuner wrote oracle.json in place: a truncated one made --resume a JSONDecodeError
    traceback; a planted trial_9 with a score of -5 became the search's best."""
    import shutil

    out = tmp_path / "search"
    result = run_cli(*tune_args(ratings_csv, out, "--max-trials", "2", "--no-retrain"))
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "oracle.json").read_text())["start_order"] == ["0", "1"]
    assert not list(out.rglob(".*.tmp-*"))

    planted = tmp_path / "planted"
    shutil.copytree(out, planted)
    state = json.loads((planted / "trial_0" / "trial.json").read_text())
    state.update(trial_id="9", score=-5.0)
    (planted / "trial_9").mkdir()
    (planted / "trial_9" / "trial.json").write_text(json.dumps(state))
    (planted / "summary.json").unlink()
    again = run_cli("tune", "recommendation", "--output", str(planted), "--resume")
    assert again.returncode == 0, again.stderr
    assert "ignored trial folder(s) 9" in again.stderr
    assert [r["trial"] for r in read_trials(planted)] == ["0", "1"]
    assert json.loads((planted / "summary.json").read_text())["best_objective"] > 0

    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    text = (damaged / "oracle.json").read_text()
    (damaged / "oracle.json").write_text(text[: len(text) // 2])
    broken = run_cli("tune", "recommendation", "--output", str(damaged), "--resume")
    assert broken.returncode == 2 and "is damaged" in broken.stderr and "Traceback" not in broken.stderr, \
        broken.stderr[-2000:]


def test_a_worker_started_before_its_chief_waits_and_never_writes_the_search(tmp_path, monkeypatch):
    """It wrote its own search.json, after which the chief refused the directory."""
    import threading

    from solutions.common.errors import UserError
    from solutions.tuning import search

    out = tmp_path / "shared"
    out.mkdir()
    with pytest.raises(UserError, match="start the chief with this --output first"):
        search._wait_for_chief(out, seconds=0.5)
    assert not (out / "search.json").exists()
    threading.Timer(0.6, lambda: (out / "search.json").write_text("{}")).start()
    search._wait_for_chief(out, seconds=10)  # returns once the chief has written it


def test_a_resumed_chief_keeps_its_trials_and_listens_where_it_is_told(ratings_csv, tmp_path):
    """A chief never writes KerasTuner's chief.json, so --resume started the search from scratch
    (a worker re-ran every finished trial), on the old port whatever --oracle said."""
    out, oracle = tmp_path / "search", f"127.0.0.1:{free_port()}"
    chief = popen(tune_args(ratings_csv, out, "--max-trials", "2", "--no-retrain", "--oracle", oracle,
                            "--role", "chief"))
    wait_for(out / "search.json", timeout=120)
    worker = popen(tune_args(ratings_csv, out, "--oracle", oracle, "--role", "worker", "--worker-id", "w1"))
    outputs = [p.communicate(timeout=900) for p in (chief, worker)]
    assert [chief.returncode, worker.returncode] == [0, 0], [o[1][-2000:] for o in outputs]
    moved = f"127.0.0.1:{free_port()}"
    again = popen(["tune", "recommendation", "--output", str(out), "--resume", "--oracle", moved, "--role", "chief"])
    stdout, stderr = again.communicate(timeout=300)  # the budget is spent: it serves no one and ends
    assert again.returncode == 0, stderr[-2000:]
    assert "2 finished trial(s) kept" in stdout and f"oracle serving on {moved}" in stdout, stdout[-2000:]
    assert len(read_trials(out)) == 2


def test_a_search_resumed_on_changed_data_is_refused(ratings_csv, tmp_path):
    """Trial 0 was scored on the old CSV, trials 1-3 on a cut one, and the best retrained on it."""
    import shutil

    from solutions.common.errors import UserError
    from solutions.common.solution import get_solution
    from solutions.tuning.search import prepare_search

    data = tmp_path / "ratings.csv"
    shutil.copy(ratings_csv, data)
    solution = get_solution("recommendation")
    options = {"data": str(data), "output": str(tmp_path / "search"), "seed": 0}
    _, _, _, lock = prepare_search(solution, options, {"tuner": "random"}, resume=False)
    lock.release()
    path, _, _, lock = prepare_search(solution, options, {}, resume=True)  # unchanged: resumes
    lock.release()
    data.write_text(data.read_text().replace("\n", "\n", 1)[:-200] + "\n")
    with pytest.raises(UserError, match="changed since the search .* started"):
        prepare_search(solution, options, {}, resume=True)


def test_a_resumed_search_or_a_worker_refuses_other_options(ratings_csv, tmp_path):
    """`tune --resume --max-epochs 20` once went on with the search's own 2, silently."""
    from solutions.common.errors import UserError
    from solutions.common.solution import get_solution
    from solutions.tuning.search import prepare_search

    solution = get_solution("recommendation")
    options = {"data": str(ratings_csv), "output": str(tmp_path / "search"), "seed": 0, "model": "mf"}
    settings = {"tuner": "random", "max_epochs": 2, "retrain": False}
    _, _, saved, lock = prepare_search(solution, options, settings, resume=False, asked={"seed": 0, "max_epochs": 2})
    lock.release()
    assert saved["fixed"] == []  # neither is a searched hyperparameter
    path, _, _, lock = prepare_search(solution, options, {}, resume=True, asked={"seed": 0, "max_epochs": 2.0})
    lock.release()
    with pytest.raises(UserError, match=r"--max-epochs 20 \(it has 2\).*--model neural"):
        prepare_search(solution, options, {}, resume=True, asked={"max_epochs": 20, "model": "neural"})
    # a worker never retrains, so its --no-retrain (or not) is no conflict; its options are
    prepare_search(solution, options, {}, resume=False, role="worker", asked={"retrain": True, "seed": 0})
    with pytest.raises(UserError, match="a worker runs the options of its chief.s search"):
        prepare_search(solution, options, {}, resume=False, role="worker", asked={"seed": 3})
