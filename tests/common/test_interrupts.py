"""A run killed at any instant resumes to the same end, and a re-export that fails or is killed
leaves the previous export as it was (issue 14: SIGINT / SIGKILL at random times, at epoch ends,
during export; a full disk during training and during export)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

EPOCHS = 5
ARGS = ["train", "image-classification", "--dataset", "digits", "--epochs", str(EPOCHS), "--image-size", "8",
        "--width", "8", "--batch-size", "256", "--patience", "100", "--quantize", "dynamic"]


def _popen(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "solutions", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _partial(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _epoch_state(out: Path) -> float:
    """Newest change of the committed epoch state (0 when none yet)."""
    found = list(_partial(out).glob("checkpoints/backup-*/training_metadata.json"))
    return max((p.stat().st_mtime_ns for p in found), default=0)


def _interrupt_once(out: Path, rng: random.Random) -> str:
    """Start (or resume) the run and interrupt it: SIGINT or SIGKILL, at a random time, right at an
    epoch end, or during export. Returns what was done."""
    resume = (_partial(out) / "config.json").exists()
    process = _popen(*ARGS, "--output", str(out), *(["--resume"] if resume else []))
    sig = rng.choice([signal.SIGINT, signal.SIGKILL])
    when = rng.choice(["random", "epoch_end", "export"])
    deadline = time.monotonic() + 300
    if when == "random":
        time.sleep(rng.uniform(1.0, 12.0))
    elif when == "epoch_end":
        before = _epoch_state(out)
        while time.monotonic() < deadline and process.poll() is None and _epoch_state(out) == before:
            time.sleep(0.005)
    else:
        while time.monotonic() < deadline and process.poll() is None and not any(
                _partial(out).glob(p) for p in ("saved_model", ".saved_model.new-*", "model*.tflite")):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.5))
    if process.poll() is None:
        process.send_signal(sig)
    _, err = process.communicate(timeout=300)
    if process.returncode not in (0, -signal.SIGKILL, 130, -signal.SIGINT):
        raise AssertionError(f"{when} {sig!r}: exit {process.returncode}\n{err[-3000:]}")
    return f"{signal.Signals(sig).name} at {when}: exit {process.returncode}"


def _interrupt_and_finish(tmp_path: Path, interrupts: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    log, runs = [], 0
    out = tmp_path / f"run{runs}"
    for _ in range(interrupts):
        if out.exists():  # finished before the signal landed: check it and start another
            _assert_finished(out)
            runs += 1
            out = tmp_path / f"run{runs}"
        log.append(_interrupt_once(out, rng))
    if not out.exists():
        resume = (_partial(out) / "config.json").exists()
        process = _popen(*ARGS, "--output", str(out), *(["--resume"] if resume else []))
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
    _assert_finished(out)
    return log


def _assert_finished(out: Path) -> None:
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == EPOCHS
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == EPOCHS + 1 and history[0].startswith("epoch")  # one header, one row per epoch
    assert {"saved_model", "float32", "dynamic"} <= set(metrics["export"])
    assert not list(out.glob(".*.tmp-*")) and not list(out.glob(".*.new-*"))
    assert not list(out.glob("checkpoints/.*.tmp-*"))  # a resume once left its best-weights temp link


def test_sigterm_is_handled_as_ctrl_c_and_the_run_resumes(tmp_path):
    """docker stop / systemd / a scheduler send SIGTERM: it once ended the run with status 143, no
    word, the epoch in commit dropped and the time before it left out of the run's training time."""
    out = tmp_path / "run"
    process = _popen(*ARGS, "--output", str(out))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None and _epoch_state(out) == 0:
        time.sleep(0.01)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 143, err[-3000:]
    assert f"Continue with: solutions train image-classification --output {out} --resume" in err, err[-2000:]
    assert json.loads((_partial(out) / "checkpoints" / "timing.json").read_text())["seconds"] > 0
    resumed = _popen(*ARGS, "--output", str(out), "--resume")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    _assert_finished(out)


def test_six_interrupts_each_resume_to_the_same_end(tmp_path):
    log = _interrupt_and_finish(tmp_path, interrupts=6, seed=0)
    print("\n".join(log))


@pytest.mark.slow
def test_thirty_interrupts_each_resume_to_the_same_end(tmp_path):
    log = _interrupt_and_finish(tmp_path, interrupts=30, seed=1)
    print("\n".join(log))
    assert sum("epoch_end" in line for line in log) >= 5 and sum("export" in line for line in log) >= 5


def _digest(path: Path) -> dict[str, str]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != ".lock")
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_a_killed_re_export_leaves_the_previous_export(tmp_path, trained_run):
    run = tmp_path / "run"
    shutil.copytree(trained_run.path, run)
    before = _digest(run)
    for delay in (0.5, 3.0, 6.0):
        process = _popen("export", str(run), "--quantize", "all")
        time.sleep(delay)
        process.kill()
        process.communicate(timeout=60)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-c", "from solutions.common.rundir import open_finished; import sys; "
                        "open_finished(sys.argv[1])", str(run)], check=True, env=env, cwd=ROOT)
        after = _digest(run)
        assert set(after) >= set(before), set(before) - set(after)  # nothing the run had is missing
        assert not list(run.glob(".*.old-*")) and not list(run.glob(".*.new-*"))
        loaded = subprocess.run([sys.executable, "-c", "import sys, tensorflow as tf; "
                                 "tf.saved_model.load(sys.argv[1]); print('ok')", str(run / "saved_model")],
                                capture_output=True, text=True, env=env, cwd=ROOT)
        assert loaded.stdout.strip() == "ok", loaded.stderr[-2000:]


def _tmpfs(mount: Path, options: str):
    """Mount a tmpfs (root only: real file system errors, not simulated exceptions), or skip."""
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip(f"cannot mount a tmpfs ({options}) here: needs root")
    return mount


@pytest.fixture
def small_disk(tmp_path):
    """A 20 MB disk to fill."""
    yield _tmpfs(tmp_path / "disk", "size=20m")
    subprocess.run(["umount", "-l", str(tmp_path / "disk")], capture_output=True)


def test_a_full_disk_is_one_error_line_and_leaves_the_export_intact(small_disk, tmp_path, trained_run):
    run = small_disk / "run"
    shutil.copytree(trained_run.path, run, ignore=shutil.ignore_patterns("logs", "checkpoints"))
    before = _digest(run)
    filler = small_disk / "filler"
    free = shutil.disk_usage(small_disk).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - 64 * 1024))
    process = _popen("export", str(run), "--quantize", "all")
    _, err = process.communicate(timeout=300)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert process.returncode == 2 and len(lines) == 1 and "no space left on device" in lines[0], err[-3000:]
    assert _digest(run) == before  # the previous export, byte for byte
    filler.unlink()
    process = _popen("export", str(run), "--quantize", "dynamic")
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]


def test_a_read_only_output_directory_is_one_error_line(tmp_path):
    """A read-only file system (root ignores permission bits, so a mode-555 folder would not do)."""
    mount = _tmpfs(tmp_path / "ro", "ro,size=1m")
    try:
        process = _popen(*ARGS, "--epochs", "1", "--output", str(mount / "run"))
        _, err = process.communicate(timeout=300)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    lines = [line for line in err.splitlines() if line.startswith(("error:", "Traceback"))]
    assert process.returncode == 2 and len(lines) == 1 and "not writable" in lines[0], err[-3000:]


def test_a_full_disk_during_a_background_epoch_commit_is_one_error_line_and_the_run_resumes(tmp_path, monkeypatch,
                                                                                            capsys):
    """The second epoch's state fails to write (in the commit thread): the CLI reports it as one
    line, the first epoch stays committed, and --resume finishes the run."""
    import errno

    from solutions.cli import main
    from solutions.common import checkpoints

    real_write, writes = checkpoints.write_state_atomic, []

    def full_on_the_second(path, *args):
        writes.append(path)
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, *args)

    monkeypatch.setattr(checkpoints, "write_state_atomic", full_on_the_second)
    out = tmp_path / "run"
    args = ["train", "image-classification", "--dataset", "digits", "--epochs", "4", "--image-size", "8",
            "--width", "16", "--batch-size", "256", "--patience", "100", "--quantize", "none", "--output", str(out)]
    assert main(args) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("error:", "Traceback"))]
    assert len(lines) == 1 and "no space left on device" in lines[0] and "epoch-0002.state.npz" in lines[0], lines
    meta = json.loads(next(_partial(out).glob("checkpoints/backup-*/training_metadata.json")).read_text())
    assert meta["epoch"] == 1
    assert main([*args, "--resume"]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 4
    assert len((out / "history.csv").read_text().splitlines()) == 5  # one header, one row per epoch
