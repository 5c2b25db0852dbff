"""From a user's ratings CSV to a run, recommendations (Keras and TFLite) and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from solutions.common.solution import get_solution
from solutions.common.workflow import train
from tests.conftest import run_cli
from tests.solutions.recommendation.ratings import write_defective_csv

COLUMNS = ["--user-column", "user_id", "--item-column", "movie", "--rating-column", "stars", "--timestamp-column", "ts"]


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ratings") / "ratings.csv"
    write_defective_csv(path, rows=6000)
    return path


@pytest.fixture(scope="module")
def cli_run(csv_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mf"
    result = run_cli("train", "recommendation", "--data", str(csv_file), *COLUMNS, "--model", "mf", "--epochs", "2",
                     "--dim", "8", "--quantize", "dynamic", "--output", str(out))
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_csv_run_reports_repairs_and_ships_top_k(cli_run):
    out, stdout = cli_run
    for line in ("1 rows without rating dropped", "1 ratings outside 1 5 rejected",
                 "1 duplicate user item pairs kept latest", "1 rows without user or item dropped"):
        assert f"Data repair: {line}" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]) == {"rmse", "mae"} and {"global_mean", "user_item_bias"} <= set(metrics["baselines"])
    checks = metrics["checks"]
    assert checks["topk_agreement"] == 1.0 and checks["topk_users_checked"] > 10
    assert "TOPK_V2" in checks["topk_ops"] and not any(op.startswith("Flex") for op in checks["topk_ops"])
    assert metrics["export"]["float32"]["max_abs_diff"] <= 1e-4
    for name in ("recommend.tflite", "id_maps.json", "saved_model", "report.md"):
        assert (out / name).exists(), name
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(out / "recommend.tflite"))
    signature = interpreter.get_signature_list()["serving_default"]
    assert sorted(signature["outputs"]) == ["items", "scores"], signature  # was output_0 / output_1
    answer = interpreter.get_signature_runner()(user=np.array([3], np.int32))
    assert answer["items"].dtype == np.int32 and answer["scores"].dtype == np.float32
    assert (np.diff(answer["scores"][0]) <= 0).all()  # best first
    with pytest.raises(RuntimeError, match="out of bounds"):  # -1 (an unknown id's indexOf) is no user
        interpreter.get_signature_runner()(user=np.array([-1], np.int32))


def test_predict_known_and_unknown_users(cli_run):
    out, _ = cli_run
    keras_answer = run_cli("predict", str(out), "--user", "196", "--k", "5")
    assert keras_answer.returncode == 0, keras_answer.stderr
    lines = keras_answer.stdout.strip().splitlines()
    assert len(lines) == 5 and lines[0].lstrip().startswith("1.")
    tflite_answer = run_cli("predict", str(out), "--user", "196", "--k", "5", "--tflite")
    assert [line.split("(id")[1] for line in tflite_answer.stdout.strip().splitlines()] == \
        [line.split("(id")[1] for line in lines]  # the same items from recommend.tflite
    unknown = run_cli("predict", str(out), "--user", "no-such-user", "--k", "3")
    assert unknown.returncode == 0 and "popularity fallback" in unknown.stdout
    negative = run_cli("predict", str(out), "--user", "-1", "--k", "3")  # an id, never index -1 (the last user)
    assert negative.returncode == 0 and "user -1 is unknown" in negative.stdout, negative.stderr
    padded = run_cli("predict", str(out), "--user", " 196 ", "--k", "5")  # training strips ids: so does predict
    assert padded.returncode == 0 and padded.stdout.strip().splitlines() == lines, padded.stdout
    rating = run_cli("predict", str(out), "--user", "196", "--item", "242")
    assert "predicted rating" in rating.stdout
    assert run_cli("predict", str(out), "--user", "196 ", "--item", " 242").stdout == rating.stdout


def test_missing_rating_column_is_one_error_line(csv_file, tmp_path):
    columns = [c if c != "stars" else "score" for c in COLUMNS]
    result = run_cli("train", "recommendation", "--data", str(csv_file), *columns, "--output", str(tmp_path / "run"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "has no rating column 'score'" in lines[0]
    assert "--rating-column none with --task retrieval" in lines[0]  # what a table of clicks is told
    assert not (tmp_path / "run").exists()


def test_autorec_on_a_temporal_split(csv_file, tmp_path):
    options = dict(epochs=40, batch_size=256, learning_rate=2e-3, patience=5, seed=0, val_split=0.05, test_split=0.2,
                   data_dir=None, quantize="none", no_export=True, dataset=None, data=str(csv_file), task="rating",
                   model="autorec", split="temporal", user_column="user_id", item_column="movie",
                   rating_column="stars", timestamp_column="ts", rating_scale=None, dim=None, hidden=32, l2=None,
                   dropout=0.2, side_features=False, top_k=10, output=str(tmp_path / "ar"))
    run = train(get_solution("recommendation"), options)
    metrics = run.read_json("metrics.json")
    assert 0 < metrics["test"]["rmse"] < metrics["baselines"]["global_mean"]["rmse"] + 0.05
    assert "temporal" in run.read_json("config.json")["source"]["split"]
    unexported = run_cli("predict", str(run.path), "--user", "196")  # --no-export: no SavedModel to ask
    lines = unexported.stderr.strip().splitlines()
    assert unexported.returncode == 2 and len(lines) == 1 and "--no-export" in lines[0], unexported.stderr


def test_too_few_ratings_is_one_error_line(tmp_path):
    (tmp_path / "one.csv").write_text("user,item,rating\n1,10,4\n2,11,3\n")
    result = run_cli("train", "recommendation", "--data", str(tmp_path / "one.csv"), "--output", str(tmp_path / "run"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "too few ratings" in lines[0], result.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_retrieval_run_ranks_the_catalogue_and_ships_top_k(csv_file, tmp_path):
    out = tmp_path / "retrieval"
    result = run_cli("train", "recommendation", "--data", str(csv_file), *COLUMNS, "--task", "retrieval",
                     "--epochs", "4", "--batch-size", "128", "--quantize", "int8", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "config.json").read_text())["plan"]["model"] == "two_stage"  # the default
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["monitor"] == "val_recall_at_10" and metrics["best_epoch"] is not None
    assert {"recall_at_10", "ndcg_at_10"} <= set(metrics["test"])
    assert set(metrics["baselines"]) == {"popularity", "random", "ease"}  # a small catalogue: EASE too
    assert metrics["baselines"]["ease"]["recall_at_10"] > metrics["baselines"]["random"]["recall_at_10"]
    assert metrics["test"]["recall_at_10"] > metrics["baselines"]["random"]["recall_at_10"]
    assert metrics["checks"]["topk_agreement"] == 1.0
    assert metrics["export"]["float32"]["max_abs_diff"] <= 1e-4 and metrics["export"]["float32"]["agreement"] == 1.0
    assert "int8" in metrics["export"]  # converted and scored, or its converter failure recorded
    assert (out / "recall_at_k.png").exists() and "recall_at_10" in (out / "report.md").read_text()
    assert "val_recall_at_10" in (out / "history.csv").read_text().splitlines()[0]
    top = run_cli("predict", str(out), "--user", "196", "--k", "3", "--tflite")
    assert top.returncode == 0 and len(top.stdout.strip().splitlines()) == 3, top.stderr
    score = run_cli("predict", str(out), "--user", "196", "--item", "242")
    assert score.returncode == 0 and ": score " in score.stdout and "predicted rating" not in score.stdout
    assert metrics["export"]["serving"]["max_abs_diff"] <= 1e-5  # the data's user ids through serving_default
    import solutions
    from tests.serving_clients import predict

    with solutions.load(out).serve(port=0, background=True) as server:
        scores = predict(server.url, {"instances": ["196"]})["predictions"]
        top = predict(server.url, {"signature_name": "top_k", "instances": ["196"]})["predictions"][0]
    assert top["known_user"] and len(top["item_ids"]) == 10
    items = json.loads((out / "id_maps.json").read_text())["items"]
    assert set(top["item_ids"]) <= set(items) and len(scores[0]) == len(items)  # a score per catalogue item
    assert top["scores"][0] <= max(scores[0]) + 1e-5 and top["scores"] == sorted(top["scores"], reverse=True)
    from solutions.common.tflite_metadata import read_metadata

    outputs = read_metadata((out / "recommend.tflite").read_bytes())["outputs"]
    assert any("items the user had not rated in training" in o["description"] for o in outputs), outputs
    # evaluate takes no column flags: a table of clicks (the rating column dropped) is ranked as interactions
    import pandas as pd

    clicks = tmp_path / "clicks.csv"
    pd.read_csv(csv_file, dtype=str).drop(columns=["stars"]).to_csv(clicks, index=False)
    scored = solutions.load(out).evaluate(data=clicks)
    assert scored["split"] == "test" and scored["test"]["recall_at_10"] > metrics["baselines"]["random"]["recall_at_10"]
    assert any(note.startswith("Interactions: no rating column 'stars'") for note in scored["notes"])


def test_rating_model_for_retrieval_is_one_error_line(csv_file, tmp_path):
    result = run_cli("train", "recommendation", "--data", str(csv_file), *COLUMNS, "--task", "retrieval",
                     "--model", "mf", "--output", str(tmp_path / "run"))
    assert result.returncode == 2 and "--model mf does not fit --task retrieval" in result.stderr
    assert not (tmp_path / "run").exists()


def test_interactions_without_ratings_train_retrieval(csv_file, tmp_path):
    """A table of clicks or plays has no rating column; it was one error, though retrieval learns
    from every row as a positive whatever its rating."""
    import pandas as pd

    clicks = tmp_path / "clicks.csv"
    pd.read_csv(csv_file, dtype=str).drop(columns=["stars"]).to_csv(clicks, index=False)
    columns = ["--user-column", "user_id", "--item-column", "movie", "--timestamp-column", "ts"]
    out = tmp_path / "clicks"
    result = run_cli("train", "recommendation", "--data", str(clicks), *columns, "--rating-column", "none",
                     "--task", "retrieval", "--model", "two_tower", "--epochs", "2", "--dim", "16", "--batch-size", "128",
                     "--no-export",
                     "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "Interactions: no rating column: each row is one interaction" in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["source"]["scale"] == [1.0, 1.0] and "each row is one interaction" in config["source"]["scale_from"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["recall_at_10"] > metrics["baselines"]["random"]["recall_at_10"]
    assert "held-out interactions" in (out / "report.md").read_text()
    score = run_cli("predict", str(out), "--user", "196", "--item", "242")
    assert score.returncode == 0 and ": score " in score.stdout, score.stderr
    from solutions.recommendation.export_adapter import recommender_tensors
    from solutions.recommendation.source import RankingSource

    splits = RankingSource().load_splits({**config["options"], **config["plan"]})
    assert splits.fitted["ratings"].interactions  # what recommend.tflite's metadata says users did
    assert "had not interacted with in training" in recommender_tensors(splits, "retrieval", 10)[1][0].description
    import solutions

    rated = solutions.load(out).evaluate(data=csv_file)  # the run reads other data as interactions, ratings aside
    assert rated["split"] == "test" and any(note.startswith("Interactions:") for note in rated["notes"])
    for extra, message in ((["--task", "rating"], "needs --task retrieval"),
                           (["--task", "retrieval", "--rating-scale", "1,5"], "--rating-scale does not apply")):
        refused = run_cli("train", "recommendation", "--data", str(clicks), *columns, "--rating-column", "none",
                          *extra, "--output", str(tmp_path / "refused"))
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "refused").exists()
