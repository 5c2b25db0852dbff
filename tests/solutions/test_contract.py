"""Every registered domain through the same life of a run, with the public API only: train a tiny
run, reload it, predict with Keras and with every TFLite variant it shipped, evaluate, export again,
and re-run it from its config.json. A new domain is checked by adding its fixtures
(`tests/solutions/<domain>/contract.py`, a `case(tmp_path)` function) and nothing else.

The workflow hands every hook a read-only plan, so a hook that wrote into its options would fail
the tiny train here (`test_a_hook_that_writes_its_options_fails_the_run` shows that it would).
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import json
import sys
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

import solutions
from solutions.cli import main
from solutions.common.solution import all_solutions, domain_modules, get_solution

DOMAINS = [m.split(".")[1] for m in domain_modules()]
DOMAIN_DIRS = [str(Path(sys.modules["solutions"].__file__).parent / d) for d in DOMAINS]


@contextlib.contextmanager
def reads_by_domain_modules(run_dir: Path):
    """Every file inside `run_dir` (or its .partial twin) opened for reading from a call that passes
    through a domain module: a file a step wrote read back by another step of the same run."""
    seen: list[tuple[str, str]] = []
    real_open = builtins.open

    def watching_open(file, mode="r", *args, **kwargs):
        name = str(file) if isinstance(file, (str, Path)) else ""
        if name and "r" in mode and "+" not in mode and name.startswith(str(run_dir)):
            frame = sys._getframe(1)
            while frame is not None:
                if any(frame.f_code.co_filename.startswith(d) for d in DOMAIN_DIRS):
                    seen.append((name, f"{frame.f_code.co_filename}:{frame.f_lineno}"))
                    break
                frame = frame.f_back
        return real_open(file, mode, *args, **kwargs)

    builtins.open, io.open = watching_open, watching_open
    try:
        yield seen
    finally:
        builtins.open, io.open = real_open, real_open


def fixtures(package: str):
    try:
        return importlib.import_module(f"tests.solutions.{package}.contract")
    except ModuleNotFoundError:
        pytest.fail(f"domain package solutions.{package} has no contract fixtures: add "
                    f"tests/solutions/{package}/contract.py with case(tmp_path) -> dict")


@pytest.mark.parametrize("package", DOMAINS)
def test_the_life_of_a_run(package, tmp_path, capsys):
    case = fixtures(package).case(tmp_path)
    name = next(s.name for s in all_solutions() if type(s).__module__.split(".")[1] == package)
    with reads_by_domain_modules(tmp_path / "run") as reads:
        run = solutions.train(name, output=str(tmp_path / "run"), **case["options"])
    assert not reads, f"domain modules read files of the run they are training: {reads}"
    assert run.path.is_dir() and run.report_path.is_file()
    config = json.loads((run.path / "config.json").read_text())
    assert set(config["options"]) <= set(solutions.options(name)) and config["plan"]["seed"] == case["options"]["seed"]

    again = solutions.load(run.path)
    metrics = again.metrics
    assert metrics["domain"] == name and metrics["test"]
    variants = [v for v, e in metrics["export"].items() if v not in ("saved_model", "serving") and "skipped" not in e]
    assert "float32" in variants
    check_metadata(run.path)
    check_serving(again)
    keras_answers = again.predict(case["inputs"], **case["predict"])
    assert keras_answers and all(isinstance(a, dict) for a in keras_answers)
    assert again.solution.describe(keras_answers, case["predict"])
    for variant in variants:
        answers = again.predict(case["inputs"], variant=variant, **case["predict"])
        assert len(answers) == len(keras_answers), variant
    with pytest.raises(solutions.UserError, match="variant"):
        again.predict(case["inputs"], variant="int4", **case["predict"])
    if not again.solution.edge_variants:
        with pytest.raises(solutions.UserError, match=f"{name} runs have no edge model .*ships no edge variant"):
            again.predict(case["inputs"], variant="edge", **case["predict"])
    (run.path / "model_int8.tflite").unlink(missing_ok=True)  # a run that does not ship int8
    with pytest.raises(solutions.UserError, match=r"has no int8 TFLite model .* it has keras, float32"):
        again.predict(case["inputs"], variant="int8", **case["predict"])

    evaluated = again.evaluate()
    head = get_solution(name).headline(config["plan"])
    assert evaluated["test"][head] == pytest.approx(metrics["test"][head], abs=1e-6)
    exported = again.export(format="tflite", quantize="none")
    assert exported["float32"]["max_abs_diff"] < 1e-3
    if "edge" in exported:  # the same edge model again (sentiment's own model is reused, not retrained)
        assert exported["edge"]["test"] == metrics["export"]["edge"]["test"]
    assert "What each .tflite carries" in run.report_path.read_text()  # the report is rewritten
    check_metadata(run.path)

    # the same run from its config.json, export off from the command line: the same test figures
    replay = tmp_path / "replay"
    assert main(["train", name, "--config", str(run.path / "config.json"), "--no-export", "--output", str(replay)]) == 0
    replayed = json.loads((replay / "metrics.json").read_text())
    assert replayed["test"] == metrics["test"]
    first, second = again.solution.load_model(run.path), again.solution.load_model(replay)
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights(), strict=True))
    assert json.loads((replay / "config.json").read_text())["options"]["no_export"] is True
    capsys.readouterr()


def check_serving(run: solutions.Run) -> None:
    """A client that knows only TF Serving's REST API (tests/serving_clients.py: HTTP and JSON)
    gets from `solutions serve` what the Keras model answers, to 1e-5, in the row and the columnar
    format; `tf.saved_model.load` of the serving directory takes the same JSON-decoded inputs;
    the post-processing signature agrees with the run's decision."""
    import tensorflow as tf

    from solutions.common.prediction import predict_keras
    from solutions.common.rundir import open_finished
    from solutions.common.workflow import run_data
    from tests.serving_clients import columnar, decoded_columns, predict, request

    entry = run.metrics["export"]["serving"]
    assert entry["max_abs_diff"] <= 1e-5 and entry["agreement"] == 1.0, entry
    finished = open_finished(str(run.path))
    solution, plan, splits = run_data(finished)
    model, fitted = solution.load_model(finished), solution.load_fitted(finished)
    instances = solution.serving_model(model, splits, fitted, plan).instances[:40]
    reference = predict_keras(model, solution.model_inputs(splits.test))[:40]
    with run.serve(port=0, background=True) as server:
        status, answer = request(server.url)
        assert status == 200 and answer["model_version_status"][0]["state"] == "AVAILABLE"
        status, answer = request(server.url + "/metadata")
        signatures = answer["metadata"]["signature_def"]["signature_def"]
        assert status == 200 and "serving_default" in signatures
        rows = np.asarray(predict(server.url, {"instances": instances})["predictions"], np.float32)
        np.testing.assert_allclose(rows.reshape(reference.shape), reference, atol=1e-5)
        columns = np.asarray(predict(server.url + "/versions/1", {"inputs": columnar(instances)})["outputs"])
        np.testing.assert_allclose(columns.reshape(reference.shape), reference, atol=1e-5)
        check_post_processing(server.url, signatures, solution, splits, fitted, instances, reference)

    loaded = tf.saved_model.load(str(run.path / entry["path"]))
    function = loaded.signatures["serving_default"]
    specs = function.structured_input_signature[1]
    decoded = decoded_columns(instances)
    decoded = decoded if isinstance(decoded, dict) else {next(iter(specs)): decoded}
    out = function(**{k: tf.constant(v, dtype=specs[k].dtype) for k, v in decoded.items()})
    np.testing.assert_allclose(next(iter(out.values())).numpy().reshape(reference.shape), reference, atol=1e-5)


def check_post_processing(url: str, signatures: dict, solution, splits, fitted, instances, reference) -> None:
    """The extra signature each domain serves: class labels, the top K items, the forecast."""
    from tests.serving_clients import predict

    if "labels" in signatures:
        answer = predict(url, {"signature_name": "labels", "instances": instances})["predictions"]
        chosen = solution.predicted_classes(reference, fitted)
        assert [a["label"] for a in answer] == [splits.class_names[c] for c in chosen]
        np.testing.assert_allclose([a["probability"] for a in answer], reference[np.arange(len(chosen)), chosen],
                                   atol=1e-5)
    if "top_k" in signatures:
        user = instances[0]["user_id"] if isinstance(instances[0], dict) else instances[0]
        known, unknown = predict(url, {"signature_name": "top_k", "instances": [user, "no such user"]})["predictions"]
        assert known["known_user"] and not unknown["known_user"] and len(known["item_ids"]) == len(unknown["item_ids"])
        assert all(isinstance(t, str) for t in known["titles"]) and unknown["scores"] == [0.0] * len(unknown["scores"])
        status, answer = request_error(url, {"instances": [dict(instances[0], user_id="no such user")]
                                             if isinstance(instances[0], dict) else ["no such user"]})
        assert status == 400 and "no such user" in answer["error"], answer
    if "forecast" in signatures:
        answer = predict(url, {"signature_name": "forecast", "instances": instances})["predictions"]
        point = [a["variance"] if "variance" in a else a["log_return"] for a in answer]
        column = 1 if reference.shape[1] == 3 else 0
        np.testing.assert_allclose(point, reference[:, column], atol=1e-5)
        assert all(a["low"] <= a["high"] for a in answer)


def request_error(url: str, body) -> tuple[int, dict]:
    from tests.serving_clients import request

    return request(url + ":predict", body)


def check_metadata(run_dir: Path) -> None:
    """Every .tflite carries metadata that MediaPipe's schema parser reads back: one entry per
    input and output tensor, and a classifier's labels as labels.txt has them."""
    from solutions.common.export import TFLiteRunner
    from solutions.common.tflite_metadata import read_metadata
    from tests.mediapipe_clients import metadata

    files = sorted(run_dir.glob("*.tflite"))
    assert files
    for path in files:
        parsed = metadata(path)
        assert parsed is not None, f"{path.name} has no metadata"
        assert parsed.name and parsed.version and parsed.author.startswith(b"keras-solutions-kit"), path.name
        graph = parsed.subgraphMetadata[0]
        interpreter = TFLiteRunner(path).interpreter
        assert len(graph.inputTensorMetadata) == len(interpreter.get_input_details()), path.name
        assert len(graph.outputTensorMetadata) == len(interpreter.get_output_details()), path.name
        assert all(t.name and t.description for t in graph.inputTensorMetadata + graph.outputTensorMetadata)
        packed = read_metadata(path.read_bytes())["files"]
        if (run_dir / "labels.txt").exists():
            assert packed["labels.txt"] == (run_dir / "labels.txt").read_bytes(), path.name
            assert graph.outputTensorMetadata[0].associatedFiles[0].name == b"labels.txt"


def test_a_hook_that_writes_its_options_fails_the_run(tmp_path, monkeypatch):
    solution = get_solution("image-classification")
    seen = []

    def writing_load_splits(options):
        seen.append(type(options))
        options["image_size"] = 8  # what a hook must never do
    monkeypatch.setattr(solution, "load_splits", writing_load_splits)
    with pytest.raises(TypeError, match="does not support item assignment"):
        solutions.train("image-classification", epochs=1, output=str(tmp_path / "run"))
    assert seen == [MappingProxyType]


def test_options_are_checked_like_flags():
    with pytest.raises(solutions.UserError, match=r"argument --epochs: 'ten' is not a whole number"):
        solutions.train("image-classification", epochs="ten")
    with pytest.raises(solutions.UserError, match="unrecognized arguments: --epoch"):
        solutions.train("image-classification", epoch=3)
    with pytest.raises(solutions.UserError, match="--no-export: give True or False"):
        solutions.train("image-classification", no_export="yes")
    with pytest.raises(solutions.UserError, match="unknown domain 'weather'"):
        solutions.options("weather")
    table = solutions.options("sentiment")
    assert table["epochs"]["default"] == 15 and table["model"]["choices"] == ["bow", "cnn", "bilstm", "transformer"]
    assert "the search directory" in solutions.options("sentiment", verb="tune")["output"]["help"]
    assert "max_trials" in solutions.options("sentiment", verb="tune") and "max_trials" not in table
    with pytest.raises(solutions.UserError, match="verb 'evaluate': expected one of train, tune"):
        solutions.options("sentiment", verb="evaluate")


def test_config_files_yaml_and_overrides(tmp_path):
    from solutions.api import train_options

    (tmp_path / "run.yaml").write_text("dataset: digits\nepochs: 3\nwidth: 16\nflip: false\n")
    chosen = train_options("image-classification", config=tmp_path / "run.yaml", argv=["--epochs", "5"])
    assert (chosen["epochs"], chosen["width"], chosen["flip"]) == (5, 16, False)
    (tmp_path / "bad.yaml").write_text("epochs: [1, 2\n")
    with pytest.raises(solutions.UserError, match="not valid YAML"):
        train_options("image-classification", config=tmp_path / "bad.yaml")
    (tmp_path / "typo.yaml").write_text("epoch: 3\n")
    with pytest.raises(solutions.UserError, match="unrecognized arguments: --epoch"):
        train_options("image-classification", config=tmp_path / "typo.yaml")
    (tmp_path / "other.json").write_text(json.dumps({"domain": "sentiment", "options": {"epochs": 2}}))
    with pytest.raises(solutions.UserError, match="is a sentiment run, not image-classification"):
        train_options("image-classification", config=tmp_path / "other.json")
    assert np.isclose(train_options("image-classification", learning_rate=1e-3)["learning_rate"], 1e-3)
    # keyword options override the file's, False and None included; dashed keys; values that start with "-"
    (tmp_path / "rec.json").write_text(json.dumps({"domain": "recommendation", "plan": {}, "options": {
        "no_export": True, "side_features": True, "top_k": 5, "data": "/tmp/r.csv", "dataset": None}}))
    chosen = train_options("recommendation", config=tmp_path / "rec.json", no_export=False, top_k=None,
                           rating_scale="-1,1")
    assert (chosen["no_export"], chosen["side_features"], chosen["top_k"], chosen["rating_scale"]) == (False, True, 10, "-1,1")
    assert train_options("recommendation", config=tmp_path / "rec.json", argv=["--dataset", "movielens-1m"])["data"] is None
    (tmp_path / "dashed.yaml").write_text("batch-size: 32\n")
    assert train_options("image-classification", config=tmp_path / "dashed.yaml")["batch_size"] == 32


def test_command_line_config_flags_are_spelled_out(tmp_path, capsys):
    (tmp_path / "run.yaml").write_text("epochs: 0\n")
    assert main(["train", "image-classification", "--conf", str(tmp_path / "run.yaml")]) == 2
    assert "unrecognized arguments: --conf" in capsys.readouterr().err
    assert main(["train", "image-classification", "--config", str(tmp_path / "run.yaml")]) == 2
    assert "argument --epochs: 0 is out of range" in capsys.readouterr().err


def test_the_read_detector_sees_a_domain_module_reading_a_run_file(tmp_path):
    """The check above can fail: a domain module reading a file of the watched directory is seen."""
    from solutions.sentiment.tokenizer import Tokenizer, TokenizerConfig

    Tokenizer(["", "[UNK]", "good"], TokenizerConfig(sequence_length=4)).save(tmp_path)
    with reads_by_domain_modules(tmp_path) as reads:
        Tokenizer.load(tmp_path)
    assert reads and all("sentiment/tokenizer.py" in where for _, where in reads)


def test_a_search_through_the_api(tmp_path, capsys):
    search = solutions.tune("image-classification", max_trials=1, max_epochs=1, width=8, image_size=16,
                            quantize="none", no_retrain=True, tuner="random", output=str(tmp_path / "search"))
    assert search.path == tmp_path / "search" and search.summary["completed"] == 1
    with pytest.raises(solutions.UserError, match="does not exist|not finished|unfinished"):
        search.best  # not retrained: no finished run at best/
    capsys.readouterr()
