"""`--distribute`: MultiWorkerMirroredStrategy across two local CPU worker processes keeps their
weights identical; a missing TF_CONFIG is one error line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np

from tests.conftest import ROOT, run_cli

ARGS = ["--dataset", "digits", "--epochs", "2", "--image-size", "16", "--width", "8", "--weights", "none",
        "--no-export", "--distribute", "multi-worker"]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_end_with_identical_weights(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    processes = []
    for index in range(2):
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "solutions", "train", "image-classification", *ARGS,
             "--output", str(tmp_path / f"worker{index}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env, cwd=ROOT))
    outputs = [p.communicate(timeout=900) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-3000:] for _, err in outputs]

    from solutions.common.rundir import Run
    from solutions.common.solution import get_solution

    solution = get_solution("image-classification")
    weights = [solution.load_model(Run(tmp_path / f"worker{i}")).get_weights() for i in range(2)]
    assert len(weights[0]) == len(weights[1]) > 0
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    metrics = [json.loads((tmp_path / f"worker{i}" / "metrics.json").read_text()) for i in range(2)]
    assert metrics[0]["epochs_run"] == metrics[1]["epochs_run"] == 2
    assert metrics[0]["test"] == metrics[1]["test"]


def test_multi_worker_without_tf_config_is_one_error_line(tmp_path):
    env_backup = os.environ.pop("TF_CONFIG", None)
    try:
        result = run_cli("train", "image-classification", *ARGS, "--output", str(tmp_path / "run"))
    finally:
        if env_backup is not None:
            os.environ["TF_CONFIG"] = env_backup
    assert result.returncode == 2 and "needs TF_CONFIG" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_mirrored_strategy_trains_and_saves_a_plain_model(fast_options):
    from solutions.common.solution import get_solution
    from solutions.common.workflow import train

    run = train(get_solution("image-classification"), {**fast_options, "distribute": "mirrored", "quantize": "none"})
    metrics = run.read_json("metrics.json")
    assert metrics["epochs_run"] == 2 and metrics["export"]["float32"]["max_abs_diff"] <= 1e-4
    import zipfile

    with zipfile.ZipFile(run / "model.keras") as archive:  # BatchNorm saved unsynchronized: loads on any backend
        saved = archive.read("config.json").decode()
    assert '"synchronized": false' in saved and '"synchronized": true' not in saved
